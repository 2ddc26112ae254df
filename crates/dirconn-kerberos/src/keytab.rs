//! MIT keytab files (`kt_file.c`), versions 1 and 2: the service keys that validate a ticket.
//!
//! Layout: `0x05`, the version (1: integers in the writer's native order, read here as little-endian, the
//! order of every machine MIT supports today; 2: big-endian), then records. Each record is an `i32` length:
//! negative, a hole of that many bytes left by a deleted entry (skipped); zero, or the end of the file,
//! ends the table. An entry holds a `u16` component count (version 1 counts the realm too), the realm and
//! the components (each a `u16` length and bytes), a `u32` name type (version 2 only), a `u32` timestamp,
//! a `u8` kvno, a `u16` enctype, a `u16` key length and the key, and optionally a `u32` kvno that replaces
//! the `u8` one when at least 4 bytes of the record remain and it is not 0 (kvnos past 255).
//!
//! Keys are kept in [`Zeroizing`] buffers and never shown: [`KeytabEntry`]'s `Debug` prints their length.

use std::{fmt, path::Path};

use zeroize::Zeroizing;

/// One key of one principal.
#[derive(Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// The realm (`EXAMPLE.ORG`).
    pub realm: String,
    /// The name's components (`["imap", "mail.example.org"]`).
    pub components: Vec<String>,
    /// The name type (version 2 only).
    pub name_type: Option<u32>,
    /// When the key was written (Unix seconds).
    pub timestamp: u32,
    /// The key version number.
    pub kvno: u32,
    /// The encryption type (18 aes256-cts-hmac-sha1-96, 17 aes128…, 23 rc4-hmac).
    pub enctype: u16,
    /// The key.
    pub key: Zeroizing<Vec<u8>>,
}

impl KeytabEntry {
    /// The principal as MIT writes it: `imap/mail.example.org@EXAMPLE.ORG`.
    pub fn principal(&self) -> String {
        format!("{}@{}", self.components.join("/"), self.realm)
    }
}

impl fmt::Debug for KeytabEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeytabEntry")
            .field("principal", &self.principal())
            .field("name_type", &self.name_type)
            .field("timestamp", &self.timestamp)
            .field("kvno", &self.kvno)
            .field("enctype", &self.enctype)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

/// A keytab's entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keytab {
    /// The format version (1 or 2).
    pub version: u8,
    /// The entries (holes skipped).
    pub entries: Vec<KeytabEntry>,
}

/// Why a keytab cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeytabError {
    /// The file cannot be read.
    Io(String),
    /// It does not start with `0x05`: not a keytab.
    NotKeytab,
    /// A version other than 1 and 2.
    Version(u8),
    /// A record runs past the end of the file, or a field past the end of its record.
    Truncated {
        /// Where the record starts.
        offset: usize,
    },
    /// A name is not UTF-8.
    BadName {
        /// Where the record starts.
        offset: usize,
    },
}

impl fmt::Display for KeytabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeytabError::Io(e) => write!(f, "it cannot be read ({e})"),
            KeytabError::NotKeytab => f.write_str("it is not a keytab (it does not start with byte 0x05)"),
            KeytabError::Version(v) => write!(f, "its format version is {v}; only MIT versions 1 and 2 are read"),
            KeytabError::Truncated { offset } => write!(f, "the entry at byte {offset} is cut short"),
            KeytabError::BadName { offset } => write!(f, "the entry at byte {offset} has a name that is not UTF-8"),
        }
    }
}

impl std::error::Error for KeytabError {}

impl Keytab {
    /// Reads a keytab file.
    pub fn read(path: &Path) -> Result<Keytab, KeytabError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| KeytabError::Io(e.to_string()))?);
        Keytab::parse(&bytes)
    }

    /// Parses a keytab's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Keytab, KeytabError> {
        match bytes.first() {
            Some(0x05) => {}
            _ => return Err(KeytabError::NotKeytab),
        }
        let version = *bytes.get(1).ok_or(KeytabError::NotKeytab)?;
        if version != 1 && version != 2 {
            return Err(KeytabError::Version(version));
        }
        let mut entries = Vec::new();
        let mut at = 2;
        while at + 4 <= bytes.len() {
            let mut head = Reader { bytes, at, end: at + 4, version, start: at };
            let length = head.u32()? as i32;
            at += 4;
            if length == 0 {
                break;
            }
            let size = length.unsigned_abs() as usize;
            if at + size > bytes.len() {
                return Err(KeytabError::Truncated { offset: at - 4 });
            }
            if length > 0 {
                entries.push(Reader { bytes, at, end: at + size, version, start: at - 4 }.entry()?);
            }
            at += size;
        }
        Ok(Keytab { version, entries })
    }

    /// The entries of `principal` (`imap/mail.example.org@EXAMPLE.ORG`, compared exactly: MIT names are
    /// case-sensitive).
    pub fn entries_for<'k>(&'k self, principal: &'k str) -> impl Iterator<Item = &'k KeytabEntry> + 'k {
        self.entries.iter().filter(move |e| e.principal() == principal)
    }

    /// The key of `principal` for `enctype` at `kvno`, the highest kvno when `kvno` is `None`.
    pub fn key(&self, principal: &str, enctype: u16, kvno: Option<u32>) -> Option<&KeytabEntry> {
        self.entries
            .iter()
            .filter(|e| e.principal() == principal && e.enctype == enctype && kvno.is_none_or(|k| e.kvno == k))
            .max_by_key(|e| e.kvno)
    }
}

/// A cursor over one record.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
    end: usize,
    version: u8,
    start: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], KeytabError> {
        if self.at + n > self.end {
            return Err(KeytabError::Truncated { offset: self.start });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, KeytabError> {
        let b: [u8; 2] = self.take(2)?.try_into().map_err(|_| KeytabError::Truncated { offset: self.start })?;
        Ok(if self.version == 1 { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    fn u32(&mut self) -> Result<u32, KeytabError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| KeytabError::Truncated { offset: self.start })?;
        Ok(if self.version == 1 { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn text(&mut self) -> Result<String, KeytabError> {
        let n = usize::from(self.u16()?);
        let start = self.start;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| KeytabError::BadName { offset: start })
    }

    fn entry(mut self) -> Result<KeytabEntry, KeytabError> {
        let mut count = usize::from(self.u16()?);
        if self.version == 1 {
            // Version 1 counts the realm among the components.
            count = count.saturating_sub(1);
        }
        let realm = self.text()?;
        let components = (0..count).map(|_| self.text()).collect::<Result<Vec<_>, _>>()?;
        let name_type = if self.version == 1 { None } else { Some(self.u32()?) };
        let timestamp = self.u32()?;
        let mut kvno = u32::from(self.take(1)?[0]);
        let enctype = self.u16()?;
        let key_length = usize::from(self.u16()?);
        let key = Zeroizing::new(self.take(key_length)?.to_vec());
        if self.end - self.at >= 4 {
            let wide = self.u32()?;
            if wide != 0 {
                kvno = wide;
            }
        }
        Ok(KeytabEntry { realm, components, name_type, timestamp, kvno, enctype, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry's bytes (without its length), as `version` writes them.
    fn entry(
        version: u8,
        names: &[&str],
        realm: &str,
        kvno8: u8,
        enctype: u16,
        key: &[u8],
        kvno32: Option<u32>,
    ) -> Vec<u8> {
        let u16b = |v: u16| if version == 1 { v.to_le_bytes() } else { v.to_be_bytes() };
        let u32b = |v: u32| if version == 1 { v.to_le_bytes() } else { v.to_be_bytes() };
        let count = names.len() as u16 + u16::from(version == 1);
        let mut out = u16b(count).to_vec();
        for part in std::iter::once(&realm).chain(names) {
            out.extend(u16b(part.len() as u16));
            out.extend(part.as_bytes());
        }
        if version == 2 {
            out.extend(u32b(1));
        }
        out.extend(u32b(1_700_000_000));
        out.push(kvno8);
        out.extend(u16b(enctype));
        out.extend(u16b(key.len() as u16));
        out.extend(key);
        if let Some(k) = kvno32 {
            out.extend(u32b(k));
        }
        out
    }

    fn file(version: u8, records: &[Vec<u8>], holes: &[(usize, usize)]) -> Vec<u8> {
        let u32b = |v: i32| if version == 1 { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut out = vec![0x05, version];
        for (i, record) in records.iter().enumerate() {
            for (_, size) in holes.iter().filter(|(b, _)| *b == i) {
                out.extend(u32b(-(*size as i32)));
                out.extend(vec![0xAA; *size]);
            }
            out.extend(u32b(record.len() as i32));
            out.extend(record);
        }
        out
    }

    #[test]
    fn both_versions_holes_and_wide_kvnos_read() {
        for version in [1, 2] {
            let records = [
                entry(version, &["imap", "mail.example.org"], "EXAMPLE.ORG", 3, 18, &[1; 32], None),
                entry(version, &["imap", "mail.example.org"], "EXAMPLE.ORG", 44, 17, &[2; 16], Some(300)),
                entry(version, &["HTTP", "web"], "EXAMPLE.ORG", 7, 18, &[3; 32], Some(0)),
            ];
            let bytes = file(version, &records, &[(1, 12)]);
            let kt = Keytab::parse(&bytes).unwrap_or_else(|e| panic!("v{version}: {e}"));
            assert_eq!(kt.version, version);
            assert_eq!(kt.entries.len(), 3, "the hole is skipped");
            assert_eq!(kt.entries[0].principal(), "imap/mail.example.org@EXAMPLE.ORG");
            assert_eq!(kt.entries[0].name_type, (version == 2).then_some(1));
            assert_eq!(
                (kt.entries[0].kvno, kt.entries[1].kvno, kt.entries[2].kvno),
                (3, 300, 7),
                "a 0 u32 kvno keeps the u8 one"
            );
            let key = kt.key("imap/mail.example.org@EXAMPLE.ORG", 17, None).expect("the aes128 key");
            assert_eq!(key.key.as_slice(), &[2; 16]);
            assert!(kt.key("imap/mail.example.org@EXAMPLE.ORG", 17, Some(44)).is_none(), "kvno 300 now");
            assert!(kt.key("IMAP/mail.example.org@EXAMPLE.ORG", 18, None).is_none(), "names are case-sensitive");
        }
    }

    #[test]
    fn a_zero_length_ends_the_table_and_bad_files_are_named() {
        let one = entry(2, &["imap", "x"], "R", 1, 18, &[9; 32], None);
        let mut bytes = file(2, std::slice::from_ref(&one), &[]);
        bytes.extend(0i32.to_be_bytes());
        bytes.extend(b"trailing bytes after the end");
        assert_eq!(Keytab::parse(&bytes).unwrap().entries.len(), 1);
        assert_eq!(Keytab::parse(b"").unwrap_err(), KeytabError::NotKeytab);
        assert_eq!(Keytab::parse(b"\x04\x02").unwrap_err(), KeytabError::NotKeytab);
        assert_eq!(Keytab::parse(b"\x05\x03").unwrap_err(), KeytabError::Version(3));
        let cut = file(2, std::slice::from_ref(&one), &[]);
        assert_eq!(Keytab::parse(&cut[..cut.len() - 3]).unwrap_err(), KeytabError::Truncated { offset: 2 });
        // A record whose key length runs past the record.
        let mut lying = one;
        let n = lying.len();
        lying[n - 34] = 0xFF;
        assert_eq!(Keytab::parse(&file(2, &[lying], &[])).unwrap_err(), KeytabError::Truncated { offset: 2 });
        assert_eq!(Keytab::parse(b"\x05\x02").unwrap().entries, vec![], "an empty keytab");
    }

    #[test]
    fn keys_never_show_in_debug() {
        let kt = Keytab::parse(&file(
            2,
            &[entry(2, &["imap", "x"], "R", 1, 18, b"secret-key-bytes-0123456789abcde", None)],
            &[],
        ))
        .unwrap();
        let text = format!("{kt:?}");
        assert!(text.contains("<32 bytes>") && !text.contains("secret") && !text.contains("115, 101"), "{text}");
    }
}
