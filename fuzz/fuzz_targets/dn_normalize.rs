//! Fuzz target `dn_normalize`: the body is `dirconn_fuzz::escaping::dn_normalize`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::escaping::dn_normalize(data));
