//! TLS for real: a throwaway certificate authority made here with openssl, Dovecot with
//! STARTTLS and TLS from the first byte, and an aiosmtpd SMTP server with both
//! (`tests/servers/smtp-tls.py`; Postfix's smtp-sink has no TLS). The server certificate is
//! for `localhost` only, so connecting to `127.0.0.1` is a wrong host name; a second CA that
//! signed nothing here stands for an untrusted certificate.

use crate::harness::{free_port, simple_message, Dovecot, SmtpSink};
use concierge::config::{ImapSettings, OutgoingSettings, Settings, TlsMode};
use concierge::replies::smtp::{SmtpClient, SmtpError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, a server certificate it signed for `localhost`, and an unrelated second CA.
struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("concierge-ca")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl is not installed: run scripts/test");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        for name in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=concierge test {name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\n\
             keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        // Dovecot's config process reads these as root; smtp-tls.py runs as this user.
        TestCa { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn imap_settings(
    dovecot: &Dovecot,
    port: u16,
    host: &str,
    tls: TlsMode,
    ca_file: PathBuf,
) -> ImapSettings {
    ImapSettings {
        host: host.into(),
        port,
        tls,
        ca_file,
        ..dovecot.settings()
    }
}

/// The full error chain of a failed connection, in one line.
async fn imap_error(settings: &ImapSettings) -> String {
    match concierge::source::imap::connect(settings).await {
        Ok(_) => panic!("the connection was accepted"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_over_tls_verifies_the_certificate_against_the_configured_ca() {
    let ca = TestCa::new();
    let dovecot = Dovecot::start_tls(&ca.path("server.pem"), &ca.path("server.key"));
    let imaps = dovecot.imaps_port.expect("imaps port");
    let both = [
        (imaps, TlsMode::Implicit),
        (dovecot.port, TlsMode::Starttls),
    ];
    dovecot.deliver_files(&[simple_message(
        "<tls-1@example.org>",
        "someone@example.org",
        "Over TLS",
        "A message read over an encrypted connection.",
    )]);

    for (port, tls) in both {
        let settings = imap_settings(&dovecot, port, "localhost", tls, ca.path("ca.pem"));
        let mut session = concierge::source::imap::connect(&settings)
            .await
            .unwrap_or_else(|error| panic!("{tls:?} with the right CA: {error:#}"));
        let mailbox = session.select("INBOX").await.expect("select over TLS");
        assert_eq!(mailbox.exists, 1, "{tls:?}: the message is visible");
        session.logout().await.ok();
    }

    // A wrong host name: the certificate is for localhost, not 127.0.0.1.
    for (port, tls) in both {
        let error = imap_error(&imap_settings(
            &dovecot,
            port,
            "127.0.0.1",
            tls,
            ca.path("ca.pem"),
        ))
        .await;
        assert!(
            error.contains("TLS handshake with the IMAP server")
                && error.contains("not valid for name"),
            "{tls:?}, wrong host name: {error}"
        );
    }
    // Untrusted: signed by a CA that is not configured, or with only the WebPKI roots.
    for ca_file in [ca.path("other-ca.pem"), PathBuf::new()] {
        for (port, tls) in both {
            let error = imap_error(&imap_settings(
                &dovecot,
                port,
                "localhost",
                tls,
                ca_file.clone(),
            ))
            .await;
            assert!(
                error.contains("TLS handshake with the IMAP server")
                    && error.contains("UnknownIssuer"),
                "{tls:?}, untrusted with {ca_file:?}: {error}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_starttls_is_never_downgraded_to_plain_text() {
    // A server without TLS: STARTTLS is refused, and the client does not go on in plain text.
    let ca = TestCa::new();
    let dovecot = Dovecot::start();
    let error = imap_error(&imap_settings(
        &dovecot,
        dovecot.port,
        "localhost",
        TlsMode::Starttls,
        ca.path("ca.pem"),
    ))
    .await;
    assert!(error.contains("STARTTLS"), "{error}");
}

/// The aiosmtpd server of `tests/servers/smtp-tls.py`, stopped when dropped.
struct SmtpTls {
    starttls_port: u16,
    implicit_port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpTls {
    fn start(ca: &TestCa) -> SmtpTls {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/smtp-tls.py");
        let dir = tempfile::Builder::new()
            .prefix("concierge-smtp-tls")
            .tempdir()
            .expect("temp dir");
        let (starttls_port, implicit_port) = (free_port(), free_port());
        let child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg("--cert")
            .arg(ca.path("server.pem"))
            .arg("--key")
            .arg(ca.path("server.key"))
            .args(["--starttls-port", &starttls_port.to_string()])
            .args(["--implicit-port", &implicit_port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/servers/smtp-tls.py (python3-aiosmtpd: run scripts/test)");
        let mut server = SmtpTls {
            starttls_port,
            implicit_port,
            dir,
            child,
        };
        let start = Instant::now();
        for port in [starttls_port, implicit_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    server.child.try_wait().expect("status").is_none(),
                    "smtp-tls.py exited at start (is python3-aiosmtpd installed?)"
                );
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "smtp-tls.py did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        server
    }

    fn delivered(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|e| e == "eml"))
            .count()
    }
}

impl Drop for SmtpTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn outgoing(port: u16, host: &str, tls: TlsMode, ca_file: PathBuf) -> OutgoingSettings {
    let mut settings = Settings::load(None).expect("default settings").outgoing;
    settings.transport = concierge::config::TransportKind::Smtp;
    settings.host = host.into();
    settings.port = port;
    settings.tls = tls;
    settings.ca_file = ca_file;
    settings
}

async fn send(settings: &OutgoingSettings, n: usize) -> Result<(), SmtpError> {
    let envelope = lettre::address::Envelope::new(
        Some("help@concierge.example.org".parse().unwrap()),
        vec!["someone@example.org".parse().unwrap()],
    )
    .unwrap();
    let message = format!(
        "From: help@concierge.example.org\r\nTo: someone@example.org\r\nSubject: TLS {n}\r\n\
         Message-ID: <tls-{n}@concierge.example.org>\r\n\r\nSent over TLS.\r\n"
    );
    SmtpClient::new(settings)
        .send(&envelope, message.as_bytes())
        .await
}

fn transient(result: Result<(), SmtpError>) -> String {
    match result {
        Err(SmtpError::Transient(message)) => message,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_over_tls_verifies_the_certificate_against_the_configured_ca() {
    let ca = TestCa::new();
    let server = SmtpTls::start(&ca);
    let both = [
        (server.implicit_port, TlsMode::Implicit),
        (server.starttls_port, TlsMode::Starttls),
    ];
    let mut sent = 0;
    for (port, tls) in both {
        sent += 1;
        send(&outgoing(port, "localhost", tls, ca.path("ca.pem")), sent)
            .await
            .unwrap_or_else(|error| panic!("{tls:?} with the right CA: {error:?}"));
    }
    assert_eq!(server.delivered(), 2, "both mails arrived");

    for (port, tls) in both {
        let error = transient(send(&outgoing(port, "127.0.0.1", tls, ca.path("ca.pem")), 9).await);
        assert!(
            error.contains("not valid for name"),
            "{tls:?}, wrong host name: {error}"
        );
        for ca_file in [ca.path("other-ca.pem"), PathBuf::new()] {
            let error =
                transient(send(&outgoing(port, "localhost", tls, ca_file.clone()), 9).await);
            assert!(
                error.contains("UnknownIssuer"),
                "{tls:?}, untrusted with {ca_file:?}: {error}"
            );
        }
    }
    assert_eq!(
        server.delivered(),
        2,
        "nothing was sent over a refused connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_is_never_downgraded_to_plain_text() {
    // smtp-sink offers no STARTTLS: the mail is not sent in plain text.
    let ca = TestCa::new();
    let sink = SmtpSink::start(&[]);
    let error = transient(
        send(
            &outgoing(sink.port, "localhost", TlsMode::Starttls, ca.path("ca.pem")),
            1,
        )
        .await,
    );
    assert!(error.contains("STARTTLS"), "{error}");
    assert!(sink.messages().is_empty(), "nothing reached the server");
}

#[test]
fn a_ca_file_that_is_not_pem_certificates_is_a_config_error_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad_ca = dir.path().join("ca.pem");
    std::fs::write(&bad_ca, "not a certificate\n").unwrap();
    let config = dir.path().join("concierge.toml");
    std::fs::write(
        &config,
        format!(
            "[outgoing]\ntransport = \"smtp\"\nhost = \"mail.example.org\"\nca_file = \"{}\"\n",
            bad_ca.display()
        ),
    )
    .unwrap();
    let error = Settings::load(Some(&config)).expect_err("a bad CA file is refused");
    let text = error.to_string();
    assert_eq!(error.key, "outgoing.ca_file", "{text}");
    assert!(text.contains("concierge.toml"), "{text}");
    assert!(text.contains("no PEM certificate"), "{text}");

    std::fs::write(
        &config,
        "[outgoing]\ntransport = \"smtp\"\nhost = \"mail.example.org\"\ntls = \"none\"\nca_file = \"/etc/hostname\"\n",
    )
    .unwrap();
    let error = Settings::load(Some(&config)).expect_err("a CA file without TLS is refused");
    assert_eq!(error.key, "outgoing.ca_file");
    assert!(error.to_string().contains("tls = \"none\""), "{error}");
}
