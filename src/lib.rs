//! concierge: an email triage service for a global mental-health concierge.
//!
//! The bird's-eye view and the code map are in `ARCHITECTURE.md`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod eval;
pub mod health;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod replies;
pub mod reports;
pub mod resources;
pub mod retention;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod triage;
pub mod web;
