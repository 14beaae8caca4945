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
    let mut code = String::new();
    embed_files(
        &mut code,
        "/// (file name, TOML text) of every crisis lexicon in config/lexicons.",
        "LEXICON_FILES",
        &files,
    );
    // The lexicons' test sentences: examples.tsv and examples/*.tsv (for the unit test).
    let mut example_files = vec![lexicon_dir.join("examples.tsv")];
    if let Ok(entries) = std::fs::read_dir(lexicon_dir.join("examples")) {
        let mut more: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "tsv"))
            .collect();
        more.sort();
        example_files.extend(more);
    }
    println!(
        "cargo:rerun-if-changed={}",
        lexicon_dir.join("examples").display()
    );
    embed_files(
        &mut code,
        "/// (file name, TSV text) of every file of lexicon test sentences.\n#[allow(dead_code)]",
        "LEXICON_EXAMPLE_FILES",
        &example_files,
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("lexicon_files.rs");
    std::fs::write(out, code).expect("write lexicon_files.rs");

    // Reply templates: templates/replies/<lang>/<name>.{subject,txt,html}.hbs
    let replies_dir = Path::new(&manifest_dir).join("templates/replies");
    println!("cargo:rerun-if-changed={}", replies_dir.display());
    let mut templates = Vec::new();
    if let Ok(languages) = std::fs::read_dir(&replies_dir) {
        for language in languages
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
        {
            println!("cargo:rerun-if-changed={}", language.path().display());
            for file in std::fs::read_dir(language.path())
                .expect("a language folder")
                .filter_map(Result::ok)
            {
                let path = file.path();
                if path.extension().is_some_and(|ext| ext == "hbs") {
                    println!("cargo:rerun-if-changed={}", path.display());
                    let language = language.file_name().to_string_lossy().into_owned();
                    let name = path
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .trim_end_matches(".hbs")
                        .to_string();
                    templates.push((format!("{language}/{name}"), path.display().to_string()));
                }
            }
        }
    }
    templates.sort();
    let mut code = String::from("/// (\"<lang>/<name>.<part>\", template text) of every reply template in templates/replies.\npub const REPLY_TEMPLATE_FILES: &[(&str, &str)] = &[\n");
    for (name, path) in &templates {
        writeln!(code, "    ({name:?}, include_str!({path:?})),").unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("reply_templates.rs");
    std::fs::write(out, code).expect("write reply_templates.rs");
}

/// Writes `pub const NAME: &[(&str, &str)]` of (file name, `include_str!` of the file).
fn embed_files(code: &mut String, doc: &str, name: &str, files: &[std::path::PathBuf]) {
    writeln!(code, "{doc}\npub const {name}: &[(&str, &str)] = &[").unwrap();
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let file_name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({file_name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
}
