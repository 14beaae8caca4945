//! Reply templates: handlebars in strict mode, one folder per language under
//! `templates/replies/<lang>/`, embedded in the binary, with an override folder from config.
//! Each template NAME has `NAME.subject.hbs` and `NAME.txt.hbs` (plain text, not escaped).

use handlebars::Handlebars;
use serde::Serialize;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/reply_templates.rs"));

/// The language every chain ends with.
pub const LAST_RESORT_LANGUAGE: &str = "en";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}: {source}")]
    Parse {
        name: String,
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    #[error("reading the template folder {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no template {0:?} in any language of the chain")]
    Missing(String),
    #[error("rendering {name}: {source}")]
    Render {
        name: String,
        #[source]
        source: Box<handlebars::RenderError>,
    },
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    /// The language whose template was used.
    pub language: String,
    /// Set when a fallback was used: which language was asked for and why it was not used.
    pub note: Option<String>,
}

pub struct Templates {
    registry: Handlebars<'static>,
    names: Vec<String>,
}

impl Templates {
    /// The embedded templates, with files of `override_dir` (same layout) replacing them.
    pub fn load(override_dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        let mut names = Vec::new();
        for (name, text) in REPLY_TEMPLATE_FILES {
            register(&mut registry, name, text)?;
            names.push(name.to_string());
        }
        if let Some(dir) = override_dir {
            let io = |source| TemplateError::Io {
                path: dir.display().to_string(),
                source,
            };
            for language in std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
            {
                for file in std::fs::read_dir(language.path())
                    .map_err(io)?
                    .filter_map(Result::ok)
                {
                    let path = file.path();
                    let Some(file_name) =
                        path.file_name().map(|n| n.to_string_lossy().into_owned())
                    else {
                        continue;
                    };
                    let Some(stem) = file_name.strip_suffix(".hbs") else {
                        continue;
                    };
                    let name = format!("{}/{stem}", language.file_name().to_string_lossy());
                    let text = std::fs::read_to_string(&path).map_err(io)?;
                    register(&mut registry, &name, &text)?;
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        Ok(Templates { registry, names })
    }

    /// The languages that have at least one template.
    pub fn languages(&self) -> Vec<String> {
        let mut languages: Vec<String> = self
            .names
            .iter()
            .filter_map(|n| n.split('/').next())
            .map(str::to_string)
            .collect();
        languages.sort();
        languages.dedup();
        languages
    }

    pub fn has(&self, language: &str, name: &str) -> bool {
        self.names
            .iter()
            .any(|n| n == &format!("{language}/{name}.subject"))
            && self
                .names
                .iter()
                .any(|n| n == &format!("{language}/{name}.txt"))
    }

    /// Renders a template in the first language of the chain that has it: `pt-BR` -> `pt` -> `en`.
    pub fn render(
        &self,
        name: &str,
        language: Option<&str>,
        context: &impl Serialize,
    ) -> Result<Rendered, TemplateError> {
        let chain = fallback_chain(language);
        let chosen = chain
            .iter()
            .find(|candidate| self.has(candidate, name))
            .ok_or_else(|| TemplateError::Missing(name.to_string()))?;
        let render = |part: &str| {
            let full = format!("{chosen}/{name}.{part}");
            self.registry
                .render(&full, context)
                .map_err(|source| TemplateError::Render {
                    name: full,
                    source: Box::new(source),
                })
        };
        let subject = render("subject")?;
        // A subject is one line: nothing from a context may add a header.
        let subject = crate::mail::parse::unfold(&subject);
        let text = render("txt")?;
        let note = (Some(chosen.as_str()) != chain.first().map(String::as_str)).then(|| {
            format!(
                "no {name} template in {}; used {chosen}",
                chain.first().cloned().unwrap_or_default()
            )
        });
        Ok(Rendered {
            subject,
            text: text.replace("\r\n", "\n"),
            language: chosen.clone(),
            note,
        })
    }
}

fn register(
    registry: &mut Handlebars<'static>,
    name: &str,
    text: &str,
) -> Result<(), TemplateError> {
    registry
        .register_template_string(name, text)
        .map_err(|source| TemplateError::Parse {
            name: name.to_string(),
            source: Box::new(source),
        })
}

/// `pt-BR` -> [`pt-br`, `pt`, `en`]; unknown -> [`en`].
pub fn fallback_chain(language: Option<&str>) -> Vec<String> {
    let mut chain = Vec::new();
    if let Some(language) = language {
        let lower = language.trim().to_ascii_lowercase().replace('_', "-");
        if !lower.is_empty() {
            chain.push(lower.clone());
            if let Some((primary, _)) = lower.split_once('-') {
                chain.push(primary.to_string());
            }
        }
    }
    if !chain.iter().any(|l| l == LAST_RESORT_LANGUAGE) {
        chain.push(LAST_RESORT_LANGUAGE.to_string());
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::fallback_chain;

    #[test]
    fn fallback_goes_from_region_to_language_to_english() {
        assert_eq!(fallback_chain(Some("pt-BR")), ["pt-br", "pt", "en"]);
        assert_eq!(fallback_chain(Some("de")), ["de", "en"]);
        assert_eq!(fallback_chain(Some("en")), ["en"]);
        assert_eq!(fallback_chain(None), ["en"]);
    }
}
