//! Dovecot's auth protocol as text: the 0x01 escapes, the lines a client sends (auth-client and
//! auth-master), and the lines the server answers. Pure: no I/O.
//!
//! A line is TAB-separated fields ending in LF. A field escapes 0x01, TAB, CR and LF as 0x01 followed by
//! `1`, `t`, `r`, `n` (Dovecot's `str_tabescape`); any other byte after 0x01 stands for itself.

use std::{collections::BTreeMap, fmt::Write as _, net::IpAddr};

/// The longest line taken, as Dovecot's own `AUTH_CLIENT_MAX_LINE_LENGTH`; a longer one closes the connection.
pub const MAX_LINE: usize = 16 * 1024;

/// Escapes a field value.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\x01' => out.push_str("\x011"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`].
pub fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('1') => out.push('\x01'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The fields of a line (without its LF), unescaped.
pub fn split(line: &str) -> Vec<String> {
    line.split('\t').map(unescape).collect()
}

/// A client's `AUTH` request.
#[derive(Clone, PartialEq)]
pub struct AuthRequest {
    /// The request's id, chosen by the client.
    pub id: u32,
    /// The SASL mechanism as sent (`PLAIN`, `LOGIN`…), upper-cased.
    pub mechanism: String,
    /// The mail server's service (`smtp`, `imap`…).
    pub service: Option<String>,
    /// `lip`: the address the end user connected to.
    pub local_ip: Option<IpAddr>,
    /// `rip`: the end user's address.
    pub client_ip: Option<IpAddr>,
    /// `secured`: the end user's connection is encrypted (or local).
    pub secured: bool,
    /// `resp`: the initial response, base64. Never logged.
    pub initial: Option<String>,
    /// `nologin`: no login session follows (Postfix and Exim send it with every SMTP AUTH).
    pub nologin: bool,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("id", &self.id)
            .field("mechanism", &self.mechanism)
            .field("service", &self.service)
            .field("local_ip", &self.local_ip)
            .field("client_ip", &self.client_ip)
            .field("secured", &self.secured)
            .field("nologin", &self.nologin)
            .field("initial", &self.initial.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A line a client sends.
#[derive(Clone, PartialEq)]
pub enum Command {
    /// `VERSION\t<major>\t<minor>` (both sides).
    Version {
        /// The major version (1).
        major: u32,
    },
    /// `CPID\t<pid>` (auth-client handshake).
    Cpid,
    /// `AUTH\t<id>\t<mech>\t<params>…` (auth-client).
    Auth(AuthRequest),
    /// `CONT\t<id>\t<base64>`: the next SASL response (auth-client). Never logged.
    Cont {
        /// The request's id.
        id: u32,
        /// The response, base64.
        data: String,
    },
    /// `CANCEL\t<id>` (auth-client).
    Cancel {
        /// The request's id.
        id: u32,
    },
    /// `USER\t<id>\t<user>\t<params>…`: a userdb lookup (auth-master).
    User {
        /// The request's id.
        id: u32,
        /// The address looked up.
        user: String,
        /// `lip`, which routes a bare login by the local address.
        local_ip: Option<IpAddr>,
    },
    /// `PASS\t<id>\t<user>…`: a passdb lookup (auth-master), which dirconn does not serve.
    Pass {
        /// The request's id.
        id: u32,
    },
    /// `LIST\t<id>\t[user=<mask>]…`: the user listing (auth-master).
    List {
        /// The request's id.
        id: u32,
        /// The `user=` mask (`*` and `?` wildcards).
        mask: Option<String>,
    },
    /// `CACHE-FLUSH\t<id>…` (auth-master).
    CacheFlush {
        /// The request's id.
        id: u32,
    },
    /// Anything else: the command's name.
    Unknown(String),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Version { major } => write!(f, "Version({major})"),
            Command::Cpid => f.write_str("Cpid"),
            Command::Auth(a) => a.fmt(f),
            Command::Cont { id, .. } => write!(f, "Cont({id}, <redacted>)"),
            Command::Cancel { id } => write!(f, "Cancel({id})"),
            Command::User { id, user, local_ip } => write!(f, "User({id}, {user:?}, {local_ip:?})"),
            Command::Pass { id } => write!(f, "Pass({id})"),
            Command::List { id, mask } => write!(f, "List({id}, {mask:?})"),
            Command::CacheFlush { id } => write!(f, "CacheFlush({id})"),
            Command::Unknown(name) => write!(f, "Unknown({name:?})"),
        }
    }
}

impl Command {
    /// Which side of the protocol the command belongs to: `Some(true)` for auth-master, `Some(false)` for
    /// auth-client, `None` for `VERSION` (both).
    pub fn is_master(&self) -> Option<bool> {
        match self {
            Command::Version { .. } => None,
            Command::User { .. } | Command::Pass { .. } | Command::List { .. } | Command::CacheFlush { .. } => {
                Some(true)
            }
            Command::Cpid | Command::Auth(_) | Command::Cont { .. } | Command::Cancel { .. } | Command::Unknown(_) => {
                Some(false)
            }
        }
    }
}

/// A line that breaks the protocol (the connection is closed, as Dovecot does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn id(field: Option<&String>) -> Result<u32, Malformed> {
    field.and_then(|f| f.parse().ok()).ok_or(Malformed("the request id is missing or not a number"))
}

/// An address as Dovecot writes it (`192.0.2.1`, `2001:db8::1`, possibly in brackets); empty is none.
fn ip(value: &str) -> Option<IpAddr> {
    value.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Parses one line (without its LF).
pub fn parse(line: &str) -> Result<Command, Malformed> {
    let fields = split(line);
    let name = fields.first().map(String::as_str).unwrap_or("");
    Ok(match name {
        "VERSION" => Command::Version {
            major: fields.get(1).and_then(|v| v.parse().ok()).ok_or(Malformed("VERSION without a major version"))?,
        },
        "CPID" => Command::Cpid,
        "AUTH" => {
            let mechanism =
                fields.get(2).filter(|m| !m.is_empty()).ok_or(Malformed("AUTH without a mechanism"))?.to_uppercase();
            let mut request = AuthRequest {
                id: id(fields.get(1))?,
                mechanism,
                service: None,
                local_ip: None,
                client_ip: None,
                secured: false,
                initial: None,
                nologin: false,
            };
            for field in fields.iter().skip(3) {
                match field.split_once('=') {
                    Some(("service", v)) if !v.is_empty() => request.service = Some(v.to_owned()),
                    Some(("lip", v)) => request.local_ip = ip(v),
                    Some(("rip", v)) => request.client_ip = ip(v),
                    // 2.3 sends a flag, 2.4 `secured=tls` (or `secured=` for none).
                    Some(("secured", v)) => request.secured = !v.is_empty(),
                    None if field == "secured" => request.secured = true,
                    None if field == "nologin" => request.nologin = true,
                    Some(("resp", v)) => request.initial = Some(v.to_owned()),
                    _ => {}
                }
            }
            Command::Auth(request)
        }
        "CONT" => Command::Cont { id: id(fields.get(1))?, data: fields.get(2).cloned().unwrap_or_default() },
        "CANCEL" => Command::Cancel { id: id(fields.get(1))? },
        "USER" => {
            let user = fields.get(2).ok_or(Malformed("USER without a user"))?.clone();
            let local_ip = fields.iter().skip(3).find_map(|f| f.strip_prefix("lip=")).and_then(ip);
            Command::User { id: id(fields.get(1))?, user, local_ip }
        }
        "PASS" => Command::Pass { id: id(fields.get(1))? },
        "LIST" => {
            let mask = fields.iter().skip(2).find_map(|f| f.strip_prefix("user=")).map(str::to_owned);
            Command::List { id: id(fields.get(1))?, mask }
        }
        "CACHE-FLUSH" => Command::CacheFlush { id: id(fields.get(1))? },
        other => Command::Unknown(other.chars().take(32).collect()),
    })
}

/// Joins fields into a line, escaping each, with its LF.
fn line(fields: &[&str]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&escape(f));
    }
    out.push('\n');
    out
}

/// The auth-client handshake: version 1.2, the mechanisms (before `SPID`: Postfix insists), the server's
/// PID, the connection's id, a cookie, `DONE`.
pub fn client_handshake(spid: u32, cuid: u64, cookie: &str) -> String {
    let mut out = String::from("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n");
    let _ = write!(out, "SPID\t{spid}\nCUID\t{cuid}\nCOOKIE\t{cookie}\nDONE\n");
    out
}

/// The auth-master handshake: version 1.1 and the server's PID (the client's handshake ends at `SPID`; any
/// line after it must answer a request).
pub fn master_handshake(spid: u32) -> String {
    format!("VERSION\t1\t1\nSPID\t{spid}\n")
}

/// `OK\t<id>\tuser=<account>`: logged in, under this canonical name.
pub fn ok(id: u32, user: &str) -> String {
    line(&["OK", &id.to_string(), &format!("user={user}")])
}

/// `FAIL\t<id>\t[user=…]\t[code=…]\treason=…`.
pub fn fail(id: u32, user: Option<&str>, code: Option<&str>, reason: &str) -> String {
    let id = id.to_string();
    let user = user.map(|u| format!("user={u}"));
    let code = code.map(|c| format!("code={c}"));
    let reason = format!("reason={reason}");
    let mut fields = vec!["FAIL", id.as_str()];
    fields.extend(user.as_deref());
    fields.extend(code.as_deref());
    fields.push(&reason);
    line(&fields)
}

/// `CONT\t<id>\t<base64>`: the next SASL challenge.
pub fn cont(id: u32, challenge: &[u8]) -> String {
    use base64::Engine as _;
    line(&["CONT", &id.to_string(), &base64::engine::general_purpose::STANDARD.encode(challenge)])
}

/// `USER\t<id>\t<account>\t<key>=<value>…`: the userdb answer.
pub fn user(id: u32, account: &str, fields: &BTreeMap<String, String>) -> String {
    let id = id.to_string();
    let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut all = vec!["USER", id.as_str(), account];
    all.extend(pairs.iter().map(String::as_str));
    line(&all)
}

/// `NOTFOUND\t<id>`.
pub fn not_found(id: u32) -> String {
    line(&["NOTFOUND", &id.to_string()])
}

/// `FAIL\t<id>\treason=…` (auth-master: a temporary failure of the lookup).
pub fn master_fail(id: u32, reason: &str) -> String {
    line(&["FAIL", &id.to_string(), &format!("reason={reason}")])
}

/// `LIST\t<id>\t<user>`, one per listed user.
pub fn list_entry(id: u32, user: &str) -> String {
    line(&["LIST", &id.to_string(), user])
}

/// `DONE\t<id>` (or `DONE\t<id>\tfail`): the end of a listing.
pub fn list_done(id: u32, failed: bool) -> String {
    if failed { line(&["DONE", &id.to_string(), "fail"]) } else { line(&["DONE", &id.to_string()]) }
}

/// `OK\t<id>\t0`: a cache flush (dirconn keeps no Dovecot-side cache: nothing was flushed).
pub fn flushed(id: u32) -> String {
    line(&["OK", &id.to_string(), "0"])
}

/// The longest `LIST` mask taken; a longer one matches nothing.
pub const MAX_MASK: usize = 256;

/// Whether `name` matches a `LIST` mask: `*` any run, `?` one character, case-insensitive. Iterative, with
/// backtracking only to the last `*`: O(mask × name), whatever the mask (a mask of many stars cannot stall
/// the service).
pub fn mask_matches(mask: &str, name: &str) -> bool {
    if mask.len() > MAX_MASK {
        return false;
    }
    let fold = |s: &str| -> Vec<char> { s.chars().flat_map(char::to_lowercase).collect() };
    let (m, n) = (fold(mask), fold(name));
    let (mut mi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if mi < m.len() && (m[mi] == '?' || (m[mi] != '*' && m[mi] == n[ni])) {
            mi += 1;
            ni += 1;
        } else if mi < m.len() && m[mi] == '*' {
            star = Some((mi, ni));
            mi += 1;
        } else if let Some((smi, sni)) = star {
            mi = smi + 1;
            ni = sni + 1;
            star = Some((smi, sni + 1));
        } else {
            return false;
        }
    }
    m[mi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_in_linear_time() {
        for (mask, name, want) in [
            ("*@example.org", "alice@example.org", true),
            ("a?ice*", "ALICE@x", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("?", "", false),
        ] {
            assert_eq!(mask_matches(mask, name), want, "{mask} {name}");
        }
        let stars = format!("{}#", "*".repeat(200));
        // The old recursive match took exponential time here (the test would not finish).
        assert!(!mask_matches(&stars, "abcdefghijklmnopqrstuvwxyz"));
        assert!(!mask_matches(&"*".repeat(300), "a"), "over MAX_MASK");
    }

    #[test]
    fn escapes_round_trip() {
        for (raw, escaped) in [
            ("plain", "plain"),
            ("a\tb", "a\x01tb"),
            ("line\nbreak\r", "line\x01nbreak\x01r"),
            ("\x01", "\x011"),
            ("ünï\x01\t", "ünï\x011\x01t"),
            ("", ""),
        ] {
            assert_eq!(escape(raw), escaped, "{raw:?}");
            assert_eq!(unescape(escaped), raw, "{escaped:?}");
        }
        assert_eq!(unescape("a\x01xb\x01"), "axb", "an unknown escape stands for the character; a trailing one drops");
        assert_eq!(split("USER\t1\ta\x01tb"), ["USER", "1", "a\tb"]);
    }

    #[test]
    fn client_lines_parse() {
        let auth = |line: &str| match parse(line).unwrap() {
            Command::Auth(a) => a,
            other => panic!("{other:?}"),
        };
        let a = auth("AUTH\t7\tplain\tservice=smtp\tnologin\tlip=127.0.0.2\trip=10.1.2.3\tsecured\tresp=AGEAYg==");
        assert_eq!(
            (a.id, a.mechanism.as_str(), a.service.as_deref(), a.secured, a.initial.as_deref()),
            (7, "PLAIN", Some("smtp"), true, Some("AGEAYg=="))
        );
        assert!(a.nologin);
        assert_eq!((a.local_ip, a.client_ip), (Some("127.0.0.2".parse().unwrap()), Some("10.1.2.3".parse().unwrap())));
        assert!(!format!("{a:?}").contains("AGEAYg"), "the response is not in Debug");
        // Postfix sends empty addresses when it has none; 2.4 sends secured=tls or secured=.
        let b = auth("AUTH\t8\tLOGIN\tservice=smtp\tlip=\trip=[::1]\tsecured=tls");
        assert_eq!((b.local_ip, b.client_ip, b.secured, b.initial), (None, Some("::1".parse().unwrap()), true, None));
        assert!(!b.nologin);
        assert!(!auth("AUTH\t9\tPLAIN\tservice=imap\tsecured=").secured);
        assert_eq!(auth("AUTH\t9\tPLAIN").service, None);

        let cases: &[(&str, Result<Command, Malformed>)] = &[
            ("VERSION\t1\t2", Ok(Command::Version { major: 1 })),
            ("CPID\t4242", Ok(Command::Cpid)),
            ("CONT\t3\tYWxpY2U=", Ok(Command::Cont { id: 3, data: "YWxpY2U=".into() })),
            ("CONT\t3", Ok(Command::Cont { id: 3, data: String::new() })),
            ("CANCEL\t3", Ok(Command::Cancel { id: 3 })),
            (
                "USER\t1\talice@example.org\tservice=doveadm",
                Ok(Command::User { id: 1, user: "alice@example.org".into(), local_ip: None }),
            ),
            (
                "USER\t2\talice\tservice=doveadm\tlip=192.0.2.7",
                Ok(Command::User { id: 2, user: "alice".into(), local_ip: Some("192.0.2.7".parse().unwrap()) }),
            ),
            ("PASS\t1\talice\tservice=doveadm", Ok(Command::Pass { id: 1 })),
            ("LIST\t1\tuser=*\tservice=doveadm", Ok(Command::List { id: 1, mask: Some("*".into()) })),
            ("LIST\t1", Ok(Command::List { id: 1, mask: None })),
            ("CACHE-FLUSH\t4", Ok(Command::CacheFlush { id: 4 })),
            ("REQUEST\t1\t2\t3\tcookie", Ok(Command::Unknown("REQUEST".into()))),
            ("VERSION", Err(Malformed("VERSION without a major version"))),
            ("AUTH\tx\tPLAIN", Err(Malformed("the request id is missing or not a number"))),
            ("AUTH\t1", Err(Malformed("AUTH without a mechanism"))),
            ("USER\t1", Err(Malformed("USER without a user"))),
            ("CONT", Err(Malformed("the request id is missing or not a number"))),
        ];
        for (line, want) in cases {
            assert_eq!(&parse(line), want, "{line:?}");
        }
        assert!(!format!("{:?}", parse("CONT\t3\tc2VjcmV0").unwrap()).contains("c2VjcmV0"));
        assert_eq!(parse("USER\t1\tx").unwrap().is_master(), Some(true));
        assert_eq!(parse("CPID\t1").unwrap().is_master(), Some(false));
        assert_eq!(parse("VERSION\t1\t0").unwrap().is_master(), None);
    }

    #[test]
    fn replies_are_escaped_lines() {
        let cookie = "0123456789abcdef0123456789abcdef";
        let hs = client_handshake(10, 3, cookie);
        assert_eq!(
            hs,
            format!(
                "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t10\nCUID\t3\nCOOKIE\t{cookie}\nDONE\n"
            )
        );
        assert!(hs.find("MECH").unwrap() < hs.find("SPID").unwrap(), "Postfix wants MECH before SPID");
        assert_eq!(master_handshake(10), "VERSION\t1\t1\nSPID\t10\n");
        let cases: &[(String, &str)] = &[
            (ok(1, "alice@example.org"), "OK\t1\tuser=alice@example.org\n"),
            (fail(2, None, None, "Invalid login or password."), "FAIL\t2\treason=Invalid login or password.\n"),
            (
                fail(3, Some("bob"), Some("temp_fail"), "try\tlater"),
                "FAIL\t3\tuser=bob\tcode=temp_fail\treason=try\x01tlater\n",
            ),
            (cont(4, b"Username:"), "CONT\t4\tVXNlcm5hbWU6\n"),
            (cont(5, b""), "CONT\t5\t\n"),
            (
                user(
                    6,
                    "alice@example.org",
                    &BTreeMap::from([("home".into(), "/srv/a".into()), ("uid".into(), "500".into())]),
                ),
                "USER\t6\talice@example.org\thome=/srv/a\tuid=500\n",
            ),
            (not_found(7), "NOTFOUND\t7\n"),
            (master_fail(8, "down"), "FAIL\t8\treason=down\n"),
            (list_entry(9, "a@b"), "LIST\t9\ta@b\n"),
            (list_done(9, false), "DONE\t9\n"),
            (list_done(9, true), "DONE\t9\tfail\n"),
            (flushed(10), "OK\t10\t0\n"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn list_masks_match_like_dovecot() {
        for (mask, name, want) in [
            ("*", "alice@example.org", true),
            ("*@example.org", "alice@example.org", true),
            ("*@example.org", "alice@example.com", false),
            ("al?ce@*", "ALICE@example.org", true),
            ("alice", "alice@example.org", false),
            ("", "", true),
        ] {
            assert_eq!(mask_matches(mask, name), want, "{mask} {name}");
        }
    }
}
