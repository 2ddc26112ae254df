//! Fuzz target `ad_diagnostic`: the body is `dirconn_fuzz::ad::ad_diagnostic`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::ad::ad_diagnostic(data));
