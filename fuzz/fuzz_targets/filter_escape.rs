//! Fuzz target `filter_escape`: the body is `dirconn_fuzz::escaping::filter_escape`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::escaping::filter_escape(data));
