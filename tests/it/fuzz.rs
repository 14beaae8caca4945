//! The fuzz target's invariants (`fuzz_invariants.rs`) on stable: every input the fuzzer
//! found (`tests/fixtures/fuzz-regressions/`), the malformed mail of `tests/fixtures/awkward/`,
//! and inputs too large to keep as files.

use super::fuzz_invariants::check;
use std::path::{Path, PathBuf};

fn files_in(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
}

/// Runs one input, naming it when an invariant breaks.
fn check_named(name: &str, raw: &[u8]) {
    if let Err(panic) = std::panic::catch_unwind(|| check(raw)) {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{name}: {why}");
    }
}

#[test]
fn fuzz_regressions_keep_the_invariants() {
    let files = files_in("tests/fixtures/fuzz-regressions");
    assert!(files.len() >= 6, "only {} regression inputs", files.len());
    for path in files {
        let raw = std::fs::read(&path).expect("a regression input");
        check_named(&path.display().to_string(), &raw);
    }
}

#[test]
fn awkward_mail_keeps_the_fuzz_invariants() {
    let files = files_in("tests/fixtures/awkward");
    assert!(files.len() >= 20, "only {} awkward messages", files.len());
    for path in files {
        let raw = std::fs::read(&path).expect("an awkward message");
        check_named(&path.display().to_string(), &raw);
    }
}

#[test]
fn huge_and_deep_inputs_keep_the_fuzz_invariants() {
    // One header line of a megabyte, unfolded.
    let mut huge_header = b"From: a@example.org\r\nSubject: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge_header.extend_from_slice(b"\r\n\r\nhello\r\n");
    check_named("huge header line", &huge_header);

    // A References header with 5,000 ids.
    let mut many_references = b"From: a@example.org\r\nReferences:".to_vec();
    for n in 0..5_000 {
        many_references.extend_from_slice(format!(" <r{n}@example.org>\r\n").as_bytes());
    }
    many_references.extend_from_slice(b"In-Reply-To: <r7@example.org>\r\n\r\nhi\r\n");
    check_named("many references", &many_references);

    // multipart nested 2,000 levels deep (the awkward fixture has 60).
    let depth = 2_000;
    let mut nested = b"From: a@example.org\r\nMIME-Version: 1.0\r\n".to_vec();
    for level in 0..depth {
        nested.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\n")
                .as_bytes(),
        );
    }
    nested.extend_from_slice(b"Content-Type: text/plain\r\n\r\nI want to die\r\n");
    for level in (0..depth).rev() {
        nested.extend_from_slice(format!("--n{level}--\r\n").as_bytes());
    }
    check_named("deep multipart", &nested);

    // message/rfc822 inside message/rfc822, 500 times, unclosed.
    let mut embedded = Vec::new();
    for _ in 0..500 {
        embedded.extend_from_slice(b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    check_named("deep embedded messages", &embedded);

    // Only line breaks and quote markers in the body.
    let mut quotes = b"From: a@example.org\r\n\r\n".to_vec();
    for _ in 0..20_000 {
        quotes.extend_from_slice(b">\r\n\r\n1@\r\n");
    }
    check_named("quote markers", &quotes);
}
