//! The fuzz targets' bodies, defined once as ordinary functions: `fuzz/fuzz_targets/*.rs` (a cargo-fuzz
//! project, run by `cargo xtask fuzz`) call them on nightly, and `tests/corpora.rs` replays every committed
//! corpus file (`fuzz/corpus/<target>/`) through them on stable.
//!
//! Each target takes any bytes and panics when a property fails; not crashing is the least of them:
//! - [`escaping::filter_escape`]: RFC 4515 filter values and templates (round trip through ldap3's parser,
//!   no unescaped metacharacter, a hostile value never changes the filter's structure).
//! - [`escaping::dn_escape`]: RFC 4514 DN values (round trip, no unescaped special, one RDN, the same
//!   meaning as other spellings of the value).
//! - [`escaping::dn_normalize`]: any text as a DN: the canonical form is stable and keeps the meaning.
//! - [`config::config`]: the configuration (host, `[service]`, each domain's connector settings) loads or
//!   fails with a code, and no error quotes a secret.
//! - [`ad::ad_diagnostic`]: Active Directory's bind diagnostics (`data 52e`) and its data formats.
//! - [`dovecot::dovecot_auth`]: Dovecot's auth protocol lines, escapes, replies and SASL exchanges.
//! - [`nginx::nginx_headers`]: nginx's `auth_http` request headers and the service's answer headers.
//! - [`api_json::api_json`]: the HTTP API's JSON request bodies and the JSON views.

pub mod ad;
pub mod api_json;
pub mod config;
pub mod dovecot;
pub mod escaping;
pub mod nginx;

/// A target's body: panics when a property fails for the input.
pub type Target = fn(&[u8]);

/// Every target by its name (the name of its folder under `fuzz/corpus/` and of its `fuzz_targets/` file).
pub const TARGETS: [(&str, Target); 8] = [
    ("filter_escape", escaping::filter_escape),
    ("dn_escape", escaping::dn_escape),
    ("dn_normalize", escaping::dn_normalize),
    ("config", config::config),
    ("ad_diagnostic", ad::ad_diagnostic),
    ("dovecot_auth", dovecot::dovecot_auth),
    ("nginx_headers", nginx::nginx_headers),
    ("api_json", api_json::api_json),
];

/// Splits the input at its first NUL: a target that needs two values takes them this way (no NUL: the
/// second is empty).
pub(crate) fn two(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
