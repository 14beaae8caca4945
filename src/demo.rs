//! Sample messages for `concierge serve --demo`, so a fresh install shows something real.

use std::path::Path;

/// (file name, bytes) of the demo messages, embedded at compile time.
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "demo-01",
        include_bytes!("../samples/demo/01-burnout-en.eml"),
    ),
    (
        "demo-02",
        include_bytes!("../samples/demo/02-ansiedad-es.eml"),
    ),
    (
        "demo-03",
        include_bytes!("../samples/demo/03-therapie-de.eml"),
    ),
    ("demo-04", include_bytes!("../samples/demo/04-reply-en.eml")),
    (
        "demo-05",
        include_bytes!("../samples/demo/05-nemurenai-ja.eml"),
    ),
];

/// Writes the demo messages into a Maildir's `new/` (through `tmp/`, as an MDA would).
/// Returns how many were written; messages already delivered before are skipped.
pub fn drop_samples(maildir: &Path) -> std::io::Result<usize> {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let mut n_written = 0;
    for (name, bytes) in SAMPLES {
        let unique = format!("{name}.concierge-demo");
        let already = ["new", "cur"].iter().any(|sub| {
            std::fs::read_dir(maildir.join(sub))
                .map(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().starts_with(&unique))
                })
                .unwrap_or(false)
        });
        if already {
            continue;
        }
        let tmp = maildir.join("tmp").join(&unique);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, maildir.join("new").join(&unique))?;
        n_written += 1;
    }
    Ok(n_written)
}
