//! Dovecot's auth protocol: the lines a client sends, the 0x01 escapes, the reply lines, the SASL
//! exchanges an `AUTH` starts and the `LIST` masks.

use std::collections::BTreeMap;

use base64::Engine as _;
use dirconn_service::dovecot::{
    protocol::{self, Command},
    sasl::{self, Exchange, Mechanism, Step},
};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A reply is one line: it ends in its only LF and splits back into the fields it was built from.
fn one_line(reply: &str, fields: &[&str]) {
    let line = reply.strip_suffix('\n').unwrap_or_else(|| panic!("{reply:?} does not end in LF"));
    assert!(!line.contains(['\n', '\r']), "{reply:?} is more than one line");
    assert_eq!(protocol::split(line), fields, "{reply:?}");
}

/// Runs an exchange over the responses and checks what it hands over against the responses themselves.
fn exchange(mechanism: Mechanism, initial: Option<&str>, responses: &[&str]) {
    let mut ex = Exchange::new(mechanism);
    let mut sent: Vec<&str> = initial.into_iter().collect();
    let mut step = ex.start(initial);
    let mut next = responses.iter();
    while let Step::Challenge(_) = step {
        let Some(response) = next.next() else { return };
        sent.push(response);
        step = ex.next(response);
    }
    let Step::Credentials { login, password } = step else { return };
    let decoded: Vec<Vec<u8>> =
        sent.iter().map(|s| sasl::decode(s).expect("a response taken is base64").to_vec()).collect();
    match mechanism {
        Mechanism::Plain => {
            let last = decoded.last().expect("PLAIN takes one response");
            let parts: Vec<&[u8]> = last.splitn(3, |b| *b == 0).collect();
            assert_eq!(parts.len(), 3, "{parts:?}");
            assert!(parts[0].is_empty() || parts[0] == login.as_bytes(), "authzid {:?}", parts[0]);
            assert_eq!((parts[1], parts[2]), (login.as_bytes(), password.as_bytes()));
        }
        Mechanism::Login => {
            let n = decoded.len();
            assert!(n >= 2, "LOGIN takes a user and a password");
            assert_eq!(decoded[n - 1], password.as_bytes(), "the password is the last response");
            assert_eq!(decoded[n - 2], login.as_bytes(), "the login is the one before");
        }
    }
}

/// Each input line: it parses or is refused without a panic; its fields, escaped and joined again, split
/// back into the same fields; an `AUTH` line starts the exchange its mechanism names, continued by the
/// following `CONT` lines; the reply builders given its fields make one line each; the PLAIN and LOGIN
/// exchanges hand over exactly the login and password they were given; `LIST` masks match.
pub fn dovecot_auth(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let fields = protocol::split(line);
        let escaped: Vec<String> = fields.iter().map(|f| protocol::escape(f)).collect();
        assert!(escaped.iter().all(|e| !e.contains(['\t', '\n', '\r'])), "{escaped:?}");
        assert_eq!(protocol::split(&escaped.join("\t")), fields, "{line:?}");
        assert_eq!(protocol::unescape(&protocol::escape(line)), *line, "{line:?}");

        let command = protocol::parse(line);
        if let Ok(Command::Auth(auth)) = &command {
            assert_eq!(auth.mechanism, auth.mechanism.to_uppercase());
            assert!(!auth.mechanism.is_empty() && auth.service.as_ref().is_none_or(|s| !s.is_empty()));
            if let Some(mechanism) = Mechanism::from_name(&auth.mechanism) {
                // The exchange goes on with the `CONT` lines of this request that follow.
                let conts: Vec<String> = lines[i + 1..]
                    .iter()
                    .filter_map(|l| match protocol::parse(l) {
                        Ok(Command::Cont { id, data }) if id == auth.id => Some(data),
                        _ => None,
                    })
                    .take(3)
                    .collect();
                let conts: Vec<&str> = conts.iter().map(String::as_str).collect();
                exchange(mechanism, auth.initial.as_deref(), &conts);
            }
        }
        if let Ok(command) = &command {
            let _ = (command.is_master(), format!("{command:?}"));
        }

        // Replies carrying the line's fields as values.
        let value = |n: usize| fields.get(n).map_or("", String::as_str);
        let (a, b, c) = (value(0), value(1), value(2));
        one_line(&protocol::ok(7, a), &["OK", "7", &format!("user={a}")]);
        one_line(
            &protocol::fail(7, Some(a), Some(b), c),
            &["FAIL", "7", &format!("user={a}"), &format!("code={b}"), &format!("reason={c}")],
        );
        one_line(&protocol::fail(7, None, None, a), &["FAIL", "7", &format!("reason={a}")]);
        let userdb = BTreeMap::from([(b.to_owned(), c.to_owned())]);
        one_line(&protocol::user(7, a, &userdb), &["USER", "7", a, &format!("{b}={c}")]);
        one_line(&protocol::list_entry(7, a), &["LIST", "7", a]);
        one_line(&protocol::master_fail(7, a), &["FAIL", "7", &format!("reason={a}")]);
        one_line(&protocol::cont(7, a.as_bytes()), &["CONT", "7", &b64(a.as_bytes())]);

        // PLAIN and LOGIN with the fields as login and password.
        if !a.contains('\0') {
            let given = |step: Step| match step {
                Step::Credentials { login, password } => (login, (*password).clone()),
                other => panic!("{a:?} / {b:?}: {other:?}"),
            };
            let plain = b64(format!("\0{a}\0{b}").as_bytes());
            assert_eq!(given(Exchange::new(Mechanism::Plain).start(Some(&plain))), (a.to_owned(), b.to_owned()));
            let plain = b64(format!("{a}\0{a}\0{b}").as_bytes());
            let mut ex = Exchange::new(Mechanism::Plain);
            assert_eq!(ex.start(None), Step::Challenge(b""));
            assert_eq!(given(ex.next(&plain)), (a.to_owned(), b.to_owned()));
            if !a.is_empty() {
                let mut ex = Exchange::new(Mechanism::Login);
                assert_eq!(ex.start(Some(&b64(a.as_bytes()))), Step::Challenge(sasl::PASSWORD));
                assert_eq!(given(ex.next(&b64(b.as_bytes()))), (a.to_owned(), b.to_owned()));
            }
        }

        // LIST masks: linear, and a name matches itself and `*`.
        let _ = protocol::mask_matches(a, b);
        assert!(protocol::mask_matches("*", a), "{a:?}");
        if a.len() <= protocol::MAX_MASK && !a.contains(['*', '?']) {
            assert!(protocol::mask_matches(a, a), "{a:?}");
            assert!(protocol::mask_matches(&a.to_ascii_uppercase(), a), "{a:?} in capitals");
        }
    }
}
