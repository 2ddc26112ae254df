//! Filter (RFC 4515) and DN (RFC 4514) escaping, and DNs compared by their meaning.
//!
//! The value under test is the input as text (invalid UTF-8 replaced, as a login would never reach the
//! escaper as bytes); for [`filter_escape`] the part after the first NUL is also tried as a filter template.

use std::borrow::Cow;

use dirconn_abi::{Ava, dc_components, dn_is_within, normalize_dn, parse_dn, split_rdns};
use dirconn_ldap::escape::{TemplateValues, check_template, dn_value, fill, filter_value};
use ldap3::asn1::Tag;

/// A parsed filter, as ldap3 hands it to the server.
#[derive(Debug, PartialEq)]
enum Shape {
    And(Vec<Shape>),
    Or(Vec<Shape>),
    Not(Box<Shape>),
    /// `attr=value` (equalityMatch), the value's bytes as the server gets them.
    Eq(Vec<u8>, Vec<u8>),
    /// Any other item (presence, substrings, ordering, extensible).
    Other,
}

fn shape(tag: &Tag) -> Shape {
    match tag {
        Tag::Sequence(s) if s.id == 0 => Shape::And(s.inner.iter().map(shape).collect()),
        Tag::Sequence(s) if s.id == 1 => Shape::Or(s.inner.iter().map(shape).collect()),
        Tag::ExplicitTag(t) if t.id == 2 => Shape::Not(Box::new(shape(&t.inner))),
        Tag::Sequence(s) if s.id == 3 => match s.inner.as_slice() {
            [Tag::OctetString(a), Tag::OctetString(v)] => Shape::Eq(a.inner.clone(), v.inner.clone()),
            _ => Shape::Other,
        },
        _ => Shape::Other,
    }
}

fn parsed(filter: &str) -> Shape {
    match ldap3::parse_filter(filter) {
        Ok(tag) => shape(&tag),
        Err(()) => panic!("ldap3 does not parse the filter {filter:?}"),
    }
}

fn eq(attr: &str, value: &str) -> Shape {
    Shape::Eq(attr.as_bytes().to_vec(), value.as_bytes().to_vec())
}

fn is_hex(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_hexdigit)
}

/// Filter values: escaped, they carry no `*`, `(`, `)`, NUL or control character and every `\` starts a
/// `\xx` escape; ldap3's parser and unescaper give the value back; filled into templates they never
/// change the filter's structure.
pub fn filter_escape(data: &[u8]) {
    let (value, template) = crate::two(data);
    let value = String::from_utf8_lossy(value);
    let escaped = filter_value(&value);
    let b = escaped.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                assert!(is_hex(b.get(i + 1)) && is_hex(b.get(i + 2)), "a bare backslash in {escaped:?}");
                i += 3;
            }
            b'*' | b'(' | b')' | 0 => panic!("an unescaped metacharacter in {escaped:?}"),
            _ => i += 1,
        }
    }
    assert!(!escaped.chars().any(char::is_control), "a control character in {escaped:?}");
    assert_eq!(ldap3::ldap_unescape(&*escaped).ok().as_deref(), Some(&*value), "ldap_unescape of {escaped:?}");
    assert_eq!(parsed(&format!("(cn={escaped})")), eq("cn", &value));

    let values = TemplateValues { login: &value, user: "", domain: "example.org", dn: &value };
    let email = if value.contains('@') { value.to_string() } else { format!("{value}@example.org") };
    let filled = fill("(&(objectClass=person)(|(uid={login})(mail={email})(cn={user}))(!(member={dn})))", values);
    let want = Shape::And(vec![
        eq("objectClass", "person"),
        Shape::Or(vec![eq("uid", &value), eq("mail", &email), eq("cn", &value)]),
        Shape::Not(Box::new(eq("member", &value))),
    ]);
    assert_eq!(parsed(&filled), want, "the template filled with {value:?}: {filled}");

    // Any template: checking and filling never panic, and a template that passes the check is wrapped
    // in parentheses.
    let template = String::from_utf8_lossy(template);
    if check_template(&template).is_ok() {
        assert!(template.trim().starts_with('(') && template.trim().ends_with(')'), "{template:?}");
    }
    let _ = fill(&template, values);
}

/// The value RFC 4514 escapes stand for: `\XX` one byte, `\c` a special character; `None` for a
/// malformed escape. (The fuzz targets' own reading, to check the escaper against.)
fn dn_unescape(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(b.len()), 0);
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if is_hex(b.get(i + 1)) && is_hex(b.get(i + 2)) {
            out.push(u8::from_str_radix(text.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else if b.get(i + 1).is_some_and(|c| b" \"#+,;<=>\\".contains(c)) {
            out.push(b[i + 1]);
            i += 2;
        } else {
            return None;
        }
    }
    Some(out)
}

/// A value as the DN rule compares it (`caseIgnoreMatch`): lowercase, runs of white space as one space,
/// none at either end.
fn canonical(value: &str) -> String {
    let words: Vec<String> =
        value.split(char::is_whitespace).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    words.join(" ")
}

fn ava(attr: &str, value: &str) -> Ava {
    Ava { attr: attr.into(), value: value.into(), binary: false }
}

/// DN values: escaped, they carry no unescaped special (`"+,;<=>\` NUL, a leading space or `#`, a trailing
/// space), unescape to the value, make exactly one RDN whose value is the value, and compare equal with
/// the same value hex-escaped, quoted, or under another name of its attribute type.
pub fn dn_escape(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let escaped = dn_value(&value);
    let b = escaped.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += if is_hex(b.get(i + 1)) && is_hex(b.get(i + 2)) { 3 } else { 2 },
            b'"' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | 0 => panic!("an unescaped special in {escaped:?}"),
            b' ' | b'#' if i == 0 => panic!("an unescaped leading space or # in {escaped:?}"),
            b' ' if i + 1 == b.len() => panic!("an unescaped trailing space in {escaped:?}"),
            _ => i += 1,
        }
    }
    assert_eq!(dn_unescape(&escaped).as_deref(), Some(value.as_bytes()), "unescaping {escaped:?}");

    let dn = format!("cn={escaped},ou=People,dc=example,dc=org");
    let want = vec![
        vec![ava("cn", &canonical(&value))],
        vec![ava("ou", "people")],
        vec![ava("dc", "example")],
        vec![ava("dc", "org")],
    ];
    assert_eq!(parse_dn(&dn), Some(want), "{dn:?}");
    assert_eq!(split_rdns(&dn).map(|r| r.len()), Some(4), "{dn:?}");
    assert_eq!(split_rdns(&dn).and_then(|r| r.first().map(|f| f.to_string())), Some(format!("cn={escaped}")));
    assert!(dn_is_within(&dn, "OU=people , DC=Example,DC=ORG"), "{dn:?}");
    assert!(!dn_is_within(&format!("cn={escaped},dc=org"), "ou=people,dc=org"), "{dn:?}");
    assert_eq!(dc_components(&dn), ["example", "org"], "{dn:?}");
    assert_eq!(dc_components(&format!("dc={escaped},dc=org")), [canonical(&value), "org".into()], "{dn:?}");

    // Other spellings of the same DN.
    let canonical_form = normalize_dn(&dn);
    let hex: String = value.bytes().map(|b| format!("\\{b:02X}")).collect();
    let quoted: String = value.chars().fold(String::from("\""), |mut q, c| {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
        q
    }) + "\"";
    for spelling in [
        format!("CN={hex},OU=People,DC=example,DC=org"),
        format!("commonName={quoted};ou=people;dc=EXAMPLE;dc=org"),
        format!("2.5.4.3 = {escaped} , OU=People , domainComponent=example , 0.9.2342.19200300.100.1.25=org"),
    ] {
        assert_eq!(normalize_dn(&spelling), canonical_form, "{spelling:?} and {dn:?} are one DN");
    }
    assert_eq!(parse_dn(&canonical_form), parse_dn(&dn), "the canonical form {canonical_form:?} keeps the meaning");
}

/// Any text as a DN: one canonical form per text, which (for a DN) parses to the same meaning and is its
/// own canonical form; a DN lies within itself, within the root and within its own parent as
/// [`split_rdns`] cuts it.
pub fn dn_normalize(data: &[u8]) {
    let (text, other) = crate::two(data);
    let text = String::from_utf8_lossy(text);
    let form = normalize_dn(&text);
    assert_eq!(normalize_dn(&text), form, "deterministic");
    assert!(dn_is_within(&text, &text), "{text:?} within itself");
    assert!(dn_is_within(&text, ""), "{text:?} within the root");
    let _ = dc_components(&text);
    let meaning = parse_dn(&text);
    assert_eq!(split_rdns(&text).map(|r| r.len()), meaning.as_ref().map(Vec::len), "{text:?}");
    if let Some(meaning) = &meaning {
        assert_eq!(parse_dn(&form).as_ref(), Some(meaning), "{text:?}: its canonical form {form:?} means it");
        assert_eq!(normalize_dn(&form), form, "{text:?}: the canonical form {form:?} is stable");
        let rdns = split_rdns(&text).unwrap_or_default();
        for (rdn, avas) in rdns.iter().zip(meaning) {
            assert_eq!(parse_dn(rdn), Some(vec![avas.clone()]), "{text:?}: its RDN {rdn:?} alone");
        }
        if rdns.len() > 1 {
            let parent = rdns[1..].join(",");
            assert_eq!(parse_dn(&parent).as_deref(), Some(&meaning[1..]), "{text:?}: its parent {parent:?}");
            assert!(dn_is_within(&text, &parent), "{text:?} within its parent {parent:?}");
        }
    }
    // Two texts: equal canonical forms exactly when they mean the same DN.
    let other = String::from_utf8_lossy(other);
    if let (Some(a), Some(b)) = (&meaning, parse_dn(&other)) {
        assert_eq!(*a == b, form == normalize_dn(&other), "{text:?} and {other:?}");
    }
    let _: Cow<'_, str> = dn_value(&text);
}
