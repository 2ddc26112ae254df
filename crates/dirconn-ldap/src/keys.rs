//! The keys of a directory domain's settings, with their types, defaults and meanings: the table the
//! settings are checked against (a key a connector does not use is refused by it) and the configuration
//! pages are generated from (`cargo xtask docs`).

use crate::{LdapDefaults, dialect::Dialect};

/// A key's default.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// The same for every connector kind (Markdown).
    Text(&'static str),
    /// The connector kind's own ([`LdapDefaults`]).
    Kind,
}

/// One key of the `[[domain]]` section that the connector reads.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key.
    pub name: &'static str,
    /// Its type, in the docs' words.
    pub ty: &'static str,
    /// Its default.
    pub default: Default,
    /// The one connector kind that reads it, its dialect listing it among its own keys (`None`: every
    /// kind).
    pub only: Option<&'static str>,
    /// What it does (Markdown).
    pub meaning: &'static str,
}

impl Key {
    /// Whether a connector of this dialect reads this key (the others refuse it).
    pub fn accepted_by(&self, dialect: &dyn Dialect) -> bool {
        self.only.is_none() || dialect.own_keys().contains(&self.name)
    }

    /// The default for a connector kind, in Markdown.
    pub fn default_for(&self, d: &LdapDefaults) -> String {
        let code = |v: &str| format!("`{v}`");
        match self.default {
            Default::Text(text) => text.to_owned(),
            Default::Kind => match self.name {
                "user_filter" => code(d.user_filter),
                "login_attribute" => code(d.login_attribute),
                "id_attribute" => code(d.id_attribute),
                "email_attribute" => code(d.email_attribute),
                "display_name_attribute" => code(d.display_name_attribute),
                "member_of_attribute" => code(d.member_of_attribute),
                "group_object_filter" => code(d.group_object_filter),
                "group_membership" => format!("`\"{}\"`", d.group_membership.as_str()),
                other => unreachable!("no per-kind default for {other}"),
            },
        }
    }
}

/// The key named `name`.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Every key, in the order of the docs.
pub const KEYS: &[Key] = &[
    Key {
        name: "urls",
        ty: "list of strings",
        default: Default::Text("required (or `url`)"),
        only: None,
        meaning: "Directory servers, tried in order for failover: `ldaps://host[:port]` or `ldap://host[:port]`. The ports default to 636 for `ldaps://` and 389 for `ldap://`. Write IPv6 addresses in brackets: `ldap://[2001:db8::1]:389`. A URL takes no DN or search part.",
    },
    Key {
        name: "url",
        ty: "string",
        default: Default::Text("none"),
        only: None,
        meaning: "A single URL. When both keys are given, it is tried before those of `urls`.",
    },
    Key {
        name: "starttls",
        ty: "boolean",
        default: Default::Text("`false`"),
        only: None,
        meaning: "Upgrade `ldap://` connections with StartTLS. It cannot be combined with `ldaps://` URLs (`DC-110`).",
    },
    Key {
        name: "ca_file",
        ty: "path",
        default: Default::Text("the system's trusted CAs"),
        only: None,
        meaning: "A PEM file with the CA certificate(s) to trust for the directory's certificate. When it is set, **only** these CAs are trusted.",
    },
    Key {
        name: "connect_timeout",
        ty: "duration",
        default: Default::Text("`\"5s\"`"),
        only: None,
        meaning: "For each URL, the limit for name resolution, the TCP connection and the TLS handshake or StartTLS together.",
    },
    Key {
        name: "operation_timeout",
        ty: "duration",
        default: Default::Text("`\"10s\"`"),
        only: None,
        meaning: "The limit for each LDAP operation (bind, search).",
    },
    Key {
        name: "pool_size",
        ty: "integer",
        default: Default::Text("`8`"),
        only: None,
        meaning: "The number of service-account connections, from 1 to 256. Each is shared by the operations in flight (LDAP multiplexes them); they are opened when first needed.",
    },
    Key {
        name: "bind_dn",
        ty: "string",
        default: Default::Text("required"),
        only: None,
        meaning: "The service account's DN. Anonymous binds are refused (`DC-105`).",
    },
    Key {
        name: "bind_password_file",
        ty: "path",
        default: Default::Text("one of three is required"),
        only: None,
        meaning: "A file holding the service account's password (recommended; mode `0600`). Trailing line breaks are removed.",
    },
    Key {
        name: "bind_password_env",
        ty: "string",
        default: Default::Text("none"),
        only: None,
        meaning: "The name of an environment variable holding the password.",
    },
    Key {
        name: "bind_password",
        ty: "string",
        default: Default::Text("none"),
        only: None,
        meaning: "The password written in the configuration (dirconn logs a warning).",
    },
    Key {
        name: "service_bind_backoff",
        ty: "duration",
        default: Default::Text("`\"15m\"`"),
        only: None,
        meaning: "After the directory rejects the service password, how long no bind goes out with it (logins fail at once with `DC-401`); after a second rejection, binds with that secret go out once a day. From `\"1s\"` to `\"24h\"`. A changed `bind_password_file` (read again while binds are held back) or a reload ends the hold at once. So at most two rejected binds fall in any 24 hours, below any lockout threshold of 3 or more. See [the service account and the policy](ldap.md#the-service-account-and-the-policy).",
    },
    Key {
        name: "search_base",
        ty: "string (DN)",
        default: Default::Text("required"),
        only: None,
        meaning: "The DN under which users are searched (`ou=people,dc=example,dc=org`).",
    },
    Key {
        name: "subtree",
        ty: "boolean",
        default: Default::Text("`true`"),
        only: None,
        meaning: "`true` searches the whole subtree under `search_base`. `false` searches one level below it.",
    },
    Key {
        name: "user_filter",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The filter that finds one user. It must contain `{login}`, `{user}` or `{email}`. See [placeholders](ldap.md#5-the-user-filter).",
    },
    Key {
        name: "group_filter",
        ty: "string",
        default: Default::Text("none"),
        only: None,
        meaning: "At login, a filter that finds the user's direct groups, for example with `{dn}`. When it is not set, the groups of `group_object_filter` that name the user in `member`, `uniqueMember` or `memberUid` are found. `member_of_attribute` is read either way. A sync does not use it. See [Group membership](ldap.md#6-group-membership).",
    },
    Key {
        name: "group_base",
        ty: "string (DN)",
        default: Default::Text("the `dc=` part of `search_base`"),
        only: None,
        meaning: "Where groups are searched (always the whole subtree). By default, it is the trailing `dc=` components of `search_base` (`ou=people,dc=example,dc=org` gives `dc=example,dc=org`). When `search_base` does not end in `dc=` components, it is `search_base` itself.",
    },
    Key {
        name: "group_object_filter",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "What a group entry is: for the group searches at login, for nested groups, and for the list of groups that a sync loads.",
    },
    Key {
        name: "nested_group_depth",
        ty: "integer",
        default: Default::Text("`10`"),
        only: None,
        meaning: "How many levels of groups above the user's direct groups are followed, from 0 (direct groups only) to 64. A cycle ends by itself.",
    },
    Key {
        name: "group_membership",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "How a user's groups are found ([the LDAP page](ldap.md#6-group-membership) compares them). `\"search\"`: memberOf plus the groups naming the user (member, uniqueMember, memberUid) and their parents, one search per login and nesting level; works on any server. `\"nested-member-of\"`: the user's memberOf (read in the user search), then each group's own memberOf upward, the group → parent links cached for `group_cache_ttl`; with warm links a login costs no group search. It needs a server that keeps memberOf (OpenLDAP's `memberof` overlay, 389 DS's memberOf plug-in) and sees only the groups memberOf covers. `\"member-of\"`: the user's memberOf values only, no nesting. `\"chain\"` is for Active Directory only.",
    },
    Key {
        name: "group_cache_ttl",
        ty: "duration",
        default: Default::Text("`\"5m\"`"),
        only: None,
        meaning: "With `\"nested-member-of\"`: how long a group's parent groups are remembered at login. `\"0s\"` reads them at every login.",
    },
    Key {
        name: "sync_filter",
        ty: "string",
        default: Default::Text("the user filter, with `{login}` and `{email}` replaced by `*`"),
        only: None,
        meaning: "The filter a [sync](accounts.md#sync) lists users with, under `search_base`.",
    },
    Key {
        name: "page_size",
        ty: "integer",
        default: Default::Text("`500`"),
        only: None,
        meaning: "Entries per page of a sync's paged listings, from 1 to 100000. Active Directory caps pages at 1000.",
    },
    Key {
        name: "login_attribute",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The attribute that holds the user's login.",
    },
    Key {
        name: "id_attribute",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The attribute that holds the entry's stable key. If an entry lacks it, its DN is used and a warning is logged.",
    },
    Key {
        name: "email_attribute",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The attribute that holds the email address.",
    },
    Key {
        name: "display_name_attribute",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The attribute that holds the display name. When an entry lacks it, `cn` is used.",
    },
    Key {
        name: "member_of_attribute",
        ty: "string",
        default: Default::Kind,
        only: None,
        meaning: "The attribute of the user entry that lists its groups.",
    },
    Key {
        name: "attributes",
        ty: "list of strings",
        default: Default::Text("`[]`"),
        only: None,
        meaning: "Extra attributes to read for each user. All user attributes are read anyway. List operational attributes here (for example `createTimestamp`) if you need them.",
    },
    Key {
        name: "nt_domain",
        ty: "string",
        default: Default::Text("the first `DC=` part of `search_base`, in capitals"),
        only: Some("active-directory"),
        meaning: "The NetBIOS domain name accepted in `DOMAIN\\user` logins. It must not be empty or contain `\\`, `@`, `.` or a space.",
    },
    Key {
        name: "upn_suffixes",
        ty: "list of strings",
        default: Default::Text("`[]`"),
        only: Some("active-directory"),
        meaning: "More suffixes whose `user@suffix` logins also match on `sAMAccountName`. The mail domain and the DNS name of `search_base` always count. A leading `@` is ignored.",
    },
    Key {
        name: "range_size",
        ty: "integer",
        default: Default::Text("`1500`"),
        only: Some("active-directory"),
        meaning: "How many `member` values a sync asks for in its first read of each group, from 10 to 100000. The rest is read range by range, as many as the DC returns at once (its `MaxValRange`, 1500 by default).",
    },
    Key {
        name: "full_sync_interval",
        ty: "duration",
        default: Default::Text("`\"1d\"`"),
        only: Some("active-directory"),
        meaning: "The longest time between two full sync passes. A sync after that is full on its own. `\"0s\"` makes every sync a full pass.",
    },
    Key {
        name: "password_check",
        ty: "string",
        default: Default::Text("`\"bind\"`"),
        only: None,
        meaning: "What checks passwords: `\"bind\"` (a bind as the user's entry), `\"kerberos\"` (the realm's KDCs, with the ticket validated by a keytab) or `\"pam\"` (a PAM service). The user is found, mapped and grouped on LDAP in every case. Keys of another check are refused (`DC-114`). See [Password checks](password-checks.md).",
    },
    Key {
        name: "kerberos_realm",
        ty: "string",
        default: Default::Text("AD: the search base's DNS domain in capitals; LDAP: required"),
        only: None,
        meaning: "The Kerberos realm, in capitals (`EXAMPLE.ORG`). `password_check = \"kerberos\"` only.",
    },
    Key {
        name: "kdc",
        ty: "list of strings",
        default: Default::Text("AD: the hosts of `urls`, port 88; LDAP: required"),
        only: None,
        meaning: "The realm's KDCs as `host[:port]` (`[v6]:port`), tried in order: the next one only when one cannot be reached or does not answer in time, never after a KDC's answer. TCP is used unless `kdc_udp` is set.",
    },
    Key {
        name: "kdc_udp",
        ty: "boolean",
        default: Default::Text("`false`"),
        only: None,
        meaning: "Ask each KDC over UDP first; a reply too big for UDP (KDC error 52) is asked again over TCP.",
    },
    Key {
        name: "kdc_timeout",
        ty: "duration",
        default: Default::Text("`\"5s\"`"),
        only: None,
        meaning: "Per KDC, the limit for the connection and for its answer, from `\"1s\"` to `\"2m\"`.",
    },
    Key {
        name: "kdc_max_concurrent",
        ty: "integer",
        default: Default::Text("`4`"),
        only: None,
        meaning: "Requests to the realm's KDCs in flight at once, from 1 to 256; more wait in dirconn. MIT's krb5kdc listens with a backlog of 5: a burst of connections beyond it loses SYNs, and each lost one waits a second for its retransmission.",
    },
    Key {
        name: "keytab",
        ty: "path",
        default: Default::Text("required unless `kerberos_validate = false`"),
        only: None,
        meaning: "The MIT keytab holding the key of `service_principal`. Every login's ticket for that service is decrypted with it, so that a KDC that is not the realm's cannot accept a password. It is read again at each login (a new `ktadd` takes effect at once).",
    },
    Key {
        name: "service_principal",
        ty: "string",
        default: Default::Text("required with `keytab`"),
        only: None,
        meaning: "The service whose ticket validates logins (`imap/mail.example.org`; the realm is added). The keytab must hold its key.",
    },
    Key {
        name: "kerberos_principal",
        ty: "string",
        default: Default::Text("AD: `\"{sAMAccountName}@{realm}\"`; LDAP: `\"{uid}@{realm}\"`"),
        only: None,
        meaning: "The user's principal, from the entry the search found: `{attribute}` is the attribute's first value (kept as one name component), `{realm}` the realm.",
    },
    Key {
        name: "kerberos_validate",
        ty: "boolean",
        default: Default::Text("`true`"),
        only: None,
        meaning: "`false` checks passwords without a keytab: any machine that answers as the KDC can then accept any password. Refused beside `keytab` (`DC-115`).",
    },
    Key {
        name: "pam_service",
        ty: "string",
        default: Default::Text("required for `\"pam\"`"),
        only: None,
        meaning: "The PAM service (a file of `/etc/pam.d`) whose `auth` and `account` stacks check the password. PAM is given the value of `login_attribute`.",
    },
    Key {
        name: "pam_confdir",
        ty: "path",
        default: Default::Text("`/etc/pam.d`"),
        only: None,
        meaning: "Another folder of PAM service files (libpam 1.4 or later).",
    },
    Key {
        name: "pam_max_concurrent",
        ty: "integer",
        default: Default::Text("`8`"),
        only: None,
        meaning: "PAM checks at once, from 1 to 256; each runs on a thread of its own, since PAM calls block.",
    },
    Key {
        name: "pam_timeout",
        ty: "duration",
        default: Default::Text("`\"30s\"`"),
        only: None,
        meaning: "How long a login waits for a free PAM slot and its PAM call together (`DC-959` after that), from `\"1s\"` to `\"5m\"`.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys serde accepts, from its own "expected one of" list.
    fn accepted_by_serde() -> Vec<String> {
        let err = crate::LdapSettings::from_json(
            "example.org",
            r#"{"no_such_key_at_all": 1}"#,
            std::path::Path::new("/"),
            crate::dialect::generic::TEST_DEFAULTS,
        )
        .unwrap_err()
        .to_string();
        let list = err.split("expected one of").nth(1).expect("serde lists the fields");
        list.split(',')
            .map(|k| k.trim().trim_matches(|c| c == '`' || c == ' ').to_owned())
            .filter(|k| !k.is_empty())
            .collect()
    }

    #[test]
    fn the_table_lists_exactly_the_keys_the_settings_read() {
        let mut serde: Vec<String> = accepted_by_serde();
        let mut table: Vec<String> = KEYS.iter().map(|k| k.name.to_owned()).collect();
        serde.sort();
        table.sort();
        assert_eq!(table, serde);
    }

    #[test]
    fn every_per_kind_default_renders() {
        for k in KEYS {
            for d in [crate::dialect::generic::TEST_DEFAULTS, crate::dialect::ad::TEST_DEFAULTS] {
                assert!(!k.default_for(&d).is_empty(), "{}", k.name);
            }
        }
    }

    #[test]
    fn a_kind_s_own_keys_are_those_the_table_gives_it() {
        let dialects: [(&str, &dyn Dialect); 3] = [
            ("ldap", &crate::dialect::Generic),
            ("active-directory", &crate::dialect::ActiveDirectory::default()),
            ("open-directory", &crate::dialect::OpenDirectory),
        ];
        for (kind, dialect) in dialects {
            let mut table: Vec<&str> = KEYS.iter().filter(|k| k.only == Some(kind)).map(|k| k.name).collect();
            let mut own = dialect.own_keys().to_vec();
            table.sort();
            own.sort();
            assert_eq!(table, own, "{kind}");
        }
    }
}
