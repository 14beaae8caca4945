//! The navigators' web app in a real headless Chromium (tests/e2e/navigator.mjs, Playwright),
//! against `concierge serve` with a real SMTP server. Screenshots go to tests/artifacts/.

use crate::harness::{free_port, simple_message, SmtpSink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "a long enough password";

#[test]
fn a_navigator_works_a_crisis_thread_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: run scripts/test (it installs Debian's chromium)"
    );
    assert!(
        root.join("tests/e2e/node_modules/playwright-core").exists(),
        "run scripts/test (it runs npm ci in tests/e2e)"
    );
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("var/inbox");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(inbox.join(sub)).unwrap();
    }
    std::fs::write(
        inbox.join("new/1.crisis"),
        simple_message(
            "crisis@example-band.de",
            "Jonas Weber <jonas@example-band.de>",
            "Ich kann nicht mehr",
            "Hallo, ich wohne in Hamburg und ich will nicht mehr leben.",
        ),
    )
    .unwrap();
    std::fs::write(
        inbox.join("new/2.calm"),
        simple_message(
            "calm@example.org",
            "Kim <kim@example.org>",
            "A question about therapy grants",
            "Hi, are there grants for therapy for touring crew?",
        ),
    )
    .unwrap();
    std::fs::write(
        inbox.join("new/3.hostile"),
        "From: Someone <someone@example.org>\r\nTo: help@concierge.example.org\r\nSubject: Newsletter-looking help request\r\n\
Message-ID: <hostile@example.org>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p>I need help finding a therapist.</p><script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">\
<img src=\"http://tracker.example/p.gif\"><a href=\"javascript:window.pwned=3\">click</a>\r\n",
    )
    .unwrap();

    let sink = SmtpSink::start(&[]);
    let binary = env!("CARGO_BIN_EXE_concierge");
    let configure = |command: &mut Command| {
        command
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .env("CONCIERGE__OUTGOING__TRANSPORT", "smtp")
            .env("CONCIERGE__OUTGOING__HOST", "127.0.0.1")
            .env("CONCIERGE__OUTGOING__PORT", sink.port.to_string())
            .env("CONCIERGE__OUTGOING__TLS", "none")
            .env("CONCIERGE__MAIL__ADDRESS", "help@concierge.example.org")
            .env(
                "CONCIERGE__MAIL__MESSAGE_ID_DOMAIN",
                "concierge.example.org",
            )
            .env(
                "CONCIERGE__RESOURCES__SEED_DIR",
                root.join("config/resources"),
            )
            .env("CONCIERGE__MAILDIR__POLL_INTERVAL_MS", "100")
            .env("TEST_PASSWORD", PASSWORD);
    };
    for email in ["nav1@example.org", "nav2@example.org"] {
        let mut command = Command::new(binary);
        configure(&mut command);
        let output = command
            .args(["user", "add", email, "--password-env", "TEST_PASSWORD"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let port = free_port();
    let mut command = Command::new(binary);
    configure(&mut command);
    let mut server = command
        .arg("serve")
        .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the three messages are acknowledged: ingest and the outbox both ran.
    let start = Instant::now();
    while sink.messages().len() < 3 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sink.messages().len() >= 3, "the acknowledgements went out");

    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = Command::new("node")
        .arg(root.join("tests/e2e/navigator.mjs"))
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("NAV1_EMAIL", "nav1@example.org")
        .env("NAV2_EMAIL", "nav2@example.org")
        .env("PASSWORD", PASSWORD)
        .env("ARTIFACTS", &artifacts)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();

    // The reply reached the SMTP server, threaded onto the person's message.
    let start = Instant::now();
    let mut reply = None;
    while reply.is_none() && start.elapsed() < Duration::from_secs(20) {
        reply = sink.messages().into_iter().find(|mail| {
            crate::harness::header_of(mail, "Auto-Submitted").is_none()
                && mail.contains("crisis@example-band.de")
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill().ok();
    server.wait().ok();
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    let reply = reply.expect("the navigator's reply reached the SMTP server");
    assert_eq!(
        crate::harness::header_of(&reply, "In-Reply-To").as_deref(),
        Some("<crisis@example-band.de>")
    );
    assert!(crate::harness::header_of(&reply, "References")
        .unwrap()
        .contains("<crisis@example-band.de>"));
    for screenshot in ["queue.png", "thread.png", "compose.png", "hostile-html.png"] {
        assert!(
            artifacts.join(screenshot).exists(),
            "{screenshot} was saved"
        );
    }
}

#[test]
fn a_coordinator_reads_the_reports_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/e2e/node_modules/playwright-core").exists(),
        "run scripts/test (it runs npm ci in tests/e2e)"
    );
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_concierge");
    let configure = |command: &mut Command| {
        command
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .env(
                "CONCIERGE__RESOURCES__SEED_DIR",
                root.join("config/resources"),
            )
            .env("TEST_PASSWORD", PASSWORD);
    };
    // One of the demo navigators exists before the demo history is written, with a hostile
    // name: the history's replies are then reported under that name.
    for (email, role, name) in [
        ("coord@example.org", "coordinator", "Coordinator"),
        (
            "emi.navigator@demo.invalid",
            "navigator",
            "<img src=x onerror=window.pwned=1>",
        ),
    ] {
        let mut command = Command::new(binary);
        configure(&mut command);
        let output = command
            .args(["user", "add", email, "--role", role, "--name", name])
            .args(["--password-env", "TEST_PASSWORD"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let port = free_port();
    let mut command = Command::new(binary);
    configure(&mut command);
    let mut server = command
        .args(["serve", "--demo"])
        .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = Command::new("node")
        .arg(root.join("tests/e2e/reports.mjs"))
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("COORDINATOR_EMAIL", "coord@example.org")
        .env("PASSWORD", PASSWORD)
        .env("ARTIFACTS", &artifacts)
        .output()
        .expect("run node");
    server.kill().ok();
    server.wait().ok();
    assert!(
        output.status.success(),
        "report browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for screenshot in ["reports.png", "reports-navigator.png"] {
        assert!(
            artifacts.join(screenshot).exists(),
            "{screenshot} was saved"
        );
    }
}
