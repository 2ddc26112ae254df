//! nginx's mail `auth_http`: the request's `Auth-*` headers as the service reads them, and the headers it
//! answers with.

use dirconn_service::http::fuzzing::{Unreadable, nginx_answer, nginx_request, percent_decode, status_text};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A header block as hyper hands it over: parsed by httparse, each name and value taken as it came.
fn headers(block: &[u8]) -> Option<HeaderMap> {
    let mut block = block.to_vec();
    if !block.ends_with(b"\r\n\r\n") {
        block.extend_from_slice(b"\r\n\r\n");
    }
    let mut raw = [httparse::EMPTY_HEADER; 32];
    let httparse::Status::Complete((_, parsed)) = httparse::parse_headers(&block, &mut raw).ok()? else {
        return None;
    };
    let mut map = HeaderMap::new();
    for h in parsed.iter() {
        map.append(HeaderName::from_bytes(h.name.as_bytes()).ok()?, HeaderValue::from_bytes(h.value).ok()?);
    }
    Some(map)
}

/// `%XX` as nginx writes it (`ngx_escape_uri` for mail auth: `%`, space, control bytes); with `all`, every
/// byte, which the service must read alike.
fn escape(bytes: &[u8], all: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if all || b <= b' ' || b == b'%' || b == 0x7f {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// `%XX` escapes undone (a malformed one kept as written): the fuzz target's own reading.
fn unescape(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn text(map: &HeaderMap, name: &str) -> Option<String> {
    map.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A header block (the input before its first NUL) read as the route reads it: the protocol, the login
/// and the password are the headers' values decoded, each address is parsed or left out, and only
/// `plain` and `login` are checked. A login and password (the rest, split at the next NUL) escaped as
/// nginx escapes them come back exactly. The answer carries every value given, without its control
/// characters.
pub fn nginx_headers(data: &[u8]) {
    let (block, rest) = crate::two(data);
    if let Some(map) = headers(block) {
        let (protocol, attempt) = nginx_request(&map);
        assert_eq!(protocol, text(&map, "auth-protocol").unwrap_or_else(|| "imap".into()).to_ascii_lowercase());
        let method = text(&map, "auth-method").unwrap_or_else(|| "plain".into()).to_ascii_lowercase();
        let password = unescape(map.get("auth-pass").map_or(&[][..], |v| v.as_bytes()));
        match attempt {
            Ok(a) => {
                assert!(matches!(method.as_str(), "plain" | "login"), "{method:?} checked");
                assert_eq!(a.password.as_bytes(), password, "Auth-Pass");
                assert_eq!(a.login, percent_decode(&text(&map, "auth-user").unwrap_or_default()), "Auth-User");
                assert_eq!(a.service, protocol);
                assert_eq!(a.client_ip, text(&map, "client-ip").and_then(|ip| ip.parse().ok()));
                assert_eq!(a.local_ip, text(&map, "x-local-ip").and_then(|ip| ip.parse().ok()));
                assert!(format!("{a:?}").contains("password: \"<redacted>\""), "the password in {a:?}");
            }
            Err(Unreadable::Method(m)) => assert!(m == method && !matches!(m.as_str(), "plain" | "login"), "{m}"),
            Err(Unreadable::Password) => assert!(String::from_utf8(password).is_err(), "a UTF-8 password refused"),
        }
    }

    let (login, password) = crate::two(rest);
    let login = String::from_utf8_lossy(login);
    for all in [false, true] {
        let mut map = HeaderMap::new();
        let value = |b: Vec<u8>| HeaderValue::from_bytes(&b).expect("an escaped value is a header value");
        map.insert("auth-user", value(escape(login.as_bytes(), all)));
        map.insert("auth-pass", value(escape(password, all)));
        map.insert("auth-protocol", HeaderValue::from_static("IMAP"));
        map.insert("auth-method", HeaderValue::from_static("PLAIN"));
        match nginx_request(&map) {
            (protocol, Ok(a)) => {
                assert_eq!(protocol, "imap");
                assert_eq!((a.login.as_str(), a.password.as_bytes()), (&*login, password), "escaped with all={all}");
            }
            (_, Err(e)) => assert!(e == Unreadable::Password && std::str::from_utf8(password).is_err(), "{e:?}"),
        }
    }

    let pairs = [
        ("auth-status", status_text("imap", &login, false)),
        ("auth-user", login.to_string()),
        ("auth-wait", String::from_utf8_lossy(password).into_owned()),
    ];
    let response = nginx_answer(&pairs);
    assert_eq!(response.status(), 200);
    for (name, value) in &pairs {
        let clean: String = value.chars().filter(|c| !c.is_control()).collect();
        let sent = response.headers().get(*name).map(HeaderValue::as_bytes);
        assert_eq!(sent, Some(clean.as_bytes()), "{name}: {value:?}");
    }
    for (protocol, code) in [("imap", "[AUTHENTICATIONFAILED] "), ("pop3", "[AUTH] "), ("smtp", "")] {
        assert_eq!(status_text(protocol, &login, false), format!("{code}{login}"));
    }
}
