//! Fuzz target `dn_escape`: the body is `dirconn_fuzz::escaping::dn_escape`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::escaping::dn_escape(data));
