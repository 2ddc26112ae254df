//! Fuzz target `config`: the body is `dirconn_fuzz::config::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::config::config(data));
