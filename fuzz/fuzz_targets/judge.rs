//! Fuzz target `judge`: arbitrary changes, authors and records through the judge; see
//! `harness::judge_case` for the invariants checked.
#![no_main]

#[allow(dead_code)]
#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|case: harness::JudgeCase| harness::judge_case(&case));
