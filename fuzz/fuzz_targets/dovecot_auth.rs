//! Fuzz target `dovecot_auth`: the body is `dirconn_fuzz::dovecot::dovecot_auth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dirconn_fuzz::dovecot::dovecot_auth(data));
