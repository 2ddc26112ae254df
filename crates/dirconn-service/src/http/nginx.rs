//! nginx's mail `auth_http`: `GET /v1/nginx/auth` with nginx's `Auth-*` headers, answered as nginx expects
//! (always HTTP 200): `Auth-Status: OK` with the backend's `Auth-Server`/`Auth-Port` and the canonical login
//! in `Auth-User`; a denial with the user's message and `Auth-Wait`; a temporary failure with `Auth-Wait` and,
//! for SMTP, `Auth-Error-Code: 451 4.3.0`. IMAP and POP3 texts start with their protocol's response code
//! ([`status_text`]). nginx waits `Auth-Wait` seconds before it sends a failure, then lets the client try
//! again on the same connection (without `Auth-Wait` it closes the connection at once).

use axum::{
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use super::{AppState, MailServer};
use crate::core::{Attempt, Interface, Verdict};

/// What a user whose login cannot be checked is told.
const INVALID: &str = dirconn_host::messages::INVALID;

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(nginx_auth))
}

/// Decodes `%XX` escapes (nginx escapes `%`, spaces and control characters in `Auth-User` and `Auth-Pass`);
/// a malformed escape is kept as written.
pub fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(text.as_bytes())).into_owned()
}

/// The bytes `%XX` escapes stand for (a malformed escape is kept as written).
fn percent_decode_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
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

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// nginx's answer: HTTP 200 and `Auth-*` headers.
pub(super) fn answer(pairs: &[(&'static str, String)]) -> Response {
    let mut response = StatusCode::OK.into_response();
    for (name, value) in pairs {
        // A value with bytes a header cannot carry is sent without them.
        let clean: String = value.chars().filter(|c| !c.is_control()).collect();
        // UTF-8 as raw bytes (a canonical login like `jürgen@example.org` must reach the backend).
        if let Ok(v) = HeaderValue::from_bytes(clean.as_bytes()) {
            response.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    response
}

/// nginx mail proxy authentication (`auth_http`). Always HTTP 200 for nginx: the verdict is in the
/// `Auth-Status` header. Send the token with `auth_http_header Authorization "Bearer <token>"`.
#[utoipa::path(get, path = "/v1/nginx/auth", tag = "mail-server",
    params(
        ("Auth-User" = String, Header, description = "The login, %-escaped"),
        ("Auth-Pass" = String, Header, description = "The password, %-escaped"),
        ("Auth-Protocol" = String, Header, description = "imap, pop3 or smtp"),
        ("Client-IP" = Option<String>, Header, description = "The client's address"),
    ),
    responses(
        (status = 200, description = "The verdict in Auth-Status (OK, or the message for the user), with Auth-Server and \
            Auth-Port on success, Auth-Wait on failures, Auth-Error-Code for SMTP temporary failures"),
        (status = 401, description = "No valid token (DC-810)", body = dirconn_views::Refused),
    ))]
async fn nginx_auth(State(service): State<AppState>, _caller: MailServer, headers: HeaderMap) -> Response {
    let (protocol, attempt) = read_request(&headers);
    let wait = service.live().config.nginx.wait_seconds.to_string();
    let attempt = match attempt {
        Ok(attempt) => attempt,
        Err(unreadable) => {
            match unreadable {
                Unreadable::Method(method) => tracing::info!(
                    method,
                    "nginx sent a login whose method cannot be checked against a directory; refused"
                ),
                Unreadable::Password => {
                    tracing::info!("nginx sent a password that is not UTF-8; refused without asking the directory")
                }
            }
            return answer(&[("auth-status", status_text(&protocol, INVALID, false)), ("auth-wait", wait)]);
        }
    };
    let live = service.live();
    let nginx = &live.config.nginx;
    let backend = match protocol.as_str() {
        "pop3" => nginx.pop3,
        "smtp" => nginx.smtp,
        _ => nginx.imap,
    };
    // Without a backend a login could not be used: the password is not checked (nor audited as a success
    // the user never got).
    let Some(b) = backend else {
        tracing::error!(protocol, "nginx asked for a {protocol} backend and [service.nginx] has none");
        return temporary(&protocol, &wait);
    };
    match service.authenticate(attempt).await {
        Verdict::Accepted(a) => answer(&[
            ("auth-status", "OK".into()),
            ("auth-server", b.ip().to_string()),
            ("auth-port", b.port().to_string()),
            ("auth-user", a.account.clone()),
        ]),
        Verdict::Denied(r) => {
            answer(&[("auth-status", status_text(&protocol, &r.user_message, false)), ("auth-wait", wait)])
        }
        Verdict::Temporary(_) => temporary(&protocol, &wait),
        // nginx holds the client's connection for Auth-Wait before it may try again: the throttle's wait, at
        // most 30 s (a client held longer gives up, and the next attempt is held back again anyway).
        Verdict::Throttled(r, retry) => answer(&[
            ("auth-status", status_text(&protocol, &r.user_message, false)),
            ("auth-wait", retry.min(30).max(u64::from(nginx.wait_seconds)).to_string()),
        ]),
    }
}

/// Why a request's headers are refused before the directory is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// An `Auth-Method` other than `plain` or `login` (lowercased): a CRAM-MD5 or APOP digest bound as a
    /// password would be a sure failure that counts towards the directory's lockout.
    Method(String),
    /// An `Auth-Pass` that is not UTF-8 once decoded.
    Password,
}

/// nginx's `Auth-*` headers read: the protocol (lowercase, `imap` when left out) and the attempt, or why it
/// is refused.
pub(super) fn read_request(headers: &HeaderMap) -> (String, Result<Attempt, Unreadable>) {
    let protocol = header(headers, "auth-protocol").unwrap_or_else(|| "imap".into()).to_ascii_lowercase();
    let method = header(headers, "auth-method").unwrap_or_else(|| "plain".into()).to_ascii_lowercase();
    if !matches!(method.as_str(), "plain" | "login") {
        return (protocol, Err(Unreadable::Method(method)));
    }
    let raw_password = headers.get("auth-pass").map_or(&[][..], |v| v.as_bytes());
    let Ok(password) = String::from_utf8(percent_decode_bytes(raw_password)) else {
        return (protocol, Err(Unreadable::Password));
    };
    let attempt = Attempt {
        login: percent_decode(&header(headers, "auth-user").unwrap_or_default()),
        password: Zeroizing::new(password),
        service: protocol.clone(),
        client_ip: header(headers, "client-ip").and_then(|ip| ip.parse().ok()),
        local_ip: header(headers, "x-local-ip").and_then(|ip| ip.parse().ok()),
        secured: false,
        interface: Interface::Nginx,
    };
    (protocol, Ok(attempt))
}

fn temporary(protocol: &str, wait: &str) -> Response {
    let text = status_text(protocol, "Temporary server problem, try again later", true);
    let mut pairs = vec![("auth-status", text), ("auth-wait", wait.to_owned())];
    if protocol == "smtp" {
        pairs.push(("auth-error-code", "451 4.3.0".into()));
    }
    answer(&pairs)
}

/// The `Auth-Status` text of a failed login, with the response code mail clients act on: nginx sends it to an
/// IMAP client as `<tag> NO <text>` and to a POP3 client as `-ERR <text>` (measured with nginx 1.22), so without
/// `[UNAVAILABLE]` (RFC 5530) or `[SYS/TEMP]` (RFC 3206) a directory outage would read as a wrong password. SMTP
/// clients get `Auth-Error-Code` (nginx's default `535 5.7.0` for a refusal) before the text.
pub fn status_text(protocol: &str, message: &str, temporary: bool) -> String {
    let code = match (protocol, temporary) {
        ("imap", false) => "[AUTHENTICATIONFAILED] ",
        ("imap", true) => "[UNAVAILABLE] ",
        ("pop3", false) => "[AUTH] ",
        ("pop3", true) => "[SYS/TEMP] ",
        _ => "",
    };
    format!("{code}{message}")
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, status_text};

    #[test]
    fn nginx_escapes_are_decoded() {
        assert_eq!(percent_decode("a%20b%25c"), "a b%c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn failures_carry_the_code_of_their_protocol() {
        assert_eq!(status_text("imap", "Try later", true), "[UNAVAILABLE] Try later");
        assert_eq!(status_text("imap", "Wrong", false), "[AUTHENTICATIONFAILED] Wrong");
        assert_eq!(status_text("pop3", "Try later", true), "[SYS/TEMP] Try later");
        assert_eq!(status_text("smtp", "Try later", true), "Try later");
    }
}
