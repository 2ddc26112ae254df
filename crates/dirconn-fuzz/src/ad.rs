//! Active Directory's bind diagnostics (`…AcceptSecurityContext error, data 52e, v4563`) as the dialect reads
//! them into refusals and service-bind verdicts, the password policy response control of the other
//! dialects, and AD's data formats (objectGUID, objectSid, ranged names, the uSNChanged cookie).

use std::collections::HashMap;

use dirconn_ldap::{
    ad::{SubCode, UsnCookie, guid_bytes, guid_text, parse_range, sid_text, sid_with_rid},
    dialect::{ActiveDirectory, Generic, Verdict},
};
use ldap3::{LdapResult, SearchEntry, controls::Control, controls::RawControl};

/// The OID of the password policy response control.
const PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The result codes a bind answers with, picked by the input's first byte.
const CODES: [u32; 8] = [0, 49, 19, 53, 48, 51, 52, 32];

fn result(rc: u32, text: &str, policy: Option<&[u8]>) -> LdapResult {
    let ctrls = policy
        .map(|v| Control(None, RawControl { ctype: PPOLICY.into(), crit: false, val: Some(v.to_vec()) }))
        .into_iter()
        .collect();
    LdapResult { rc, matched: String::new(), text: text.to_owned(), refs: Vec::new(), ctrls }
}

fn well_formed(code: &str) -> bool {
    code.len() == 6 && code.starts_with("DC-") && code[3..].bytes().all(|b| b.is_ascii_digit())
}

/// The diagnostic text (the input after its first byte, before the first NUL) read for its sub-code:
/// what is found is what follows the first `data `; the same text with each sub-code spliced in after
/// it is read as that sub-code; the AD dialect turns a failed bind into the sub-code's error and a
/// service bind into the verdict its table says. The bytes after the NUL are a password policy control
/// for the generic dialect, and AD's binary formats.
pub fn ad_diagnostic(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    let (text, binary) = crate::two(rest);
    let text = String::from_utf8_lossy(text);
    let rc = CODES[usize::from(first) % CODES.len()];

    let found = SubCode::parse(&text);
    if let Some(sub) = found {
        let after = text.trim_end_matches('\0').split_once("data ").map(|(_, a)| a.to_ascii_lowercase());
        let after = after.expect("a sub-code follows `data `");
        assert!(after.starts_with(sub.hex()), "{sub:?} read from {text:?}");
        assert!(!after[sub.hex().len()..].starts_with(|c: char| c.is_ascii_hexdigit()), "{text:?}");
    }
    let before = text.split("data ").next().unwrap_or_default();
    for (sub, hex) in SubCode::ALL {
        for hex in [hex.to_owned(), hex.to_ascii_uppercase()] {
            let spliced = format!("{before}data {hex}, v4563\0");
            assert_eq!(SubCode::parse(&spliced), Some(sub), "{spliced:?}");
        }
    }

    let dn = "CN=Jürgen Müller,CN=Users,DC=example,DC=test";
    let entry = SearchEntry { dn: dn.into(), attrs: HashMap::new(), bin_attrs: HashMap::new() };
    let ad = ActiveDirectory::new_dialect();
    let answer = result(rc, &text, None);
    match ad.user_bind(dn, &answer, &entry) {
        Ok(_) => assert_eq!(rc, 0, "a failed bind ({rc}, {text:?}) let the user in"),
        Err(err) => {
            assert_ne!(rc, 0, "a good bind refused: {err}");
            assert!(well_formed(err.code()), "{}", err.code());
            if let Some(sub) = found {
                let want = dirconn_ldap::Error::from_sub_code(sub, dn.into(), String::new());
                assert_eq!(err.code(), want.code(), "{sub:?} in {text:?}");
            }
        }
    }
    match (rc, found, ad.service_bind(dn, &answer)) {
        (0, _, Verdict::Bound) => {}
        (49, None | Some(SubCode::InvalidCredentials | SubCode::AccountLocked), Verdict::Rejected { .. }) => {}
        (49, Some(SubCode::InvalidCredentials | SubCode::AccountLocked) | None, v) => panic!("{text:?}: {v:?}"),
        (0, _, v) | (_, _, v @ (Verdict::Bound | Verdict::Rejected { .. })) => panic!("{rc} {text:?}: {v:?}"),
        (_, _, Verdict::Failed(err)) => assert!(well_formed(err.code()), "{}", err.code()),
    }

    // The generic dialect with a password policy response control of any bytes.
    let generic = Generic::new_dialect();
    let answer = result(rc, &text, Some(binary));
    if let Err(err) = generic.user_bind(dn, &answer, &entry) {
        assert!(well_formed(err.code()), "{}", err.code());
    }
    if let Verdict::Failed(err) = generic.service_bind(dn, &answer) {
        assert!(well_formed(err.code()), "{}", err.code());
    }

    // AD's formats.
    if let Ok(bytes) = <[u8; 16]>::try_from(binary.get(..16).unwrap_or_default()) {
        let text = guid_text(&bytes).expect("16 bytes are a GUID");
        assert_eq!(guid_bytes(&text), Some(bytes), "{text}");
        assert_eq!(guid_bytes(&format!("{{{}}}", text.to_ascii_uppercase())), Some(bytes), "{text}");
    }
    if let Some(bytes) = guid_bytes(&text) {
        assert_eq!(guid_bytes(&guid_text(&bytes).expect("a GUID")), Some(bytes), "{text:?}");
    }
    if let Some(sid) = sid_text(binary) {
        assert!(sid.starts_with("S-"), "{sid}");
        if let Some(group) = sid_with_rid(binary, 513) {
            let group = sid_text(&group).expect("a SID with another RID is a SID");
            assert!(group.ends_with("-513"), "{group}");
            assert_eq!(sid.rsplit_once('-').map(|s| s.0), group.rsplit_once('-').map(|g| g.0), "{sid} {group}");
        }
    }
    if let Some(cookie) = UsnCookie::decode(binary) {
        assert_eq!(UsnCookie::decode(&cookie.encode()), Some(cookie.clone()), "{cookie:?}");
    }
    if let Some((base, start, end)) = parse_range(&text) {
        assert!(text.starts_with(&format!("{base};")), "{text:?}");
        let range = format!("{start}-{}", end.map_or("*".into(), |e| e.to_string()));
        assert_eq!(parse_range(&format!("{base};range={range}")), Some((base, start, end)), "{text:?}");
    }
}
