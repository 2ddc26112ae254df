//! Fuzz target `api_json`: the body is `dirconn_fuzz::api_json::api_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::api_json::api_json(data));
