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

/// Five weeks of generated conversations (several languages, countries, risk levels and demo
/// navigators, some answered late), so that a new install shows populated reports. Written
/// once: `None` when the demo history is already there.
pub async fn add_history(
    store: &dyn crate::store::Store,
    now: i64,
) -> crate::store::StoreResult<Option<usize>> {
    let marker = crate::domain::EmailAddress::parse(crate::reports::history::DEMO_MARKER)
        .expect("a valid address");
    if store.user_by_email(&marker).await?.is_some() {
        return Ok(None);
    }
    let spec = crate::reports::history::HistorySpec {
        n_threads: 420,
        n_messages: 1_100,
        end_ms: now,
        days: 35,
        seed: 2026,
        finished: true,
    };
    Ok(Some(
        crate::reports::history::insert(store, &spec, now).await?,
    ))
}
