//! An Apple Open Directory-shaped directory on a real slapd: the project's LDIF of Apple's schema
//! (`tests/fixtures/open-directory/apple-schema.ldif`) and OD's layout under the base: `cn=users` (users with
//! several short names, GUIDs, `authAuthority`, disabled two ways), `cn=groups` (members by GUID and by
//! `memberUid`, nesting by GUID two levels deep, a dangling GUID, a cycle) and `cn=KerberosKDC,cn=config`
//! with the realm.

use std::path::PathBuf;

use crate::{Slapd, SlapdOptions, slapd::ssha};

/// The base the OD layout lies under (the harness's suffix).
pub const BASE_DN: &str = crate::slapd::BASE_DN;
/// `cn=users,<base>`.
pub const USERS_DN: &str = "cn=users,dc=example,dc=org";
/// `cn=groups,<base>`.
pub const GROUPS_DN: &str = "cn=groups,dc=example,dc=org";
/// The Kerberos realm in `cn=KerberosKDC,cn=config,<base>`.
pub const REALM: &str = "EXAMPLE.ORG";
/// A nested group's GUID that resolves to nothing (another directory's group).
pub const DANGLING_GUID: &str = "0BADC0DE-0000-4000-8000-00000000DEAD";

/// How a user is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    /// Not disabled.
    No,
    /// `;DisabledUser;` before the old `authAuthority` value.
    AuthAuthority,
    /// A member of `com.apple.access_disabled`.
    AccessGroup,
}

/// A user under `cn=users`.
#[derive(Debug, Clone, Copy)]
pub struct OdUser {
    /// Short names (`uid` values): the first is the RDN, the others aliases of the same account.
    pub short_names: &'static [&'static str],
    /// `apple-generateduid`, uppercase.
    pub guid: &'static str,
    /// The password.
    pub password: &'static str,
    /// `mail` values, the primary first.
    pub mail: &'static [&'static str],
    /// `cn`.
    pub cn: &'static str,
    /// `uidNumber`.
    pub uid_number: u32,
    /// How it is disabled.
    pub disabled: Disabled,
}

impl OdUser {
    /// The entry's DN.
    pub fn dn(&self) -> String {
        format!("uid={},{USERS_DN}", self.short_names[0])
    }
}

/// A group under `cn=groups`.
#[derive(Debug, Clone, Copy)]
pub struct OdGroup {
    /// `cn` (the short name).
    pub name: &'static str,
    /// `apple-generateduid`.
    pub guid: &'static str,
    /// `apple-group-memberguid`: the members' GUIDs.
    pub member_guids: &'static [&'static str],
    /// `memberUid`: members' short names.
    pub member_uids: &'static [&'static str],
    /// `apple-group-nestedgroup`: the child groups' GUIDs.
    pub nested: &'static [&'static str],
    /// `gidNumber`.
    pub gid_number: u32,
}

impl OdGroup {
    /// The entry's DN.
    pub fn dn(&self) -> String {
        format!("cn={},{GROUPS_DN}", self.name)
    }
}

const ALICE_GUID: &str = "5A1C3E7B-91D2-4F60-8B3A-0C4D2E6F8A10";
const BOB_GUID: &str = "B0B0B0B0-1111-4222-8333-444455556666";
const CAROL_GUID: &str = "CA201000-AAAA-4BBB-8CCC-DDDDEEEEFFFF";
const DORA_GUID: &str = "D0AD0AD0-2222-4333-8444-555566667777";
const EVE_GUID: &str = "E5E5E5E5-3333-4444-8555-666677778888";
const STAFF_GUID: &str = "57AFF000-0001-4000-8000-000000000001";
const DEVS_GUID: &str = "DE550000-0002-4000-8000-000000000002";
const CORE_GUID: &str = "C02E0000-0003-4000-8000-000000000003";
const CYCLE_A_GUID: &str = "CCCC0000-000A-4000-8000-00000000000A";
const CYCLE_B_GUID: &str = "CCCC0000-000B-4000-8000-00000000000B";
const DISABLED_GUID: &str = "D15AB1ED-0000-4000-8000-0000000000D1";

/// The users.
pub const USERS: [OdUser; 5] = [
    OdUser {
        short_names: &["alice", "liddell"],
        guid: ALICE_GUID,
        password: "alice-od-pass",
        mail: &["alice@example.org", "a.liddell@example.org"],
        cn: "Alice Liddell",
        uid_number: 1025,
        disabled: Disabled::No,
    },
    OdUser {
        short_names: &["bob"],
        guid: BOB_GUID,
        password: "bob-od-pass",
        mail: &["bob@example.org"],
        cn: "Bob Builder",
        uid_number: 1026,
        disabled: Disabled::No,
    },
    OdUser {
        short_names: &["carol"],
        guid: CAROL_GUID,
        password: "carol-od-pass",
        mail: &["carol@example.org"],
        cn: "Carol Danvers",
        uid_number: 1027,
        disabled: Disabled::No,
    },
    OdUser {
        short_names: &["dora"],
        guid: DORA_GUID,
        password: "dora-od-pass",
        mail: &["dora@example.org"],
        cn: "Dora Explorer",
        uid_number: 1028,
        disabled: Disabled::AuthAuthority,
    },
    OdUser {
        short_names: &["eve"],
        guid: EVE_GUID,
        password: "eve-od-pass",
        mail: &["eve@example.org"],
        cn: "Eve Moneypenny",
        uid_number: 1029,
        disabled: Disabled::AccessGroup,
    },
];

/// The groups: `core` ⊂ `devs` ⊂ `staff` by GUID nesting; `legacy` by `memberUid` only; `cycle-a` and
/// `cycle-b` nest each other; `dangling` nests a GUID nothing has; `com.apple.access_disabled`.
pub const GROUPS: [OdGroup; 8] = [
    OdGroup {
        name: "staff",
        guid: STAFF_GUID,
        member_guids: &[BOB_GUID],
        member_uids: &["bob"],
        nested: &[DEVS_GUID],
        gid_number: 1100,
    },
    OdGroup {
        name: "devs",
        guid: DEVS_GUID,
        member_guids: &[ALICE_GUID],
        member_uids: &["alice"],
        nested: &[CORE_GUID],
        gid_number: 1101,
    },
    OdGroup {
        name: "core",
        guid: CORE_GUID,
        member_guids: &[CAROL_GUID],
        member_uids: &["carol"],
        nested: &[],
        gid_number: 1102,
    },
    OdGroup {
        name: "legacy",
        guid: "1E6AC700-0004-4000-8000-000000000004",
        member_guids: &[],
        member_uids: &["carol"],
        nested: &[],
        gid_number: 1103,
    },
    OdGroup {
        name: "cycle-a",
        guid: CYCLE_A_GUID,
        member_guids: &[BOB_GUID],
        member_uids: &["bob"],
        nested: &[CYCLE_B_GUID],
        gid_number: 1104,
    },
    OdGroup {
        name: "cycle-b",
        guid: CYCLE_B_GUID,
        member_guids: &[],
        member_uids: &[],
        nested: &[CYCLE_A_GUID],
        gid_number: 1105,
    },
    OdGroup {
        name: "dangling",
        guid: "DA000000-0006-4000-8000-000000000006",
        member_guids: &[ALICE_GUID],
        member_uids: &["alice"],
        nested: &[DANGLING_GUID],
        gid_number: 1106,
    },
    OdGroup {
        name: "com.apple.access_disabled",
        guid: DISABLED_GUID,
        member_guids: &[EVE_GUID],
        member_uids: &["eve"],
        nested: &[],
        gid_number: 1107,
    },
];

/// The schema file.
pub fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/open-directory/apple-schema.ldif")
}

/// Options of a slapd with Apple's schema.
pub fn options() -> SlapdOptions {
    SlapdOptions { extra_schema: vec![schema_file()], ..SlapdOptions::default() }
}

/// A slapd with Apple's schema and the OD layout and data added.
pub fn start() -> Slapd {
    let slapd = Slapd::start_with(options());
    slapd.ldapmodify(&ldif());
    slapd
}

/// Makes the slapd answer a user bind with a wrong password as Open Directory does since OS X 10.9: 50
/// (insufficientAccess), not 49. slapd's own `sock` overlay hands every bind to a socket served here, which
/// answers `CONTINUE` (slapd checks the password itself) unless the DN is one of `USERS` and the password
/// is not theirs. Returns the serving thread (it ends with the process).
pub fn answer_wrong_passwords_with_50(slapd: &Slapd) -> std::thread::JoinHandle<()> {
    use std::io::{BufRead, BufReader, Write};
    let path = slapd.dir().join("od-bind.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the sock overlay's socket");
    let serve = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
            let (mut dn, mut cred) = (String::new(), Vec::new());
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).unwrap_or(0);
                if n == 0 || line == b"\n" {
                    break;
                }
                if let Some(v) = line.strip_prefix(b"dn: ") {
                    dn = String::from_utf8_lossy(v).trim_end().to_owned();
                } else if let Some(v) = line.strip_prefix(b"cred: ") {
                    cred = v.strip_suffix(b"\n").unwrap_or(v).to_vec();
                }
            }
            let wrong = USERS.iter().any(|u| u.dn().eq_ignore_ascii_case(&dn) && u.password.as_bytes() != cred);
            let answer: &[u8] = if wrong {
                b"RESULT\ncode: 50\ninfo: Authentication failed (checked through Kerberos, as Open Directory)\n\n"
            } else {
                b"CONTINUE\n"
            };
            let _ = stream.write_all(answer);
        }
    });
    slapd.config_modify(&format!(
        // back-sock asks for `auth` access to the entry before it forwards a bind (else it answers 50 itself).
        "dn: cn=module{{0}},cn=config\nchangetype: modify\nadd: olcModuleLoad\nolcModuleLoad: back_sock\n\n\
         dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcAccess\n\
         olcAccess: {{0}}to attrs=entry by anonymous auth by * break\n\n\
         dn: olcOverlay=sock,olcDatabase={{1}}mdb,cn=config\nchangetype: add\nobjectClass: olcOvSocketConfig\n\
         olcOverlay: sock\nolcDbSocketPath: {}\nolcOvSocketOps: bind\n",
        path.display()
    ));
    serve
}

/// The OD layout and data, as `ldapmodify` add records.
pub fn ldif() -> String {
    let mut out = String::new();
    for cn in ["users", "groups", "computers", "config"] {
        out.push_str(&format!("dn: cn={cn},{BASE_DN}\nchangetype: add\nobjectClass: container\ncn: {cn}\n\n"));
    }
    out.push_str(&format!(
        "dn: cn=KerberosKDC,cn=config,{BASE_DN}\nchangetype: add\nobjectClass: apple-configuration\ncn: KerberosKDC\n\
         apple-config-realname: {REALM}\n\n"
    ));
    for u in USERS {
        let first = u.short_names[0];
        let mut e = format!(
            "dn: {}\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: shadowAccount\n\
             objectClass: apple-user\nobjectClass: extensibleObject\n",
            u.dn()
        );
        for name in u.short_names {
            e.push_str(&format!("uid: {name}\n"));
        }
        let sn = u.cn.rsplit(' ').next().unwrap_or(u.cn);
        let given = u.cn.split(' ').next().unwrap_or(u.cn);
        e.push_str(&format!(
            "cn: {}\nsn: {sn}\ngivenName: {given}\nuidNumber: {}\ngidNumber: 20\nhomeDirectory: /Users/{first}\n\
             loginShell: /bin/zsh\napple-generateduid: {}\nuserPassword: {}\n",
            u.cn,
            u.uid_number,
            u.guid,
            ssha(u.password)
        ));
        for m in u.mail {
            e.push_str(&format!("mail: {m}\n"));
        }
        let kerberos = format!(";Kerberosv5;;{first}@{REALM};{REALM};");
        match u.disabled {
            Disabled::AuthAuthority => e.push_str(&format!("authAuthority: ;DisabledUser;{kerberos}\n")),
            _ => e.push_str(&format!("authAuthority: {kerberos}\n")),
        }
        e.push_str(
            "apple-user-mailattribute: <?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>kMailAccountState</key>\
             <string>Enabled</string></dict></plist>\n\n",
        );
        out.push_str(&e);
    }
    for g in GROUPS {
        let mut e = format!(
            "dn: {}\nchangetype: add\nobjectClass: posixGroup\nobjectClass: apple-group\nobjectClass: extensibleObject\n\
             cn: {}\ngidNumber: {}\napple-generateduid: {}\napple-group-realname: {}\n",
            g.dn(),
            g.name,
            g.gid_number,
            g.guid,
            g.name
        );
        for m in g.member_guids {
            e.push_str(&format!("apple-group-memberguid: {m}\n"));
        }
        for m in g.member_uids {
            e.push_str(&format!("memberUid: {m}\n"));
        }
        for n in g.nested {
            e.push_str(&format!("apple-group-nestedgroup: {n}\n"));
        }
        e.push('\n');
        out.push_str(&e);
    }
    out
}
