//! One integration-test binary. Tests talk to real servers started by `harness`: SQLite files,
//! a PostgreSQL cluster (from `TEST_DATABASE_URL`, which `scripts/test` provides), and a
//! Dovecot IMAP server per test.

mod harness;

mod browser;
mod cli;
mod fuzz;
mod fuzz_invariants;
mod imap;
mod ingest;
mod metrics;
mod outbox;
mod reports;
mod store;
mod triage;
mod web;
