//! Reading and writing resource files (TOML, the format of `config/resources/`).

use super::model::{Resource, ResourceError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceFile {
    #[serde(default)]
    pub resource: Vec<Resource>,
}

/// Reads one TOML file or every `*.toml` of a folder, validating each record; ids must be unique.
pub fn read_path(path: &Path) -> Result<Vec<Resource>, ResourceError> {
    let mut resources = Vec::new();
    let mut ids = HashSet::new();
    for file in toml_files(path)? {
        let name = file.display().to_string();
        for resource in read_file(&file)? {
            resource.validate(&name)?;
            if !ids.insert(resource.id.clone()) {
                return Err(duplicate(&name, &resource.id));
            }
            resources.push(resource);
        }
    }
    Ok(resources)
}

/// The records that validate, each with its file, and the problems found.
pub type ReadForCheck = (Vec<(String, Resource)>, Vec<ResourceError>);

/// Like [`read_path`], but goes on after a problem: every record that validates, with the
/// file it came from, and every problem found (for `concierge resources check`).
pub fn read_path_for_check(path: &Path) -> Result<ReadForCheck, ResourceError> {
    let mut resources = Vec::new();
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    for file in toml_files(path)? {
        let name = file.display().to_string();
        let records = match read_file(&file) {
            Ok(records) => records,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for resource in records {
            if !ids.insert(resource.id.clone()) {
                errors.push(duplicate(&name, &resource.id));
            } else if let Err(error) = resource.validate(&name) {
                errors.push(error);
            } else {
                resources.push((name.clone(), resource));
            }
        }
    }
    Ok((resources, errors))
}

fn toml_files(path: &Path) -> Result<Vec<std::path::PathBuf>, ResourceError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .map_err(|error| io_error(path, error))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

fn read_file(file: &Path) -> Result<Vec<Resource>, ResourceError> {
    let text = std::fs::read_to_string(file).map_err(|error| io_error(file, error))?;
    let parsed: ResourceFile = toml::from_str(&text).map_err(|error| ResourceError {
        file: file.display().to_string(),
        record: String::new(),
        field: String::new(),
        message: error.to_string(),
    })?;
    Ok(parsed.resource)
}

fn duplicate(file: &str, id: &str) -> ResourceError {
    ResourceError {
        file: file.to_string(),
        record: id.to_string(),
        field: "id".into(),
        message: "this id is used by another record".into(),
    }
}

/// Writes records as one TOML document, in the import format.
pub fn to_toml(resources: &[Resource]) -> Result<String, toml::ser::Error> {
    toml::to_string(&ResourceFile {
        resource: resources.to_vec(),
    })
}

fn io_error(path: &Path, error: std::io::Error) -> ResourceError {
    ResourceError {
        file: path.display().to_string(),
        record: String::new(),
        field: String::new(),
        message: error.to_string(),
    }
}
