//! One integration-test binary. Tests talk to real servers started by `harness`: SQLite files,
//! a PostgreSQL cluster (from `TEST_DATABASE_URL`, which `scripts/test` provides), and a
//! Dovecot IMAP server per test.

mod harness;

mod access_log;
mod browser;
mod cli;
mod fuzz;
mod fuzz_invariants;
mod imap;
mod ingest;
mod metrics;
mod outbox;
mod reports;
mod retention;
mod store;
mod tls;
mod triage;
mod web;
