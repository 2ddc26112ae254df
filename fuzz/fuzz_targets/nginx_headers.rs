//! Fuzz target `nginx_headers`: the body is `dirconn_fuzz::nginx::nginx_headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::nginx::nginx_headers(data));
