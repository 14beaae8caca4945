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
    let files = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|error| io_error(path, error))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut resources = Vec::new();
    let mut ids = HashSet::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|error| io_error(&file, error))?;
        let parsed: ResourceFile = toml::from_str(&text).map_err(|error| ResourceError {
            file: name.clone(),
            record: String::new(),
            field: String::new(),
            message: error.to_string(),
        })?;
        for resource in parsed.resource {
            resource.validate(&name)?;
            if !ids.insert(resource.id.clone()) {
                return Err(ResourceError {
                    file: name.clone(),
                    record: resource.id.clone(),
                    field: "id".into(),
                    message: "this id is used by another record".into(),
                });
            }
            resources.push(resource);
        }
    }
    Ok(resources)
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
