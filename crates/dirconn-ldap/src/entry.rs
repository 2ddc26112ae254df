//! A search result entry's attributes, taken from its BER tree without copying them, and without panicking
//! on a malformed entry.
//!
//! `ldap3::SearchEntry::construct` copies every value out of the tree it consumes (`to_owned` of a byte
//! vector it already owns), and panics on an entry that is not shaped as RFC 4511 §4.5.2 says. A sync of
//! 100,000 users reads about a million values: the copies were a sixth of the connector thread's time
//! (measured), and a panic there would end the connector's thread. This reads the same [`SearchEntry`]
//! (text values in `attrs`; an attribute with any value that is not UTF-8 in `bin_attrs`, all its values
//! there) by moving the bytes, and answers DC-405 for an entry it cannot read.

use std::collections::HashMap;

use ldap3::{
    ResultEntry, SearchEntry,
    asn1::{PL, StructureTag},
};

use crate::Error;

/// The entry of a search result (`SearchResultEntry`, application tag 4).
pub(crate) fn parse_entry(entry: ResultEntry) -> Result<SearchEntry, Error> {
    let malformed = |why: &str| Error::Unexpected {
        what: "a search with an entry".into(),
        diagnostic: format!("the entry is malformed: {why}"),
    };
    let mut parts = entry
        .0
        .match_id(4)
        .and_then(StructureTag::expect_constructed)
        .ok_or_else(|| malformed("not an entry"))?
        .into_iter();
    let dn = parts
        .next()
        .and_then(text)
        .ok_or_else(|| malformed("no DN"))?
        .map_err(|_| malformed("a DN that is not UTF-8"))?;
    let list = parts.next().and_then(StructureTag::expect_constructed).ok_or_else(|| malformed("no attribute list"))?;
    let mut attrs = HashMap::with_capacity(list.len());
    let mut bin_attrs = HashMap::new();
    for attribute in list {
        let mut pair =
            attribute.expect_constructed().ok_or_else(|| malformed("an attribute that is not a sequence"))?.into_iter();
        let name = pair.next().and_then(text).ok_or_else(|| malformed("an attribute without a type"))?;
        let name = name.map_err(|_| malformed("an attribute type that is not UTF-8"))?;
        let values = pair
            .next()
            .and_then(StructureTag::expect_constructed)
            .ok_or_else(|| malformed("an attribute without values"))?;
        // Each value is checked once: text until one is not UTF-8, then the attribute's values are all bytes.
        let mut texts = Vec::with_capacity(values.len());
        let mut bytes: Option<Vec<Vec<u8>>> = None;
        for value in values {
            let value = value.expect_primitive().ok_or_else(|| malformed("a value that is not an octet string"))?;
            match &mut bytes {
                Some(bytes) => bytes.push(value),
                None => match String::from_utf8(value) {
                    Ok(text) => texts.push(text),
                    Err(e) => {
                        let mut all: Vec<Vec<u8>> = texts.drain(..).map(String::into_bytes).collect();
                        all.push(e.into_bytes());
                        bytes = Some(all);
                    }
                },
            }
        }
        match bytes {
            None => {
                attrs.insert(name, texts);
            }
            Some(bytes) => bin_attrs.entry(name).or_insert_with(Vec::new).extend(bytes),
        }
    }
    Ok(SearchEntry { dn, attrs, bin_attrs })
}

/// An octet string as text: `None` when the tag is not primitive, an error when it is not UTF-8.
fn text(tag: StructureTag) -> Option<Result<String, std::string::FromUtf8Error>> {
    match tag.payload {
        PL::P(bytes) => Some(String::from_utf8(bytes)),
        PL::C(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use ldap3::asn1::{TagClass, Types};

    use super::*;

    fn octets(bytes: &[u8]) -> StructureTag {
        StructureTag { class: TagClass::Universal, id: Types::OctetString as u64, payload: PL::P(bytes.to_vec()) }
    }

    fn constructed(class: TagClass, id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag { class, id, payload: PL::C(inner) }
    }

    fn sequence(inner: Vec<StructureTag>) -> StructureTag {
        constructed(TagClass::Universal, Types::Sequence as u64, inner)
    }

    fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
        let set = constructed(TagClass::Universal, Types::Set as u64, values.iter().map(|v| octets(v)).collect());
        sequence(vec![octets(name.as_bytes()), set])
    }

    fn result_entry(dn: &str, attributes: Vec<StructureTag>) -> ResultEntry {
        ResultEntry::new(constructed(TagClass::Application, 4, vec![octets(dn.as_bytes()), sequence(attributes)]))
    }

    /// The same entry as ldap3's own reading gives, text and binary attributes alike.
    #[test]
    fn reads_what_ldap3_reads() {
        let make = || {
            result_entry(
                "uid=alice,ou=people,dc=example,dc=org",
                vec![
                    attribute("uid", &[b"alice"]),
                    attribute("mail", &[b"alice@example.org", b"a@example.org"]),
                    attribute("jpegPhoto", &[&[0xff, 0xd8, 0xff]]),
                    attribute("empty", &[]),
                ],
            )
        };
        let ours = parse_entry(make()).unwrap();
        let theirs = SearchEntry::construct(make());
        assert_eq!(ours.dn, theirs.dn);
        assert_eq!(ours.attrs, theirs.attrs);
        assert_eq!(ours.bin_attrs, theirs.bin_attrs);
        assert_eq!(ours.attrs["mail"], ["alice@example.org", "a@example.org"]);
        assert_eq!(ours.bin_attrs["jpegPhoto"], [vec![0xff, 0xd8, 0xff]]);
    }

    /// An attribute with one value that is not UTF-8 keeps all its values, as bytes, in their order.
    #[test]
    fn one_binary_value_makes_the_attribute_binary() {
        let entry = result_entry("cn=x", vec![attribute("certificate", &[b"text", &[0xc3, 0x28]])]);
        let entry = parse_entry(entry).unwrap();
        assert!(entry.attrs.is_empty());
        assert_eq!(entry.bin_attrs["certificate"], [b"text".to_vec(), vec![0xc3, 0x28]]);
    }

    /// A malformed entry is DC-405 with what was wrong, not a panic.
    #[test]
    fn a_malformed_entry_is_an_error() {
        let cases = [
            ResultEntry::new(octets(b"not an entry")),
            ResultEntry::new(constructed(TagClass::Application, 4, vec![])),
            ResultEntry::new(constructed(TagClass::Application, 4, vec![octets(&[0xff])])),
            result_entry("cn=x", vec![octets(b"uid")]),
            result_entry("cn=x", vec![sequence(vec![octets(b"uid")])]),
            result_entry("cn=x", vec![sequence(vec![octets(b"uid"), sequence(vec![sequence(vec![])])])]),
        ];
        for case in cases {
            let err = parse_entry(case).unwrap_err();
            assert_eq!(err.code(), "DC-405");
            assert!(err.to_string().contains("unexpectedly"), "{err}");
        }
    }
}
