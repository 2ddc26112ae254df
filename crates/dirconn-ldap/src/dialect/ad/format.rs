//! Active Directory's data formats: bind sub-codes, objectGUID and objectSid text forms, account state
//! from userAccountControl / accountExpires / pwdLastSet / lockoutTime, `unicodePwd` values, ranged
//! attribute names and the uSNChanged sync cookie. Pure functions; the engine calls them where the flavor
//! is Active Directory.

use std::fmt::Write as _;

use dirconn_abi::state;

/// The sub-code of an AD bind failure, from `… AcceptSecurityContext error, data 52e, v4563`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubCode {
    /// 525: the user does not exist (for the DC answering).
    UserNotFound,
    /// 52e: the password is wrong (or the user does not exist, where the DC will not say).
    InvalidCredentials,
    /// 530: not allowed to log in at this time (logon hours).
    LogonHours,
    /// 531: not allowed to log in from this workstation.
    Workstation,
    /// 532: the password has expired.
    PasswordExpired,
    /// 533: the account is disabled.
    AccountDisabled,
    /// 701: the account has expired.
    AccountExpired,
    /// 773: the password must be changed (reset by an administrator, or "must change at next logon").
    MustChangePassword,
    /// 775: the account is locked out.
    AccountLocked,
}

impl SubCode {
    /// Every sub-code with its hex form, as AD writes it.
    pub const ALL: [(SubCode, &'static str); 9] = [
        (SubCode::UserNotFound, "525"),
        (SubCode::InvalidCredentials, "52e"),
        (SubCode::LogonHours, "530"),
        (SubCode::Workstation, "531"),
        (SubCode::PasswordExpired, "532"),
        (SubCode::AccountDisabled, "533"),
        (SubCode::AccountExpired, "701"),
        (SubCode::MustChangePassword, "773"),
        (SubCode::AccountLocked, "775"),
    ];

    /// Reads the sub-code from a bind result's diagnostic text (trailing NUL and case ignored).
    pub fn parse(text: &str) -> Option<SubCode> {
        let text = text.trim_end_matches('\0');
        let (_, after) = text.split_once("data ")?;
        let code: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
        let code = code.to_ascii_lowercase();
        SubCode::ALL.iter().find(|(_, hex)| *hex == code).map(|(sub, _)| *sub)
    }

    /// The hex form (`52e`).
    pub fn hex(self) -> &'static str {
        SubCode::ALL.iter().find(|(sub, _)| *sub == self).map(|(_, hex)| *hex).unwrap_or("?")
    }
}

/// An objectGUID in the standard text form: the first three groups are little-endian in the 16 bytes
/// (`{d3c5e1a2-…}` without braces, lowercase), as AD tools show it.
pub fn guid_text(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let mut out = String::with_capacity(36);
    for i in [3, 2, 1, 0] {
        let _ = write!(out, "{:02x}", b[i]);
    }
    out.push('-');
    for i in [5, 4] {
        let _ = write!(out, "{:02x}", b[i]);
    }
    out.push('-');
    for i in [7, 6] {
        let _ = write!(out, "{:02x}", b[i]);
    }
    out.push('-');
    for byte in &b[8..10] {
        let _ = write!(out, "{byte:02x}");
    }
    out.push('-');
    for byte in &b[10..16] {
        let _ = write!(out, "{byte:02x}");
    }
    Some(out)
}

/// The 16 bytes of a GUID in text form (braces and case accepted): the inverse of [`guid_text`].
pub fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let text = text.trim().trim_start_matches('{').trim_end_matches('}');
    let groups: Vec<&str> = text.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let mut raw = [0u8; 16];
    for (i, byte) in raw.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let mut out = raw;
    out[0..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    out[4..6].copy_from_slice(&[raw[5], raw[4]]);
    out[6..8].copy_from_slice(&[raw[7], raw[6]]);
    Some(out)
}

/// The text form of AD's binary identity attributes (objectGUID, objectSid), for display and mapping.
pub fn binary_as_text(name: &str, value: &[u8]) -> Option<String> {
    if name.eq_ignore_ascii_case("objectGUID") {
        guid_text(value)
    } else if name.eq_ignore_ascii_case("objectSid") {
        sid_text(value)
    } else {
        None
    }
}

/// Bytes as an LDAP filter value (`\01\ab…`, RFC 4515), for binary attributes such as objectGUID.
pub fn filter_bytes(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 3), |mut s, b| {
        let _ = write!(s, "\\{b:02x}");
        s
    })
}

/// An objectSid in its text form (`S-1-5-21-…-1104`).
pub fn sid_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 8 {
        return None;
    }
    let count = usize::from(bytes[1]);
    if bytes.len() != 8 + 4 * count {
        return None;
    }
    let authority = bytes[2..8].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out = format!("S-{}-{authority}", bytes[0]);
    for chunk in bytes[8..].chunks_exact(4) {
        let sub = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let _ = write!(out, "-{sub}");
    }
    Some(out)
}

/// A SID of the same domain with another last part (RID): a user's SID and its primaryGroupID give the
/// primary group's SID.
pub fn sid_with_rid(sid: &[u8], rid: u32) -> Option<Vec<u8>> {
    sid_text(sid)?;
    if sid.len() < 12 {
        return None;
    }
    let mut out = sid.to_vec();
    let n = out.len();
    out[n - 4..].copy_from_slice(&rid.to_le_bytes());
    Some(out)
}

/// userAccountControl flags.
pub mod uac {
    /// The account is disabled.
    pub const ACCOUNTDISABLE: u32 = 0x2;
    /// The account is locked out (only in msDS-User-Account-Control-Computed on modern DCs).
    pub const LOCKOUT: u32 = 0x10;
    /// The password never expires.
    pub const DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;
    /// The password has expired (msDS-User-Account-Control-Computed).
    pub const PASSWORD_EXPIRED: u32 = 0x80_0000;
}

/// 100-ns intervals between 1601-01-01 and 1970-01-01 (Windows FILETIME epoch).
const FILETIME_UNIX_OFFSET: i64 = 116_444_736_000_000_000;

/// A FILETIME (accountExpires, pwdLastSet, lockoutTime) as Unix seconds; None for 0 and "never".
pub fn filetime_unix(value: i64) -> Option<i64> {
    if value <= 0 || value == i64::MAX {
        return None;
    }
    Some((value - FILETIME_UNIX_OFFSET) / 10_000_000)
}

/// What an AD entry says about its account, read from its attributes' text values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// userAccountControl ACCOUNTDISABLE.
    pub disabled: bool,
    /// The computed LOCKOUT flag (msDS-User-Account-Control-Computed, AD 2003 and later, Samba). lockoutTime
    /// alone proves nothing: it stays set after the lockout duration has run out, until the next logon.
    pub locked: bool,
    /// accountExpires in the past.
    pub account_expired: bool,
    /// The computed PASSWORD_EXPIRED flag.
    pub password_expired: bool,
    /// pwdLastSet = 0: must change at next logon.
    pub must_change: bool,
}

impl AccountState {
    /// Reads the state. `get` returns an attribute's first text value; `now` is Unix seconds.
    pub fn read(get: impl Fn(&str) -> Option<String>, now: i64) -> AccountState {
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<i64>().ok());
        let uac = num("userAccountControl").unwrap_or(0) as u32;
        let computed = num("msDS-User-Account-Control-Computed").map(|v| v as u32);
        AccountState {
            disabled: uac & uac::ACCOUNTDISABLE != 0,
            locked: computed.is_some_and(|f| f & uac::LOCKOUT != 0),
            account_expired: num("accountExpires").and_then(filetime_unix).is_some_and(|t| t <= now),
            password_expired: computed.is_some_and(|f| f & uac::PASSWORD_EXPIRED != 0),
            must_change: num("pwdLastSet") == Some(0),
        }
    }

    /// The state as the ABI's names ([`dirconn_abi::state`]).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.disabled, state::DISABLED),
            (self.locked, state::LOCKED),
            (self.account_expired, state::ACCOUNT_EXPIRED),
            (self.password_expired, state::PASSWORD_EXPIRED),
            (self.must_change, state::MUST_CHANGE_PASSWORD),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// A password as AD's `unicodePwd` wants it: in double quotes, UTF-16LE.
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A ranged attribute name `member;range=0-1499` → (`member`, start, end; None for `*`, the last range).
pub fn parse_range(name: &str) -> Option<(&str, u32, Option<u32>)> {
    let (base, options) = name.split_once(';')?;
    let range = options.split(';').find_map(|o| o.strip_prefix("range="))?;
    let (start, end) = range.split_once('-')?;
    let start = start.parse().ok()?;
    let end = if end == "*" { None } else { Some(end.parse().ok()?) };
    Some((base, start, end))
}

/// The state an uSNChanged sync resumes from: which DC it read, up to which USN, and when the last full
/// pass ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsnCookie {
    /// The DC's identity (its dsServiceName): USNs are per DC.
    pub dc: String,
    /// The DC's highestCommittedUSN when the pass began.
    pub usn: u64,
    /// Unix seconds of the last full pass.
    pub full_at: i64,
}

impl UsnCookie {
    const PREFIX: &'static str = "ad-usn-1";

    /// The bytes stored by the host.
    pub fn encode(&self) -> Vec<u8> {
        format!("{}\n{}\n{}\n{}", UsnCookie::PREFIX, self.usn, self.full_at, self.dc).into_bytes()
    }

    /// Reads a stored cookie; None for anything else (another connector's, an older format).
    pub fn decode(bytes: &[u8]) -> Option<UsnCookie> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.splitn(4, '\n');
        if lines.next()? != UsnCookie::PREFIX {
            return None;
        }
        let usn = lines.next()?.parse().ok()?;
        let full_at = lines.next()?.parse().ok()?;
        let dc = lines.next()?.to_owned();
        Some(UsnCookie { dc, usn, full_at })
    }
}

/// AD's answer to a password that breaks the domain's policy: `0000052D` with constraintViolation (19;
/// Samba, and Windows for a change) or unwillingToPerform (53; Windows for a reset, per MS-ADTS).
pub fn is_policy_refusal(rc: u32, text: &str) -> bool {
    matches!(rc, 19 | 53) && text.to_ascii_uppercase().contains("0000052D")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_codes_are_read_from_the_diagnostic() {
        let text = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 52e, v4563\0";
        assert_eq!(SubCode::parse(text), Some(SubCode::InvalidCredentials));
        for (sub, hex) in SubCode::ALL {
            let text =
                format!("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {hex}, v1db1\0");
            assert_eq!(SubCode::parse(&text), Some(sub), "{hex}");
            assert_eq!(sub.hex(), hex);
        }
        assert_eq!(SubCode::parse("AcceptSecurityContext error, data 52E, v893"), Some(SubCode::InvalidCredentials));
        assert_eq!(SubCode::parse("invalid credentials"), None);
        assert_eq!(SubCode::parse("data 999, v1"), None);
    }

    #[test]
    fn guids_round_trip_in_the_standard_text_form() {
        // The bytes of {d3c5e1a2-3b4c-4d5e-8f90-a1b2c3d4e5f6} as AD stores them.
        let bytes = [0xa2, 0xe1, 0xc5, 0xd3, 0x4c, 0x3b, 0x5e, 0x4d, 0x8f, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6];
        let text = guid_text(&bytes).unwrap();
        assert_eq!(text, "d3c5e1a2-3b4c-4d5e-8f90-a1b2c3d4e5f6");
        assert_eq!(guid_bytes(&text), Some(bytes));
        assert_eq!(guid_bytes("{D3C5E1A2-3B4C-4D5E-8F90-A1B2C3D4E5F6}"), Some(bytes));
        assert_eq!(guid_bytes("d3c5e1a2-3b4c-4d5e-8f90"), None);
        assert_eq!(guid_text(&bytes[..15]), None);
        assert_eq!(filter_bytes(&[0x00, 0x2a, 0xff]), "\\00\\2a\\ff");
    }

    #[test]
    fn sids_print_like_windows() {
        let sid = [
            1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0x15, 0xcd, 0x5b, 0x07, 0x1d, 0x9b, 0x1a, 0x2b, 0x55, 0x44, 0x33,
            0x22, 0x50, 0x04, 0, 0,
        ];
        let text = sid_text(&sid).unwrap();
        assert_eq!(text, "S-1-5-21-123456789-723163933-573785173-1104");
        let group = sid_with_rid(&sid, 513).unwrap();
        assert_eq!(sid_text(&group).unwrap(), "S-1-5-21-123456789-723163933-573785173-513");
        assert_eq!(sid_text(&sid[..10]), None);
    }

    #[test]
    fn account_state_is_read_from_the_attributes() {
        let now = 1_800_000_000;
        let at = |unix: i64| (unix * 10_000_000 + FILETIME_UNIX_OFFSET).to_string();
        let read = |pairs: &[(&str, String)]| {
            AccountState::read(|n| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone()), now)
        };
        assert_eq!(read(&[("userAccountControl", "512".into())]), AccountState::default());
        let s = read(&[("userAccountControl", "514".into()), ("pwdLastSet", "0".into())]);
        assert!(s.disabled && s.must_change);
        assert_eq!(s.names(), ["disabled", "must-change-password"]);
        assert!(read(&[("accountExpires", at(now - 10))]).account_expired);
        assert!(!read(&[("accountExpires", at(now + 10))]).account_expired);
        assert!(!read(&[("accountExpires", i64::MAX.to_string())]).account_expired);
        assert!(!read(&[("accountExpires", "0".into())]).account_expired);
        assert!(!read(&[("lockoutTime", at(now - 60))]).locked, "lockoutTime alone proves nothing");
        let computed = read(&[("msDS-User-Account-Control-Computed", "8388624".into())]);
        assert!(computed.locked && computed.password_expired);
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(unicode_pwd("ab"), [b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
        assert_eq!(unicode_pwd("é"), [b'"', 0, 0xe9, 0, b'"', 0]);
    }

    #[test]
    fn ranges_are_parsed() {
        assert_eq!(parse_range("member;range=0-1499"), Some(("member", 0, Some(1499))));
        assert_eq!(parse_range("member;range=1500-*"), Some(("member", 1500, None)));
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;binary"), None);
    }

    #[test]
    fn usn_cookies_round_trip() {
        let c = UsnCookie { dc: "CN=NTDS Settings,CN=DC1,…".into(), usn: 4711, full_at: 1_800_000_000 };
        assert_eq!(UsnCookie::decode(&c.encode()), Some(c));
        assert_eq!(UsnCookie::decode(b"\x01\x02"), None);
        assert!(is_policy_refusal(19, "0000052D: Constraint violation - check_password_restrictions"));
        assert!(is_policy_refusal(53, "0000052D: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM)"));
        assert!(!is_policy_refusal(49, "0000052D"));
    }
}
