//! The SASL mechanisms served, PLAIN (RFC 4616) and LOGIN, as step machines over base64 responses. Pure:
//! what comes out is a challenge to send, the credentials to check, or why the exchange failed.

use base64::Engine as _;
use zeroize::Zeroizing;

/// A mechanism the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`: `authzid NUL authcid NUL password` in one response.
    Plain,
    /// `LOGIN`: the user name, then the password, each after a challenge.
    Login,
}

impl Mechanism {
    /// The mechanism of a name (already upper-cased), if served.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }
}

/// Why an exchange failed before any check of the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// A response is not base64.
    Base64,
    /// A PLAIN response does not have its three parts, or a part is not UTF-8.
    Malformed,
    /// PLAIN names an authorization identity other than the login (dirconn has no master users).
    Authzid,
}

impl SaslError {
    /// The `code=` of the `FAIL` line, if any.
    pub fn code(self) -> Option<&'static str> {
        match self {
            SaslError::Authzid => Some("authz_fail"),
            SaslError::Base64 | SaslError::Malformed => None,
        }
    }

    /// The `reason=` of the `FAIL` line.
    pub fn reason(self) -> &'static str {
        match self {
            SaslError::Base64 => "Invalid base64 data in the response.",
            SaslError::Malformed => "Invalid authentication data.",
            SaslError::Authzid => "Logging in as another user is not allowed.",
        }
    }
}

/// What an exchange does next.
#[derive(PartialEq)]
pub enum Step {
    /// Send this challenge (`CONT`) and wait for the client's response.
    Challenge(&'static [u8]),
    /// The exchange is complete: check these credentials.
    Credentials {
        /// The login as sent.
        login: String,
        /// The password. Never logged.
        password: Zeroizing<String>,
    },
    /// The exchange failed.
    Fail(SaslError),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Challenge(c) => write!(f, "Challenge({:?})", String::from_utf8_lossy(c)),
            Step::Credentials { login, .. } => write!(f, "Credentials({login:?}, <redacted>)"),
            Step::Fail(e) => write!(f, "Fail({e:?})"),
        }
    }
}

/// The LOGIN mechanism's challenges, as Dovecot and Cyrus send them.
pub const USERNAME: &[u8] = b"Username:";
/// The second LOGIN challenge.
pub const PASSWORD: &[u8] = b"Password:";

enum Stage {
    Start,
    Plain,
    LoginUser,
    LoginPassword(String),
    Finished,
}

/// One SASL exchange.
pub struct Exchange {
    mechanism: Mechanism,
    stage: Stage,
}

/// Decodes a base64 response; `=` is an empty one (RFC 4954's empty initial response).
pub fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>, SaslError> {
    if text == "=" {
        return Ok(Zeroizing::new(Vec::new()));
    }
    base64::engine::general_purpose::STANDARD.decode(text).map(Zeroizing::new).map_err(|_| SaslError::Base64)
}

/// Splits a PLAIN response into the login and the password. The authorization identity must be empty or
/// the login itself (doveadm sends `alice NUL alice NUL password`).
pub fn plain(data: &[u8]) -> Result<(String, Zeroizing<String>), SaslError> {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned).map_err(|_| SaslError::Malformed);
    let login = text(authcid)?;
    let authzid = text(authzid)?;
    let password = Zeroizing::new(text(password)?);
    if !authzid.is_empty() && authzid != login {
        return Err(SaslError::Authzid);
    }
    Ok((login, password))
}

impl Exchange {
    /// A new exchange.
    pub fn new(mechanism: Mechanism) -> Exchange {
        Exchange { mechanism, stage: Stage::Start }
    }

    /// Begins with the `resp=` of `AUTH`, if sent.
    pub fn start(&mut self, initial: Option<&str>) -> Step {
        let data = match initial.map(decode).transpose() {
            Ok(data) => data,
            Err(e) => return self.fail(e),
        };
        match (self.mechanism, data) {
            (Mechanism::Plain, Some(d)) => self.finish_plain(&d),
            (Mechanism::Plain, None) => {
                self.stage = Stage::Plain;
                Step::Challenge(b"")
            }
            // LOGIN's initial response, when there is one, is the user name.
            (Mechanism::Login, Some(d)) if !d.is_empty() => self.login_user(&d),
            (Mechanism::Login, _) => {
                self.stage = Stage::LoginUser;
                Step::Challenge(USERNAME)
            }
        }
    }

    /// Continues with the client's `CONT` response.
    pub fn next(&mut self, response: &str) -> Step {
        let data = match decode(response) {
            Ok(d) => d,
            Err(e) => return self.fail(e),
        };
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Plain => self.finish_plain(&data),
            Stage::LoginUser => self.login_user(&data),
            Stage::LoginPassword(login) => match std::str::from_utf8(&data) {
                Ok(p) => Step::Credentials { login, password: Zeroizing::new(p.to_owned()) },
                Err(_) => self.fail(SaslError::Malformed),
            },
            Stage::Start | Stage::Finished => self.fail(SaslError::Malformed),
        }
    }

    fn finish_plain(&mut self, data: &[u8]) -> Step {
        self.stage = Stage::Finished;
        match plain(data) {
            Ok((login, password)) => Step::Credentials { login, password },
            Err(e) => Step::Fail(e),
        }
    }

    fn login_user(&mut self, data: &[u8]) -> Step {
        match std::str::from_utf8(data) {
            Ok(login) => {
                self.stage = Stage::LoginPassword(login.to_owned());
                Step::Challenge(PASSWORD)
            }
            Err(_) => self.fail(SaslError::Malformed),
        }
    }

    fn fail(&mut self, e: SaslError) -> Step {
        self.stage = Stage::Finished;
        Step::Fail(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    fn creds(login: &str, password: &str) -> Step {
        Step::Credentials { login: login.into(), password: Zeroizing::new(password.into()) }
    }

    #[test]
    fn plain_responses() {
        type Case<'a> = (&'a [u8], Result<(&'a str, &'a str), SaslError>);
        let cases: &[Case] = &[
            (b"\0alice\0secret", Ok(("alice", "secret"))),
            (b"alice\0alice\0secret", Ok(("alice", "secret"))),
            (b"\0alice@example.org\0p\0with nul", Ok(("alice@example.org", "p\0with nul"))),
            (b"\0alice\0", Ok(("alice", ""))),
            (b"admin\0alice\0secret", Err(SaslError::Authzid)),
            (b"alice\0secret", Err(SaslError::Malformed)),
            (b"\0al\xffice\0secret", Err(SaslError::Malformed)),
            (b"", Err(SaslError::Malformed)),
        ];
        for (data, want) in cases {
            let got = plain(data).map(|(l, p)| (l, p.to_string()));
            assert_eq!(got, want.map(|(l, p)| (l.to_owned(), p.to_owned())), "{data:?}");
        }
    }

    #[test]
    fn exchanges_step_through_their_challenges() {
        // (mechanism, initial response, then the CONT responses, and each step expected)
        type Case = (Mechanism, Option<String>, Vec<String>, Vec<Step>);
        let cases: Vec<Case> = vec![
            (Mechanism::Plain, Some(b64(b"\0alice\0pw")), vec![], vec![creds("alice", "pw")]),
            (Mechanism::Plain, None, vec![b64(b"\0alice\0pw")], vec![Step::Challenge(b""), creds("alice", "pw")]),
            (Mechanism::Plain, Some("=".into()), vec![], vec![Step::Fail(SaslError::Malformed)]),
            (Mechanism::Plain, Some("not base64!".into()), vec![], vec![Step::Fail(SaslError::Base64)]),
            (
                Mechanism::Login,
                None,
                vec![b64(b"alice"), b64(b"pw")],
                vec![Step::Challenge(USERNAME), Step::Challenge(PASSWORD), creds("alice", "pw")],
            ),
            (
                Mechanism::Login,
                Some(b64(b"alice")),
                vec![b64(b"pw")],
                vec![Step::Challenge(PASSWORD), creds("alice", "pw")],
            ),
            (
                Mechanism::Login,
                Some("=".into()),
                vec![b64(b"bob"), b64(b"")],
                vec![Step::Challenge(USERNAME), Step::Challenge(PASSWORD), creds("bob", "")],
            ),
            (
                Mechanism::Login,
                None,
                vec!["%%%".into()],
                vec![Step::Challenge(USERNAME), Step::Fail(SaslError::Base64)],
            ),
        ];
        for (mechanism, initial, responses, want) in cases {
            let mut ex = Exchange::new(mechanism);
            let mut got = vec![ex.start(initial.as_deref())];
            for r in &responses {
                got.push(ex.next(r));
            }
            assert_eq!(got, want, "{mechanism:?} {initial:?}");
        }
        let mut done = Exchange::new(Mechanism::Plain);
        let _ = done.start(Some(&b64(b"\0a\0b")));
        assert_eq!(
            done.next(&b64(b"\0a\0b")),
            Step::Fail(SaslError::Malformed),
            "a finished exchange takes nothing more"
        );
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
        assert_eq!(SaslError::Authzid.code(), Some("authz_fail"));
    }
}
