//! The password policy control (draft-behera-ldap-password-policy), sent with every user bind.
//!
//! OpenLDAP's ppolicy overlay (and 389 DS, Oracle) answer a bind that carries the request control with a
//! response saying why the bind failed (locked, expired) or what the user must do (change after reset),
//! plus warnings (time before expiry, grace logins left).

use ldap3::{
    asn1::{PL, StructureTag, TagClass, parse_tag},
    controls::RawControl,
};

/// The OID of the password policy request and response controls.
pub const OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request control, with no value.
pub fn request() -> RawControl {
    RawControl { ctype: OID.to_owned(), crit: false, val: None }
}

/// The error a password policy response can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// The password has expired.
    PasswordExpired,
    /// The account is locked.
    AccountLocked,
    /// The password was reset and must be changed.
    ChangeAfterReset,
    /// Another value (password modify errors), kept by number.
    Other(u8),
}

impl PolicyError {
    /// The name the draft gives it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyError::PasswordExpired => "passwordExpired",
            PolicyError::AccountLocked => "accountLocked",
            PolicyError::ChangeAfterReset => "changeAfterReset",
            PolicyError::Other(_) => "other password policy error",
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Response {
    /// Seconds before the password expires.
    pub time_before_expiration: Option<u64>,
    /// Grace logins left after expiry.
    pub grace_logins_remaining: Option<u64>,
    /// The error, if any.
    pub error: Option<PolicyError>,
}

/// Finds and parses the response among a result's controls; `None` when absent or malformed.
pub fn find(ctrls: &[ldap3::controls::Control]) -> Option<Response> {
    ctrls.iter().find(|c| c.1.ctype == OID).and_then(|c| c.1.val.as_deref()).and_then(parse)
}

/// Parses the BER value: `SEQUENCE { warning [0] CHOICE {[0] INT, [1] INT} OPTIONAL, error [1] ENUM OPTIONAL }`.
pub fn parse(value: &[u8]) -> Option<Response> {
    let (_, tag) = parse_tag(value).ok()?;
    let mut response = Response::default();
    for item in tag.expect_constructed()? {
        match (item.class, item.id) {
            (TagClass::Context, 0) => {
                if let PL::C(inner) = item.payload {
                    for warning in inner {
                        let n = uint(&warning)?;
                        match warning.id {
                            0 => response.time_before_expiration = Some(n),
                            1 => response.grace_logins_remaining = Some(n),
                            _ => {}
                        }
                    }
                }
            }
            (TagClass::Context, 1) => {
                let n = uint(&item)?;
                response.error = Some(match n {
                    0 => PolicyError::PasswordExpired,
                    1 => PolicyError::AccountLocked,
                    2 => PolicyError::ChangeAfterReset,
                    other => PolicyError::Other(u8::try_from(other).unwrap_or(u8::MAX)),
                });
            }
            _ => {}
        }
    }
    Some(response)
}

fn uint(tag: &StructureTag) -> Option<u64> {
    match &tag.payload {
        PL::P(bytes) if bytes.len() <= 8 => Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_answers_openldap_sends() {
        assert_eq!(parse(&[0x30, 0x03, 0x81, 0x01, 0x02]).unwrap().error, Some(PolicyError::ChangeAfterReset));
        assert_eq!(parse(&[0x30, 0x03, 0x81, 0x01, 0x01]).unwrap().error, Some(PolicyError::AccountLocked));
        let warn = parse(&[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x01, 0x00]).unwrap();
        assert_eq!(warn.time_before_expiration, Some(256));
        assert_eq!(warn.error, None);
        assert_eq!(parse(&[0x30, 0x00]).unwrap(), Response::default());
        assert!(parse(&[0x04]).is_none());
    }
}
