//! The `concierge` binary: commands, output, and configuration errors.

use crate::harness::{fixtures, simple_message};
use std::process::Command;

fn concierge(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concierge"));
    command.current_dir(dir).env("RUST_LOG", "warn");
    command
}

#[test]
fn triage_prints_the_decision_as_json_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    std::fs::write(
        &file,
        simple_message(
            "t@x.de",
            "jonas@example.de",
            "Hilfe gesucht",
            "Hallo, ich bin Musiker und suche seit Monaten einen Therapieplatz in Hamburg.",
        ),
    )
    .unwrap();
    let output = concierge(dir.path())
        .arg("triage")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(json["language"]["value"], "de");
    assert!(json["language"]["evidence"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    for field in ["country", "risk", "auto_kind"] {
        assert!(json.get(field).is_some(), "field {field} is missing");
    }
    assert!(
        !dir.path().join("var").exists(),
        "triage must not create a database"
    );
}

#[test]
fn the_crisis_evaluation_and_the_corrections_export_run_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let sample = fixtures().join("crisis-sample");
    let run = |args: &[&str]| {
        let output = concierge(dir.path()).args(args).output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let sample = sample.to_str().unwrap();
    let (ok, table, stderr) = run(&["triage", "--eval-crisis", sample]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains("split dev: 5 messages from 2 files"),
        "{table}"
    );
    assert!(
        table.contains("--show-misses"),
        "no misses unless asked: {table}"
    );
    let (ok, table, stderr) = run(&[
        "triage",
        "--eval-crisis",
        sample,
        "--split",
        "test",
        "--show-misses",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains("split test: 3 messages") && table.contains("misses ("),
        "{table}"
    );
    let (ok, _, _) = run(&["triage", "--eval-crisis", sample, "--split", "train"]);
    assert!(!ok, "an unknown split is refused");
    let (ok, _, _) = run(&["triage", "--show-misses"]);
    assert!(!ok, "--show-misses belongs to --eval-crisis");

    let out = dir.path().join("corrections.jsonl");
    let (ok, _, stderr) = run(&[
        "triage",
        "--export-corrections",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("0 corrections written"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
}

#[test]
fn ingest_then_queue_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = fixtures().join("inbox");
    let maildir = dir.path().join("mail");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for name in ["001.eml", "002.eml", "003.eml"] {
        std::fs::copy(inbox.join(name), maildir.join("new").join(name)).unwrap();
    }
    let output = concierge(dir.path())
        .arg("ingest")
        .arg(&maildir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8(output.stdout).unwrap();
    assert!(summary.contains("new messages: 3"), "{summary}");
    assert!(dir.path().join("var/concierge.db").exists());
    // `ingest PATH` reads a Maildir without changing it.
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 3);

    let again = concierge(dir.path())
        .arg("ingest")
        .arg(&maildir)
        .output()
        .unwrap();
    assert!(String::from_utf8(again.stdout)
        .unwrap()
        .contains("already known: 3"));

    let single = concierge(dir.path())
        .arg("ingest")
        .arg(inbox.join("004.eml"))
        .output()
        .unwrap();
    assert!(String::from_utf8(single.stdout)
        .unwrap()
        .contains("new messages: 1"));

    let queue = concierge(dir.path()).arg("queue").output().unwrap();
    let queue = String::from_utf8(queue.stdout).unwrap();
    assert!(
        queue.contains("4 open threads") || queue.contains("3 open threads"),
        "{queue}"
    );
}

#[test]
fn an_mbox_file_is_ingested_message_by_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut mbox = Vec::new();
    for i in 0..3 {
        mbox.extend_from_slice(
            format!("From sender{i}@example.org Wed Nov 25 10:00:00 2026\n").as_bytes(),
        );
        mbox.extend_from_slice(&simple_message(
            &format!("mbox{i}@x"),
            &format!("sender{i}@example.org"),
            "Hello",
            "A question about therapy grants for musicians.",
        ));
        mbox.extend_from_slice(b"\n");
    }
    let path = dir.path().join("archive.mbox");
    std::fs::write(&path, mbox).unwrap();
    let output = concierge(dir.path())
        .arg("ingest")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("new messages: 3"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_configuration_mistake_names_the_key_and_the_file_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[imap]\nport = 99999\n").unwrap();
    let output = concierge(dir.path())
        .args(["--config", "bad.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("imap.port") && stderr.contains("bad.toml"),
        "{stderr}"
    );
    assert!(!dir.path().join("var").exists(), "nothing started");

    let output = concierge(dir.path())
        .arg("serve")
        .env("CONCIERGE__INBOX__KIND", "pigeon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("inbox.kind") && stderr.contains("CONCIERGE__INBOX__KIND"),
        "{stderr}"
    );
}

#[test]
fn serve_with_the_demo_shows_the_samples_on_the_queue_page() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    add_nav(dir.path());
    let mut child = concierge(dir.path())
        .args(["serve", "--demo"])
        .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{port}"))
        .env("CONCIERGE__MAILDIR__POLL_INTERVAL_MS", "100")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut cookie = None;
    while cookie.is_none() && start.elapsed() < std::time::Duration::from_secs(30) {
        cookie = log_in_as_nav(port);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cookie = cookie.expect("logged in");
    let mut page = String::new();
    while start.elapsed() < std::time::Duration::from_secs(30) {
        if let Ok(body) = http_request(port, "GET", "/", Some(&cookie), "") {
            page = body;
            if page.contains("Therapieplatz gesucht") && page.contains("4 open") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Then a dropped .eml appears too.
    std::fs::write(
        dir.path().join("var/inbox/new/dropped.eml"),
        simple_message(
            "dropped@x.org",
            "kim@example.org",
            "Dropped by hand",
            "Just checking that this arrives.",
        ),
    )
    .unwrap();
    let mut dropped_seen = false;
    while start.elapsed() < std::time::Duration::from_secs(40) {
        if http_request(port, "GET", "/", Some(&cookie), "")
            .is_ok_and(|body| body.contains("Dropped by hand"))
        {
            dropped_seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().ok();
    child.wait().ok();
    assert!(
        page.contains("Therapieplatz gesucht") && page.contains("4 open"),
        "{page}"
    );
    assert!(dropped_seen, "a dropped .eml shows on the queue page");
    // The acknowledgements went out as files.
    let outbox: Vec<_> = std::fs::read_dir(dir.path().join("var/outbox"))
        .unwrap()
        .collect();
    assert!(
        outbox.len() >= 4,
        "acknowledgements written as .eml files: {}",
        outbox.len()
    );
}

/// A minimal HTTP/1.0 request, enough for a local test.
/// Adds the navigator `nav@example.org` with `concierge user add`.
fn add_nav(dir: &std::path::Path) {
    let added = concierge(dir)
        .args([
            "user",
            "add",
            "nav@example.org",
            "--role",
            "navigator",
            "--password-env",
            "TEST_PASSWORD",
        ])
        .env("TEST_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

/// The session cookie of `nav@example.org` (made by `add_nav`), or `None` while the server
/// is not up yet.
fn log_in_as_nav(port: u16) -> Option<String> {
    let response = http_request(
        port,
        "POST",
        "/login",
        None,
        "email=nav%40example.org&password=a+long+enough+password",
    )
    .ok()?;
    let line = response
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))?;
    Some(
        line.split_once(':')?
            .1
            .split(';')
            .next()?
            .trim()
            .to_string(),
    )
}

pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn a_bad_resource_record_is_refused_with_file_record_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/resources/de.toml");
    let good = std::fs::read_to_string(&seed).unwrap();
    // The same records, one of them active without a verification date.
    let bad = good.replacen("verified_at = \"2026-11-25\"", "verified_at = \"\"", 1);
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let output = concierge(dir.path())
        .args(["resources", "import", "bad.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml") && stderr.contains("\"de-") && stderr.contains("verified_at"),
        "{stderr}"
    );

    let output = concierge(dir.path())
        .args(["resources", "import"])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .starts_with("imported "));
    let export = concierge(dir.path())
        .args(["resources", "export"])
        .output()
        .unwrap();
    let exported = String::from_utf8(export.stdout).unwrap();
    assert!(
        exported.contains("0800 111 0 111"),
        "the export has the records"
    );
    // What was exported imports again.
    std::fs::write(dir.path().join("export.toml"), &exported).unwrap();
    let again = concierge(dir.path())
        .args(["resources", "import", "export.toml"])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn resources_check_passes_on_the_seed_directory() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/resources");
    let output = concierge(dir.path())
        .args(["resources", "check"])
        .arg(&seed)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("0 errors") && stdout.contains("passed"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|line| line.starts_with("error:")),
        "{stdout}"
    );
}

#[test]
fn resources_check_fails_naming_the_record_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/resources/gb.toml");
    let good = std::fs::read_to_string(&seed).unwrap();
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir(&bad_dir).unwrap();
    // The first record (the emergency numbers) loses its verifier.
    let bad = good.replacen(
        "verified_by = \"seed authors (from memory; the page was not opened)\"",
        "verified_by = \"\"",
        1,
    );
    assert_ne!(bad, good);
    std::fs::write(bad_dir.join("gb.toml"), &bad).unwrap();
    let output = concierge(dir.path())
        .args(["resources", "check", "bad"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let error_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stdout}");
    assert!(
        error_lines[0].contains("gb.toml")
            && error_lines[0].contains("\"gb-emergency\"")
            && error_lines[0].contains("verified_by"),
        "{stdout}"
    );
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("1 problems"));

    // A crisis line verified more than 24 months before the day of the check is stale.
    std::fs::write(bad_dir.join("gb.toml"), &good).unwrap();
    let output = concierge(dir.path())
        .args(["resources", "check", "bad", "--today", "2029-01-01"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("error:")
            && l.contains("\"gb-samaritans\"")
            && l.contains("`verified_at`")
            && l.contains("stale")),
        "{stdout}"
    );
}

/// Kills a child process when dropped, so that a failing test leaves no server behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn wait_for(limit_secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(limit_secs) {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn a_web_node_reads_no_mail_and_a_worker_serves_only_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    add_nav(dir.path());
    let demo = concierge(dir.path())
        .args(["serve", "--demo", "--role", "web"])
        .output()
        .unwrap();
    assert!(!demo.status.success());
    assert!(String::from_utf8_lossy(&demo.stderr).contains("--role all"));

    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join("var/inbox").join(sub)).unwrap();
    }
    let waiting = dir.path().join("var/inbox/new/waiting.eml");
    std::fs::write(
        &waiting,
        simple_message(
            "role-1@x.org",
            "kim@example.org",
            "Split roles",
            "Could someone tell me where to find a therapist?",
        ),
    )
    .unwrap();
    let web_port = crate::harness::free_port();
    let _web = Running(
        concierge(dir.path())
            .args(["serve", "--role", "web"])
            .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{web_port}"))
            .env("CONCIERGE__MAILDIR__POLL_INTERVAL_MS", "100")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut cookie = None;
    assert!(wait_for(30, || {
        cookie = log_in_as_nav(web_port);
        cookie.is_some()
    }));
    let cookie = cookie.unwrap();
    // The web node is up and polls nothing: the message waits in new/.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(waiting.exists(), "a web node must not read the inbox");
    assert!(!http_request(web_port, "GET", "/", Some(&cookie), "")
        .unwrap()
        .contains("Split roles"));

    let worker_port = crate::harness::free_port();
    let _worker = Running(
        concierge(dir.path())
            .args(["serve", "--role", "worker"])
            .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{worker_port}"))
            .env("CONCIERGE__MAILDIR__POLL_INTERVAL_MS", "100")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The worker ingests it, and the web node shows it.
    assert!(
        wait_for(30, || http_request(web_port, "GET", "/", Some(&cookie), "")
            .is_ok_and(|page| page.contains("Split roles"))),
        "the worker's message did not reach the web node's queue"
    );
    assert!(!waiting.exists(), "the worker moved the message to cur/");
    let health = http_request(worker_port, "GET", "/healthz", None, "").unwrap();
    assert!(
        health.lines().next().unwrap_or("").contains(" 200") && health.ends_with("ok"),
        "{health}"
    );
    let metrics = http_request(worker_port, "GET", "/metrics", None, "").unwrap();
    assert!(metrics.contains("concierge_"), "{metrics}");
    assert!(!metrics.contains("kim@example.org") && !metrics.contains("Split roles"));
    for path in ["/", "/login", "/reports"] {
        let reply = http_request(worker_port, "GET", path, None, "").unwrap();
        let status = reply.lines().next().unwrap_or("");
        assert!(status.contains(" 404"), "GET {path} on a worker: {status}");
    }
    // The worker's acknowledgement goes out as a file (the embedded default).
    assert!(
        wait_for(30, || std::fs::read_dir(dir.path().join("var/outbox"))
            .is_ok_and(|entries| entries.count() > 0)),
        "the worker's outbox sent nothing"
    );
}

#[test]
fn purge_dry_run_shows_what_would_go_and_purge_then_removes_it() {
    use concierge::domain::{AutoKind, Risk};
    use concierge::store::{HistoryMessage, HistoryThread};
    const D: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("var/concierge.db").display());
    let now = concierge::clock::now_ms();
    let conversation = |n: usize, first: i64, closed_at: Option<i64>| HistoryThread {
        contact_email: format!("person-{n}@example.invalid"),
        subject: format!("conversation {n}"),
        language: Some("en".into()),
        country: None,
        risk: Risk::Concern,
        auto_kind: AutoKind::None,
        inbound: vec![HistoryMessage {
            received_at: first,
            auto_kind: AutoKind::None,
            text: format!("the words of person {n}"),
        }],
        acknowledged_at: Some(first + 60_000),
        replies: vec![],
        closed_at,
        n_reopens: 0,
    };
    let (store, old_thread, old_raw_bytes) = runtime.block_on(async {
        let store = concierge::store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        store
            .insert_history(&[
                // Closed 99 days ago: goes with a 30-day retention.
                conversation(1, now - 100 * D, Some(now - 99 * D)),
                // Open: stays, however old.
                conversation(2, now - 100 * D, None),
                // Closed 4 days ago: stays.
                conversation(3, now - 5 * D, Some(now - 4 * D)),
            ])
            .await
            .unwrap();
        let old_thread = store
            .closed_threads(10)
            .await
            .unwrap()
            .last()
            .unwrap()
            .thread_id;
        let message = &store.thread_messages(old_thread).await.unwrap()[0];
        let raw = store
            .raw_message(message.raw_message_id)
            .await
            .unwrap()
            .unwrap();
        (store, old_thread, raw.raw.len())
    });
    let purge = |args: &[&str], days: &str| {
        let output = concierge(dir.path())
            .arg("purge")
            .args(args)
            .env("CONCIERGE__RETENTION__PURGE_AFTER_DAYS", days)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let expected = format!(
        "threads: 1\nmessages: 1\nraw messages: 1\nraw bytes freed: {old_raw_bytes}\nsent mails: 1\nnotes: 0\ndrafts: 0\n"
    );

    let (ok, dry, stderr) = purge(&["--dry-run"], "30");
    assert!(ok, "{stderr}");
    assert!(dry.starts_with("cutoff: "), "{dry}");
    assert!(dry.contains("retention.purge_after_days = 30"), "{dry}");
    assert!(
        dry.contains("dry run: would purge (nothing was changed)"),
        "{dry}"
    );
    assert!(dry.ends_with(&expected), "{dry}");
    let body = |thread_id| {
        runtime.block_on(async {
            store.thread_messages(thread_id).await.unwrap()[0]
                .body_text
                .clone()
        })
    };
    assert_eq!(
        body(old_thread),
        "the words of person 1",
        "the dry run changed nothing"
    );

    let (ok, real, stderr) = purge(&[], "30");
    assert!(ok, "{stderr}");
    assert!(
        real.contains("\npurged\n") && real.ends_with(&expected),
        "{real}"
    );
    assert_eq!(body(old_thread), "", "purged");
    let (ok, again, _) = purge(&["--dry-run"], "30");
    assert!(ok && again.contains("threads: 0\n"), "{again}");

    // Off by default, and a negative age is refused naming the key.
    let (ok, off, _) = purge(&[], "0");
    assert!(ok && off.contains("kept forever"), "{off}");
    let (ok, _, stderr) = purge(&["--dry-run"], "-3");
    assert!(!ok);
    assert!(
        stderr.contains("retention.purge_after_days")
            && stderr.contains("CONCIERGE__RETENTION__PURGE_AFTER_DAYS"),
        "{stderr}"
    );
}
