//! Directory entries mapped onto accounts: identity, mapped fields, mail addresses, groups and app groups,
//! and the sync digest of what an entry sets, computed from the account written or straight from the entry
//! (a sync's unchanged check), through one sequence of inputs so that both give the same digest.

use std::{borrow::Cow, collections::BTreeSet};

use dirconn_abi::{AttrValue, UserEntry, is_secret_attribute, normalize_dn};
use dirconn_store::{Account, Field, Value};
use sha1::{Digest as _, Sha1};

use crate::{AccountPolicy, address};

fn attribute<'e>(entry: &'e UserEntry, name: &str) -> Option<&'e AttrValue> {
    entry.attributes.iter().find(|a| a.name.as_str().eq_ignore_ascii_case(name)).and_then(|a| a.values.first())
}

/// What a mapped field takes from an entry, borrowed from it where it can be.
enum Mapped<'e> {
    Text(Cow<'e, str>),
    Bytes(&'e [u8]),
}

impl Mapped<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Mapped::Text(t) => t.as_bytes(),
            Mapped::Bytes(b) => b,
        }
    }
}

/// The value of a mapped field in an entry: `None` when the attribute is absent, `Err(size)` for a photo
/// over `photo_max_bytes` (the field is then left empty).
fn mapped_value<'e>(
    entry: &'e UserEntry,
    field: Field,
    attr: &str,
    policy: &AccountPolicy,
) -> Result<Option<Mapped<'e>>, usize> {
    let Some(value) = attribute(entry, attr) else { return Ok(None) };
    Ok(Some(match (field, value) {
        (Field::Photo, v) if v.as_bytes().len() > policy.photo_max_bytes => return Err(v.as_bytes().len()),
        (Field::Photo, v) => Mapped::Bytes(v.as_bytes()),
        (_, AttrValue::Text(t)) => Mapped::Text(Cow::Borrowed(t.as_str())),
        (_, AttrValue::Binary(b)) => Mapped::Text(String::from_utf8_lossy(b)),
    }))
}

/// Applies a directory entry to an account: identity, mapped fields (mapped and present: set; mapped and
/// absent: emptied; not mapped: left as is), directory groups and app groups. Returns notices.
pub fn apply_entry(account: &mut Account, entry: &UserEntry, policy: &AccountPolicy) -> Vec<String> {
    let mut notes = Vec::new();
    account.directory_key = Some(entry.id.to_string());
    account.dn = Some(entry.dn.to_string());
    account.auth_name = entry.login.to_string();
    for (field, attr) in &policy.mapping.fields {
        let value = match mapped_value(entry, *field, attr, policy) {
            Ok(value) => value.map(|v| match v {
                Mapped::Text(t) => Value::Text(t.into_owned()),
                Mapped::Bytes(b) => Value::Bytes(b.to_vec()),
            }),
            Err(size) => {
                notes.push(format!(
                    "{}: the photo ({attr}) is {size} bytes, over photo_max_bytes = {}; it was left empty",
                    entry.login, policy.photo_max_bytes
                ));
                None
            }
        };
        account.fields.set(*field, value);
    }
    let addresses = entry_addresses(entry, account.fields.text(Field::Email), policy, &mut notes);
    // The canonical address is the store's own (position 0): kept out, so that a re-read account compares
    // equal to a freshly mapped one. The digest takes the list whole: it must not depend on the login.
    account.addresses = addresses.iter().filter(|a| !account.is_canonical_address(a)).cloned().collect();
    account.groups = groups_of(entry);
    account.app_groups = app_groups(&account.groups, policy);
    let fields = policy.mapping.fields.iter().map(|(field, attr)| {
        let value = match account.fields.get(*field) {
            Some(Value::Text(t)) => Some(t.as_bytes()),
            Some(Value::Bytes(b)) => Some(b.as_slice()),
            None => None,
        };
        (*field, attr.as_str(), value)
    });
    let identity = [account.directory_key.as_deref().unwrap_or_default(), account.dn.as_deref().unwrap_or_default()];
    let digest =
        sync_digest(identity, &account.auth_name, fields, &addresses, &account.groups, &account.app_groups, policy);
    account.sync_digest = Some(hex(&digest));
    notes
}

/// The sync digest [`apply_entry`] would give an account for this entry, without building the account:
/// what a sync compares with the stored digest to find an unchanged user.
pub fn entry_digest(entry: &UserEntry, policy: &AccountPolicy) -> [u8; 16] {
    let fields = &policy.mapping.fields;
    // A field mapped twice takes its last mapping's value (`Fields::set` keeps the last), both times.
    let values: Vec<Option<Mapped<'_>>> = fields
        .iter()
        .map(|(field, attr)| {
            let attr = fields.iter().rev().find(|(f, _)| f == field).map_or(attr, |(_, last)| last);
            mapped_value(entry, *field, attr, policy).unwrap_or(None)
        })
        .collect();
    let email = fields.iter().rposition(|(f, _)| *f == Field::Email).and_then(|i| match &values[i] {
        Some(Mapped::Text(t)) => Some(t.as_ref()),
        _ => None,
    });
    let addresses = entry_addresses(entry, email, policy, &mut Vec::new());
    let groups = groups_of(entry);
    let apps = app_groups(&groups, policy);
    let mapped =
        fields.iter().zip(&values).map(|((field, attr), v)| (*field, attr.as_str(), v.as_ref().map(Mapped::as_bytes)));
    sync_digest(
        [entry.id.as_str(), entry.dn.as_str()],
        entry.login.as_str(),
        mapped,
        &addresses,
        &groups,
        &apps,
        policy,
    )
}

/// An entry's directory groups: DNs normalised (lowercase), each once.
fn groups_of(entry: &UserEntry) -> BTreeSet<String> {
    entry.groups.iter().map(|g| normalize_dn(g)).collect()
}

/// The app groups that directory groups give under the policy.
fn app_groups(groups: &BTreeSet<String>, policy: &AccountPolicy) -> BTreeSet<String> {
    let mut apps = BTreeSet::new();
    for group in groups {
        if let Some(mapped) = policy.groups.map.get(group) {
            apps.extend(mapped.iter().cloned());
        }
    }
    if let Some(all) = &policy.groups.assign_all {
        apps.insert(all.clone());
    }
    apps
}

/// The mail addresses an entry gives under the mapping, each once: the mapped email first when it is an
/// address, then an `SMTP:` primary, then every other value in attribute order. Values that are not mail
/// addresses are left out, each with a note (typed values of other kinds, `X500:…`, silently).
fn entry_addresses(
    entry: &UserEntry,
    email: Option<&str>,
    policy: &AccountPolicy,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut first: Vec<String> = email.and_then(address::normalize).into_iter().collect();
    let mut others = Vec::new();
    for attr in &policy.mapping.addresses {
        let values = entry.attributes.iter().filter(|a| a.name.as_str().eq_ignore_ascii_case(attr));
        for value in values.flat_map(|a| a.values.iter()).filter_map(AttrValue::as_text) {
            match address::parse(value) {
                address::Parsed::Address { address, primary: true } => first.push(address),
                address::Parsed::Address { address, .. } => others.push(address),
                address::Parsed::OtherType => {}
                address::Parsed::Invalid => notes.push(format!(
                    "{}: `{}` in {attr} is not a mail address; it was left out",
                    entry.login,
                    value.chars().take(80).collect::<String>()
                )),
            }
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(first.len() + others.len());
    for address in first.into_iter().chain(others) {
        if !out.contains(&address) {
            out.push(address);
        }
    }
    out
}

/// A digest of what a directory entry sets on an account under a mapping: identity (key, DN, login), the
/// mapped fields (with the attribute each comes from), the entry's mail addresses, groups and app groups.
/// Stable across processes (SHA-1, 16 bytes kept); it changes with the version that adds an input, which
/// makes the next sync rewrite.
fn sync_digest<'a>(
    identity: [&str; 2],
    auth_name: &str,
    fields: impl Iterator<Item = (Field, &'a str, Option<&'a [u8]>)>,
    addresses: &[String],
    groups: &BTreeSet<String>,
    app_groups: &BTreeSet<String>,
    policy: &AccountPolicy,
) -> [u8; 16] {
    let mut h = Sha1::new();
    let mut put = |part: &[u8]| {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    };
    for part in identity {
        put(part.as_bytes());
    }
    put(auth_name.as_bytes());
    for (field, attr, value) in fields {
        put(field.name().as_bytes());
        put(attr.as_bytes());
        put(value.unwrap_or(b"\0none"));
    }
    put(b"\0addresses");
    for attr in &policy.mapping.addresses {
        put(attr.as_bytes());
    }
    for address in addresses {
        put(address.as_bytes());
    }
    for g in groups {
        put(g.as_bytes());
    }
    put(b"\0apps");
    for g in app_groups {
        put(g.as_bytes());
    }
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// Bytes as lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Whether an entry belongs (transitively) to one of the mapped groups.
pub fn in_mapped_groups(entry: &UserEntry, policy: &AccountPolicy) -> bool {
    entry.groups.iter().any(|g| policy.groups.map.contains_key(&normalize_dn(g)))
}

/// Logs every attribute of an entry (the `debug` mapping), secrets redacted, binary values by size.
pub fn log_entry(domain: &str, entry: &UserEntry) {
    for attr in entry.attributes.iter() {
        let secret = is_secret_attribute(attr.name.as_str());
        let values: Vec<String> = attr
            .values
            .iter()
            .map(|v| match v {
                _ if secret => "<redacted>".to_owned(),
                AttrValue::Text(t) => format!("{:?}", t.as_str()),
                AttrValue::Binary(b) => format!("<{} bytes>", b.len()),
            })
            .collect();
        tracing::info!(domain, dn = %entry.dn, attribute = %attr.name, values = %values.join(", "), "mapping debug");
    }
    tracing::info!(domain, dn = %entry.dn, groups = ?entry.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(), "mapping debug: groups");
}

#[cfg(test)]
mod tests {
    use abi_stable::std_types::RVec;
    use dirconn_abi::Attribute;
    use dirconn_store::Source;

    use super::*;

    fn entry(attrs: &[(&str, AttrValue)]) -> UserEntry {
        UserEntry {
            dn: "uid=a,dc=x".into(),
            id: "k".into(),
            login: "a".into(),
            email: None.into(),
            display_name: None.into(),
            attributes: attrs
                .iter()
                .map(|(n, v)| Attribute { name: (*n).into(), values: RVec::from(vec![v.clone()]) })
                .collect(),
            groups: RVec::new(),
            warnings: RVec::new(),
            state: RVec::new(),
        }
    }

    #[test]
    fn photos_over_the_cap_are_left_empty_with_a_note() {
        let mut policy = AccountPolicy::default();
        policy.mapping.fields = vec![(Field::Photo, "jpegPhoto".into()), (Field::Notes, "description".into())];
        policy.photo_max_bytes = 4;
        let mut a = Account::new("x", "a", "a", Source::Directory, 0);
        let small = entry(&[("jpegPhoto", AttrValue::Binary(vec![1, 2, 3].into()))]);
        assert!(apply_entry(&mut a, &small, &policy).is_empty());
        assert_eq!(a.fields.get(Field::Photo), Some(&Value::Bytes(vec![1, 2, 3])));
        let big = entry(&[("JPEGPHOTO", AttrValue::Binary(vec![0; 5].into()))]);
        let notes = apply_entry(&mut a, &big, &policy);
        assert_eq!(a.fields.get(Field::Photo), None);
        assert!(notes[0].contains("photo_max_bytes = 4"), "{notes:?}");
    }

    #[test]
    fn the_digest_follows_mapped_values_only() {
        let policy = AccountPolicy::default();
        let e = entry(&[("givenName", AttrValue::Text("Ann".into()))]);
        let (mut a, mut b) =
            (Account::new("x", "a", "a", Source::Directory, 0), Account::new("x", "b", "b", Source::Directory, 9));
        apply_entry(&mut a, &e, &policy);
        b.fields.set(Field::City, Some(Value::Text("unmapped".into())));
        apply_entry(&mut b, &e, &policy);
        assert_eq!(a.sync_digest, b.sync_digest, "unmapped fields and names do not count");
        apply_entry(&mut b, &entry(&[("givenName", AttrValue::Text("Anne".into()))]), &policy);
        assert_ne!(a.sync_digest, b.sync_digest);
    }

    #[test]
    fn addresses_come_from_mail_and_smtp_proxy_addresses_the_primary_first() {
        let mut policy = AccountPolicy::from_tables(None, None, None).unwrap();
        policy.mapping.addresses = vec!["mail".into(), "proxyAddresses".into()];
        let text = |t: &str| AttrValue::Text(t.into());
        let e = entry(&[
            ("proxyAddresses", text("smtp:A.Old@Legacy.example.com")),
            ("proxyAddresses", text("X500:/o=Org/cn=a")),
            ("proxyAddresses", text("SMTP:Ann.Smith@Example.org")),
            ("proxyAddresses", text("smtp:a@example.org")),
            ("proxyAddresses", text("smtp:not an address")),
        ]);
        let mut a = Account::new("example.org", "a", "a", Source::Directory, 0);
        let notes = apply_entry(&mut a, &e, &policy);
        assert_eq!(
            a.addresses,
            ["ann.smith@example.org", "a.old@legacy.example.com"],
            "the canonical a@example.org is the store's"
        );
        assert_eq!(a.all_addresses()[0], "a@example.org");
        assert!(notes.len() == 1 && notes[0].contains("proxyAddresses"), "{notes:?}");
        // With a mapped `mail`, it is the primary; the digest does not depend on the login.
        let mut with_mail = e.clone();
        with_mail.attributes.push(Attribute { name: "mail".into(), values: RVec::from(vec![text("a@example.org")]) });
        let (mut b, mut c) = (
            Account::new("example.org", "a", "a", Source::Directory, 0),
            Account::new("example.org", "", "a", Source::Directory, 0),
        );
        apply_entry(&mut b, &with_mail, &policy);
        apply_entry(&mut c, &with_mail, &policy);
        assert_eq!(b.addresses, ["ann.smith@example.org", "a.old@legacy.example.com"]);
        assert_eq!(c.addresses[0], "a@example.org");
        assert_eq!(b.sync_digest, c.sync_digest);
        assert_ne!(a.sync_digest, b.sync_digest);
    }

    /// The digest a sync computes straight from an entry is the one the account written for it holds.
    #[test]
    fn the_entry_digest_is_the_accounts() {
        let mut policy = AccountPolicy::from_tables(None, None, None).unwrap();
        policy.mapping.addresses = vec!["mail".into(), "proxyAddresses".into()];
        policy.photo_max_bytes = 4;
        policy.groups.map.insert("cn=staff,dc=x".into(), vec!["mail-users".into()]);
        policy.groups.assign_all = Some("everyone".into());
        let text = |t: &str| AttrValue::Text(t.into());
        let mut e = entry(&[
            ("givenName", text("Ann")),
            ("SN", AttrValue::Binary(vec![b'S', 0xff, b'n'].into())),
            ("mail", text("Ann@Example.org")),
            ("proxyAddresses", text("smtp:a.old@legacy.example.com")),
            ("proxyAddresses", text("not an address")),
            ("jpegPhoto", AttrValue::Binary(vec![1, 2, 3, 4, 5].into())),
        ]);
        e.groups = RVec::from(vec!["CN=Staff,DC=x".into(), "cn=staff, dc=x".into(), "cn=other,dc=x".into()]);
        let mappings: [Vec<(Field, String)>; 4] = [
            policy.mapping.fields.clone(),
            vec![(Field::Photo, "jpegPhoto".into()), (Field::LastName, "sn".into())],
            vec![(Field::Email, "givenName".into()), (Field::Email, "mail".into()), (Field::Notes, "absent".into())],
            Vec::new(),
        ];
        for fields in mappings {
            policy.mapping.fields = fields;
            let mut a = Account::new("example.org", "a", "a", Source::Directory, 0);
            apply_entry(&mut a, &e, &policy);
            assert_eq!(
                a.sync_digest.as_deref(),
                Some(hex(&entry_digest(&e, &policy)).as_str()),
                "{:?}",
                policy.mapping.fields
            );
        }
        let before = entry_digest(&e, &policy);
        e.attributes.push(Attribute { name: "mail".into(), values: RVec::from(vec![text("b@example.org")]) });
        assert_ne!(entry_digest(&e, &policy), before, "a new address changes it");
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 9, 0xab, 0xff]), "0009abff");
    }
}
