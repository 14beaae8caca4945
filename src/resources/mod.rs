//! The resource directory: crisis lines, emergency numbers and support services.
//!
//! `model` is the record and its validation (pure), `matching` picks what to show a person
//! (pure), `files` reads and writes the TOML files of `config/resources/` (IO).

pub mod files;
pub mod matching;
pub mod model;

pub use matching::{match_resources, MatchQuery, Matched};
pub use model::{Contact, Resource, ResourceError, Status};
