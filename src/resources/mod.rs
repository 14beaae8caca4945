//! The resource directory: crisis lines, emergency numbers and support services.
//!
//! `model` is the record and its validation (pure), `hours` reads opening hours and knows
//! when a line is open (pure), `matching` picks what to show a person (pure), `check` lists
//! incomplete and stale records (pure), `files` reads and writes the TOML files of
//! `config/resources/` (IO).

pub mod check;
pub mod files;
pub mod hours;
pub mod matching;
pub mod model;

pub use matching::{match_resources, MatchQuery, Matched};
pub use model::{Contact, Resource, ResourceError, Status};
