//! The keytab reader against keytabs MIT's `kadmin.local` writes (a real KDC's keys): every entry as
//! MIT's `klist -k -t -e -K` lists it (principal, kvno, enctype, key), and the holes `ktremove` leaves are
//! skipped.

use std::{collections::BTreeSet, path::Path, process::Command};

use dirconn_kerberos::Keytab;
use dirconn_tests::MitKdc;

/// `klist -k -e -K FILE`: (kvno, principal, enctype name, key hex) per entry.
fn klist(kdc: &MitKdc, keytab: &Path) -> BTreeSet<(u32, String, String, String)> {
    let out = Command::new("klist")
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .args(["-k", "-e", "-K"])
        .arg(keytab)
        .output()
        .expect("klist runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "klist: {text}{}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .filter_map(|line| {
            // `   3 imap/mail.example.org@EXAMPLE.ORG (aes256-cts-hmac-sha1-96)  (0x1f…)`
            let mut words = line.split_whitespace();
            let kvno = words.next()?.parse().ok()?;
            let principal = words.next()?.to_owned();
            let enctype = words.next()?.trim_matches(['(', ')']).to_owned();
            let key = words.next()?.trim_matches(['(', ')']).trim_start_matches("0x").to_owned();
            Some((kvno, principal, enctype, key))
        })
        .collect()
}

fn ours(keytab: &Path) -> BTreeSet<(u32, String, String, String)> {
    let kt = Keytab::read(keytab).expect("the keytab reads");
    assert_eq!(kt.version, 2);
    kt.entries
        .iter()
        .map(|e| {
            let name = match e.enctype {
                18 => "aes256-cts-hmac-sha1-96",
                17 => "aes128-cts-hmac-sha1-96",
                other => panic!("an enctype this KDC does not make: {other}"),
            };
            let hex: String = e.key.iter().map(|b| format!("{b:02x}")).collect();
            (e.kvno, e.principal(), name.to_owned(), hex)
        })
        .collect()
}

/// The holes (records with a negative length) of a version-2 keytab.
fn holes(bytes: &[u8]) -> usize {
    let (mut at, mut holes) = (2, 0);
    while let Some(word) = bytes.get(at..at + 4) {
        let length = i32::from_be_bytes(word.try_into().unwrap());
        if length == 0 {
            break;
        }
        holes += usize::from(length < 0);
        at += 4 + length.unsigned_abs() as usize;
    }
    holes
}

#[test]
fn mit_keytabs_read_as_klist_lists_them_holes_skipped() {
    let kdc = MitKdc::start();
    let keytab = kdc.add_service("imap/mail.example.org");
    let listed = klist(&kdc, &keytab);
    assert_eq!(listed.len(), 2, "aes256 and aes128: {listed:?}");
    assert_eq!(ours(&keytab), listed);

    // Two more key versions appended to the same file, then the old ones removed: MIT leaves holes.
    let path = keytab.display().to_string();
    kdc.kadmin(&format!("ktadd -k {path} imap/mail.example.org"));
    kdc.kadmin(&format!("ktadd -k {path} -e aes256-cts-hmac-sha1-96:normal HTTP/mail.example.org"));
    kdc.kadmin(&format!("ktremove -k {path} imap/mail.example.org old"));
    let listed = klist(&kdc, &keytab);
    assert!(listed.iter().all(|(kvno, p, _, _)| p.starts_with("HTTP/") || *kvno == 3), "{listed:?}");
    assert!(holes(&std::fs::read(&keytab).unwrap()) >= 2, "ktremove left holes");
    assert_eq!(ours(&keytab), listed, "the holes of the removed entries are skipped");
    let kt = Keytab::read(&keytab).unwrap();
    let key = kt.key("imap/mail.example.org@EXAMPLE.ORG", 18, None).expect("the current aes256 key");
    assert_eq!((key.kvno, key.key.len()), (3, 32));
    assert!(kt.key("imap/mail.example.org@EXAMPLE.ORG", 18, Some(2)).is_none(), "kvno 2 was removed");
}
