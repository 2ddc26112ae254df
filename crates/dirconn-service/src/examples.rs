//! One example of every failure of the service, for the generated troubleshooting page: `[service]`
//! tables with one thing wrong each, loaded as if the configuration were in `/etc/dirconn`, and the
//! refusals of requests built with their fields named in braces (`{problem}`).

use std::path::Path;

use crate::{Error, ServiceConfig};

/// `[service]` tables with one thing wrong each.
const PROVOKED: &[&str] = &[
    "listen = [\"127.0.0.1:8080\"]\nlisten_on = \"x\"\n",
    "listen = [\"localhost\"]\n",
    "tls_cert = \"cert.pem\"\n",
    "dovecot_auth = \"192.0.2.10:12345\"\n",
    "probe_interval = \"0s\"\n",
    "[throttle]\nmargin = -1\n",
    "[[client]]\nname = \"\"\ntoken_file = \"dovecot.token\"\nrole = \"mail-server\"\n",
    "[[client]]\nname = \"dovecot\"\ntoken_file = \"missing.token\"\nrole = \"mail-server\"\n",
];

/// Every failure of the service, once (each provoked configuration failure once).
pub fn examples() -> Vec<Error> {
    let mut out: Vec<Error> = PROVOKED
        .iter()
        .map(|text| {
            let table: toml::Table = toml::from_str(text).expect("the examples are TOML");
            match ServiceConfig::from_table(&table, Path::new("/etc/dirconn")) {
                Err(err) => err,
                Ok(_) => panic!("the example [service] table loads, but should fail: {text}"),
            }
        })
        .collect();
    let field = |name: &str| format!("{{{name}}}");
    out.extend([
        Error::Listen { address: field("address"), source: std::io::Error::from(std::io::ErrorKind::AddrInUse) },
        Error::Tls { problem: field("problem") },
        Error::Unauthorized,
        Error::Forbidden { client: field("client"), needs: "admin" },
        Error::BadRequest { problem: field("problem") },
        Error::TooLarge { limit: 65_536 },
        Error::BadLogin { problem: field("problem") },
        Error::BadPassword { problem: field("problem") },
        Error::NotFound { what: field("what") },
        Error::Stopping,
        Error::BadLookup { problem: field("problem") },
        Error::Throttled {
            account: field("account"),
            network: field("network"),
            hold: crate::throttle::Hold::Unfamiliar { failures: 3, limit: 3 },
            threshold: 5,
            retry_after: 1200,
        },
    ]);
    out
}
