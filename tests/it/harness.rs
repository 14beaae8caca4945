//! Test harness: databases on both backends, throwaway Dovecot servers, fixtures.

#![allow(dead_code)]

use concierge::config::{ImapSettings, TlsMode};
use concierge::domain::LanguageCode;
use concierge::ingest::Ingester;
use concierge::store::{self, Store};
use concierge::triage::TriageConfig;
use secrecy::SecretString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The two storage backends every storage test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty, migrated database, removed (SQLite) or abandoned (PostgreSQL) afterwards.
pub struct TestDb {
    pub url: String,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        log_to_file();
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (
                    format!("sqlite://{}", dir.path().join("test.db").display()),
                    Some(dir),
                )
            }
            Backend::Postgres => (fresh_postgres_database().await, None),
        };
        let store = store::connect(&url, 5)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        TestDb {
            url,
            store,
            _dir: dir,
        }
    }

    pub fn ingester(&self) -> Ingester {
        Ingester::new(self.store.clone(), triage_config())
    }
}

pub fn triage_config() -> TriageConfig {
    let settings = concierge::config::Settings::load(None).expect("default settings");
    let mut config = TriageConfig::from_settings(&settings);
    config.languages.sort();
    assert!(config
        .languages
        .contains(&LanguageCode::parse("en").unwrap()));
    config
}

/// Creates a database with a random name on the server of `TEST_DATABASE_URL`.
async fn fresh_postgres_database() -> String {
    let admin_url = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL",
    );
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let name = format!("concierge_test_{}", random_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database name");
    format!("{base}/{name}")
}

pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| (b'a' + rng.gen_range(0..26)) as char)
        .collect()
}

/// Declares one async test per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident : TestDb) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($db: $crate::harness::TestDb) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::harness::TestDb::new($crate::harness::Backend::Sqlite).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::harness::TestDb::new($crate::harness::Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// A loopback port no other test of this run is given, below Linux's ephemeral range
/// (32768 and up), so that neither an outgoing connection nor another test's server takes
/// it while a test restarts its server on it (a restarted smtp-sink must find its port free).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Ports 20000-32499, from a start that differs between processes.
    let start = (std::process::id() % 64) * 150;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(offset < 12_500, "no free loopback port left");
        let port = 20_000 + (start + offset) % 12_500;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Waits until `check` is true, or panics after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// A throwaway Dovecot IMAP server in a temporary folder, on a free loopback port.
/// One user, `test` / `secret`, with a Maildir. Stopped when dropped.
pub struct Dovecot {
    pub port: u16,
    /// The port with TLS from the first byte, for a server started with [`Dovecot::start_tls`].
    pub imaps_port: Option<u16>,
    dir: tempfile::TempDir,
    config: PathBuf,
}

pub const IMAP_USER: &str = "test";
pub const IMAP_PASSWORD: &str = "secret";

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with(None)
    }

    /// A server with a certificate: STARTTLS on `port`, TLS from the first byte on
    /// `imaps_port`.
    pub fn start_tls(cert: &Path, key: &Path) -> Dovecot {
        Dovecot::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Dovecot {
        let binary = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("dovecot is not installed: run scripts/test (it installs dovecot-imapd)");
        let dir = tempfile::Builder::new()
            .prefix("concierge-dovecot")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        let port = free_port();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(
            root.join("passwd"),
            format!("{IMAP_USER}:{IMAP_PASSWORD}\n"),
        )
        .unwrap();
        let config = root.join("dovecot.conf");
        let d = root.display();
        let imaps_port = tls.map(|_| free_port());
        let ssl = match tls {
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            ),
            None => "ssl = no\n".to_string(),
        };
        let imaps = match imaps_port {
            Some(port) => format!("address = 127.0.0.1\n    port = {port}"),
            None => "port = 0".to_string(),
        };
        std::fs::write(
            &config,
            format!(
                "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 instance_name = concierge-test-{port}\nlog_path = {d}/dovecot.log\n{ssl}\
                 disable_plaintext_auth = no\nauth_mechanisms = plain login\nmail_location = maildir:~/Maildir\n\
                 default_login_user = nobody\ndefault_internal_user = nobody\ndefault_internal_group = nogroup\n\
                 first_valid_uid = 65534\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%n {d}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/mail/%n\n}}\n\
                 service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
                   inet_listener imaps {{\n    {imaps}\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\n"
            ),
        )
        .unwrap();
        let maildir = root.join("mail").join(IMAP_USER).join("Maildir");
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        chown_nobody(root);
        let status = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .status()
            .expect("run dovecot");
        assert!(
            status.success(),
            "dovecot failed to start; see {}",
            root.join("dovecot.log").display()
        );
        let dovecot = Dovecot {
            port,
            imaps_port,
            dir,
            config,
        };
        dovecot.wait_ready();
        dovecot
    }

    fn wait_ready(&self) {
        use std::io::Read;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut greeting = [0u8; 64];
                if matches!(stream.read(&mut greeting), Ok(n) if n > 4 && greeting.starts_with(b"* OK"))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dovecot did not answer on port {}", self.port);
    }

    pub fn settings(&self) -> ImapSettings {
        self.settings_for("INBOX")
    }

    pub fn settings_for(&self, mailbox: &str) -> ImapSettings {
        ImapSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: TlsMode::None,
            ca_file: PathBuf::new(),
            username: IMAP_USER.into(),
            password: SecretString::from(IMAP_PASSWORD.to_string()),
            mailbox: mailbox.into(),
            processed_folder: String::new(),
            batch_size: 20,
            idle: true,
            poll_interval_secs: 600,
            max_backoff_secs: 2,
        }
    }

    /// Stops and starts the server on the same port, dropping every connection.
    pub fn restart(&self) {
        let binary = if Path::new("/usr/sbin/dovecot").exists() {
            "/usr/sbin/dovecot"
        } else {
            "dovecot"
        };
        Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .status()
            .expect("stop dovecot");
        let start = Instant::now();
        loop {
            let status = Command::new(binary)
                .arg("-c")
                .arg(&self.config)
                .status()
                .expect("start dovecot");
            if status.success() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot did not start again"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.wait_ready();
    }

    /// The user's Maildir on disk.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join(IMAP_USER).join("Maildir")
    }

    /// Delivers messages straight into the Maildir, as an MDA would (fast, for big backlogs).
    pub fn deliver_files(&self, messages: &[Vec<u8>]) {
        let maildir = self.maildir();
        for (index, raw) in messages.iter().enumerate() {
            let unique = format!("{}.M{index}P1.concierge-test", 1_700_000_000 + index);
            let tmp = maildir.join("tmp").join(&unique);
            std::fs::write(&tmp, raw).unwrap();
            std::fs::rename(&tmp, maildir.join("new").join(&unique)).unwrap();
        }
        chown_nobody(&maildir);
    }

    /// Opens a second client session, as another mail client would.
    pub async fn client(&self) -> concierge::source::imap::ImapSession {
        concierge::source::imap::connect(&self.settings())
            .await
            .expect("IMAP login")
    }

    /// Appends messages over IMAP to a mailbox.
    pub async fn append(&self, mailbox: &str, messages: &[Vec<u8>]) {
        let mut session = self.client().await;
        for raw in messages {
            session
                .append(mailbox, None, None, raw)
                .await
                .expect("APPEND");
        }
        session.logout().await.ok();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let binary = if Path::new("/usr/sbin/dovecot").exists() {
            "/usr/sbin/dovecot"
        } else {
            "dovecot"
        };
        Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .status()
            .ok();
    }
}

fn chown_nobody(path: &Path) {
    // Dovecot's mail processes run as nobody; as root we hand the folder over to it.
    Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(path)
        .status()
        .ok();
}

/// A small, valid message with a unique Message-ID.
pub fn simple_message(message_id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@concierge.example.org\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The 50-message inbox fixture: (file bytes, manifest entry).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct InboxEntry {
    pub file: String,
    pub thread: String,
    pub language: String,
    pub charset: String,
    pub message_id: String,
    pub in_reply_to: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct InboxManifest {
    pub n_threads: usize,
    pub message: Vec<InboxEntry>,
}

pub fn inbox_fixture() -> (InboxManifest, Vec<Vec<u8>>) {
    let dir = fixtures().join("inbox");
    let manifest: InboxManifest =
        toml::from_str(&std::fs::read_to_string(dir.join("manifest.toml")).unwrap())
            .expect("manifest.toml");
    let messages = manifest
        .message
        .iter()
        .map(|entry| std::fs::read(dir.join(&entry.file)).unwrap())
        .collect();
    (manifest, messages)
}

/// Postfix's `smtp-sink` on a free loopback port, writing each accepted mail to a file.
/// `extra` injects failures: `["-r", "RCPT"]` (4xx), `["-f", "DATA"]` (5xx). Stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    pub fn start(extra: &[&str]) -> SmtpSink {
        Self::start_on(free_port(), extra)
    }

    pub fn start_on(port: u16, extra: &[&str]) -> SmtpSink {
        let binary = "/usr/sbin/smtp-sink";
        assert!(
            Path::new(binary).exists(),
            "smtp-sink is not installed: run scripts/test (it installs postfix)"
        );
        let dir = tempfile::Builder::new()
            .prefix("concierge-smtp")
            .tempdir()
            .expect("temp dir");
        chown_nobody(dir.path());
        let mut child = Command::new(binary)
            .args(["-u", "nobody", "-d"])
            .arg(format!("{}/%M.", dir.path().display()))
            .args(extra)
            .arg(format!("127.0.0.1:{port}"))
            .arg("100")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start smtp-sink");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "smtp-sink did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            child.try_wait().expect("smtp-sink status").is_none(),
            "smtp-sink exited at start: another server holds port {port}"
        );
        SmtpSink { port, dir, child }
    }

    /// Every captured mail, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Settings for tests: the defaults, with outgoing mail to a local SMTP server.
pub fn settings_with_smtp(port: u16) -> concierge::config::Settings {
    let mut settings = concierge::config::Settings::load(None).expect("default settings");
    settings.outgoing.transport = concierge::config::TransportKind::Smtp;
    settings.outgoing.host = "127.0.0.1".into();
    settings.outgoing.port = port;
    settings.outgoing.tls = concierge::config::TlsMode::None;
    settings.mail.address = "help@concierge.example.org".into();
    settings.mail.message_id_domain = "concierge.example.org".into();
    settings.resources.seed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/resources");
    settings
}

/// Imports the seed resource directory into a test database.
pub async fn seed_resources(store: &Arc<dyn Store>) {
    let records = concierge::resources::files::read_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/resources"),
    )
    .expect("the seed directory is valid");
    store
        .upsert_resources(&records, concierge::clock::now_ms())
        .await
        .unwrap();
}

/// A header's value in a captured mail (unfolded), if present.
pub fn header_of(mail: &str, name: &str) -> Option<String> {
    let headers = mail
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let mut value: Option<String> = None;
    for line in headers.split('\n') {
        if let Some(current) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                current.push(' ');
                current.push_str(line.trim());
                continue;
            }
            return value;
        }
        if let Some((header, rest)) = line.split_once(':') {
            if header.eq_ignore_ascii_case(name) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

/// When `CONCIERGE_TEST_LOG` names a file, every log line of this test run, at debug level,
/// goes there, to be checked for addresses, names and message text (issue 10: `scripts/test`
/// checks it after the run). Installed once, by the first test that opens a database.
pub fn log_to_file() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let Some(path) = std::env::var_os("CONCIERGE_TEST_LOG") else {
            return;
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("the test log file opens");
        tracing_subscriber::fmt()
            .with_env_filter(concierge::telemetry::private_filter("debug"))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init()
            .ok();
    });
}
