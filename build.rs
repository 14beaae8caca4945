//! Embeds the data files that triage needs (crisis lexicons), so that triage does no IO and
//! a new lexicon file is picked up without touching code.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let lexicon_dir = Path::new(&manifest_dir).join("config/lexicons");
    println!("cargo:rerun-if-changed={}", lexicon_dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&lexicon_dir)
        .expect("config/lexicons exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut code = String::from("/// (file name, TOML text) of every crisis lexicon in config/lexicons.\npub const LEXICON_FILES: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("lexicon_files.rs");
    std::fs::write(out, code).expect("write lexicon_files.rs");
}
