//! LDAP URLs as an administrator types them: `ldap://host:port` or `ldaps://host:port`.

use std::fmt;

use crate::Error;

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUrl {
    /// Whether the connection starts with TLS (`ldaps://`).
    pub ldaps: bool,
    /// The host name or IP address, without brackets.
    pub host: String,
    /// The port (389 / 636 when not given).
    pub port: u16,
}

impl LdapUrl {
    /// Whether the URL names an AD Global Catalog port (3268 plain, 3269 TLS): read-only, forest-wide.
    pub fn is_global_catalog(&self) -> bool {
        matches!(self.port, 3268 | 3269)
    }

    /// Parses `ldap://host[:port][/]` or `ldaps://…`; IPv6 addresses go in brackets.
    pub fn parse(text: &str) -> Result<LdapUrl, Error> {
        let bad = |problem: &str| {
            Error::config(
                "DC-102",
                "urls",
                format!("`{text}` is not a usable LDAP URL: {problem}."),
                "Write it as ldap://host:389 or ldaps://host:636 (IPv6 as ldap://[::1]:389).",
            )
        };
        let trimmed = text.trim();
        let (ldaps, rest) = if let Some(rest) = strip_prefix_ci(trimmed, "ldaps://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(trimmed, "ldap://") {
            (false, rest)
        } else {
            return Err(bad("the scheme must be ldap:// or ldaps://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') {
            return Err(bad("a server URL takes no DN or search part; set search_base instead"));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let (host, tail) = after.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (host, tail.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            None if ldaps => 636,
            None => 389,
        };
        Ok(LdapUrl { ldaps, host: host.to_owned(), port })
    }

    /// The `host:port` form for connecting (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

impl fmt::Display for LdapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.ldaps { "ldaps" } else { "ldap" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_administrators_type() {
        let u = LdapUrl::parse("ldap://dc1.example.org").unwrap();
        assert_eq!((u.ldaps, u.host.as_str(), u.port), (false, "dc1.example.org", 389));
        let u = LdapUrl::parse("LDAPS://127.0.0.1:6360/").unwrap();
        assert_eq!((u.ldaps, u.port), (true, 6360));
        let u = LdapUrl::parse("ldap://[::1]:3890").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority()), ("::1", 3890, "[::1]:3890".to_owned()));
        assert_eq!(LdapUrl::parse("ldaps://h").unwrap().to_string(), "ldaps://h:636");
    }

    #[test]
    fn refuses_what_is_not_a_server_url() {
        for bad in ["http://h", "ldap://", "ldap://h:0", "ldap://h:99999", "ldap://h/dc=x", "h:389", "ldap://[::1"] {
            let err = LdapUrl::parse(bad).unwrap_err();
            assert_eq!(err.code(), "DC-102", "{bad}");
        }
    }
}
