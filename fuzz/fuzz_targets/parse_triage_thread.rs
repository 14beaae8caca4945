//! Arbitrary bytes as an RFC 5322 message, through everything ingestion does with them that
//! needs no store: the raw helpers, the parse, triage and the threading keys.
//! The invariants are in `tests/it/fuzz_invariants.rs`, shared with the regression test
//! that runs on stable in `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/fuzz_invariants.rs"]
mod fuzz_invariants;

fuzz_target!(|data: &[u8]| {
    fuzz_invariants::check(data);
});
