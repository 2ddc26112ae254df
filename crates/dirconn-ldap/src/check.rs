//! How a domain checks passwords (`password_check`): an LDAP bind as the user (the default), the Kerberos
//! realm (`dirconn-kerberos`: AS exchange, ticket validated with a keytab) or a PAM service
//! (`dirconn-pam`). Identity stays on LDAP either way: the user is found, mapped and grouped by the
//! service account first; only the password goes elsewhere, as SSSD pairs `id_provider = ldap` with
//! `auth_provider = krb5`. This file turns the settings' keys into a [`PasswordCheck`] (every bad
//! combination refused when the configuration is read, naming the key) and forms a user's principal.

use std::{path::Path, sync::Arc, time::Duration};

use dirconn_kerberos::{KdcAddress, Principal, Realm, RealmSettings, Validation};
use dirconn_pam::{Pam, PamSettings};
use ldap3::SearchEntry;
use serde::Deserialize;

use crate::{
    Error, LdapUrl,
    dialect::{KerberosDefaults, RealmSource},
    directory::first_text,
};

/// `password_check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A bind as the user's entry.
    #[default]
    Bind,
    /// The Kerberos realm.
    Kerberos,
    /// A PAM service.
    Pam,
}

impl CheckKind {
    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Bind => "bind",
            CheckKind::Kerberos => "kerberos",
            CheckKind::Pam => "pam",
        }
    }
}

/// What checks a domain's passwords.
#[derive(Debug, Clone, Default)]
pub enum PasswordCheck {
    /// A bind as the user's entry, with the password policy control.
    #[default]
    Bind,
    /// The Kerberos realm.
    Kerberos(Kerberos),
    /// A PAM service.
    Pam(Pam),
}

impl PasswordCheck {
    /// The kind.
    pub fn kind(&self) -> CheckKind {
        match self {
            PasswordCheck::Bind => CheckKind::Bind,
            PasswordCheck::Kerberos(_) => CheckKind::Kerberos,
            PasswordCheck::Pam(_) => CheckKind::Pam,
        }
    }
}

/// A domain's Kerberos check: known when the settings load, or once the realm has been read from the
/// directory (Open Directory names it in `cn=KerberosKDC,cn=config`).
#[derive(Debug, Clone)]
pub struct Kerberos {
    known: Arc<tokio::sync::OnceCell<KerberosCheck>>,
    /// The keys, kept to finish the check with the realm the directory names.
    pending: Option<Arc<Pending>>,
}

/// A check waiting for its realm.
#[derive(Debug)]
struct Pending {
    keys: CheckKeys,
    urls: Vec<LdapUrl>,
    config_dir: std::path::PathBuf,
    defaults: KerberosDefaults,
}

impl Kerberos {
    fn known(check: KerberosCheck) -> Kerberos {
        Kerberos { known: Arc::new(tokio::sync::OnceCell::new_with(Some(check))), pending: None }
    }

    /// The check, the realm read with `read_realm` first when the settings did not name it (once: every
    /// later call answers at once). A realm that cannot be read is the error of this call only.
    pub async fn check<F, Fut>(&self, read_realm: F) -> Result<&KerberosCheck, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, Error>>,
    {
        self.known
            .get_or_try_init(|| async {
                let pending = self.pending.as_ref().ok_or_else(|| Error::Unexpected {
                    what: "the Kerberos check".into(),
                    diagnostic: "neither a realm nor a way to read it".into(),
                })?;
                let realm = read_realm().await?;
                let cx = Context {
                    kerberos: pending.defaults,
                    urls: &pending.urls,
                    dns_domain: "",
                    config_dir: &pending.config_dir,
                };
                let mut keys = pending.keys.clone();
                keys.kerberos_realm = Some(realm);
                keys.kerberos(cx)?.known.get().cloned().ok_or_else(|| Error::Unexpected {
                    what: "the Kerberos check".into(),
                    diagnostic: "the realm read from the directory left it pending".into(),
                })
            })
            .await
    }

    /// The check when it is known already (the realm in the settings, or read before).
    pub fn now(&self) -> Option<&KerberosCheck> {
        self.known.get()
    }
}

/// A domain's realm and how its users' principals are named.
#[derive(Debug, Clone)]
pub struct KerberosCheck {
    /// The realm and its KDCs.
    pub realm: Arc<Realm>,
    /// `kerberos_principal`: `{attribute}` placeholders over the user's entry, and `{realm}`.
    pub principal_template: String,
    /// The template, parsed once when the settings load.
    pieces: Vec<Piece>,
}

/// A part of `kerberos_principal`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text as written.
    Text(String),
    /// `{attribute}`: the entry's first value of it.
    Attribute(String),
    /// `{realm}`.
    Realm,
}

impl KerberosCheck {
    /// A realm and a principal template, checked (`DC-115`): it must name an attribute of the user, and no
    /// other realm.
    pub fn new(realm: Realm, principal_template: String) -> Result<KerberosCheck, Error> {
        let pieces = parse_principal_template(&principal_template, &realm.settings().realm)?;
        Ok(KerberosCheck { realm: Arc::new(realm), principal_template, pieces })
    }

    /// The principal of a user's entry: each `{attribute}` is the entry's first value of it, escaped so
    /// that it stays one name component (a `/` or `@` in a value cannot make another principal).
    pub fn principal_for(&self, entry: &SearchEntry) -> Result<Principal, dirconn_kerberos::Error> {
        let realm = &self.realm.settings().realm;
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Realm => out.push_str(realm),
                Piece::Attribute(name) => {
                    let value = first_text(entry, name).filter(|v| !v.is_empty()).ok_or_else(|| {
                        dirconn_kerberos::Error::BadPrincipal {
                            principal: self.principal_template.clone(),
                            problem: format!("the entry {} has no `{name}` value", entry.dn),
                        }
                    })?;
                    for c in value.chars() {
                        if matches!(c, '/' | '@' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
            }
        }
        Principal::parse(&out, realm)
            .map_err(|bad| dirconn_kerberos::Error::BadPrincipal { principal: out.clone(), problem: bad.0 })
    }
}

/// The password-check keys as written.
#[derive(Debug, Default, Clone)]
pub(crate) struct CheckKeys {
    pub password_check: Option<CheckKind>,
    pub kerberos_realm: Option<String>,
    pub kdc: Option<Vec<String>>,
    pub kdc_udp: Option<bool>,
    pub kdc_timeout: Option<Duration>,
    pub kdc_max_concurrent: Option<usize>,
    pub keytab: Option<std::path::PathBuf>,
    pub service_principal: Option<String>,
    pub kerberos_principal: Option<String>,
    pub kerberos_validate: Option<bool>,
    pub pam_service: Option<String>,
    pub pam_confdir: Option<std::path::PathBuf>,
    pub pam_max_concurrent: Option<usize>,
    pub pam_timeout: Option<Duration>,
}

/// What the connector kind and directory give the check's defaults.
pub(crate) struct Context<'a> {
    pub kerberos: KerberosDefaults,
    pub urls: &'a [LdapUrl],
    pub dns_domain: &'a str,
    pub config_dir: &'a Path,
}

const KERBEROS_KEYS: [&str; 9] = [
    "kerberos_realm",
    "kdc",
    "kdc_udp",
    "kdc_timeout",
    "kdc_max_concurrent",
    "keytab",
    "service_principal",
    "kerberos_principal",
    "kerberos_validate",
];
const PAM_KEYS: [&str; 4] = ["pam_service", "pam_confdir", "pam_max_concurrent", "pam_timeout"];

fn bad(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::config("DC-115", key, problem, fix)
}

impl CheckKeys {
    fn given(&self) -> Vec<&'static str> {
        let k = self;
        let flags = [
            k.kerberos_realm.is_some(),
            k.kdc.is_some(),
            k.kdc_udp.is_some(),
            k.kdc_timeout.is_some(),
            k.kdc_max_concurrent.is_some(),
            k.keytab.is_some(),
            k.service_principal.is_some(),
            k.kerberos_principal.is_some(),
            k.kerberos_validate.is_some(),
        ];
        let pam =
            [k.pam_service.is_some(), k.pam_confdir.is_some(), k.pam_max_concurrent.is_some(), k.pam_timeout.is_some()];
        KERBEROS_KEYS.iter().zip(flags).chain(PAM_KEYS.iter().zip(pam)).filter(|(_, g)| *g).map(|(n, _)| *n).collect()
    }

    /// The check these keys describe; every key of another check, and every bad value, refused.
    pub(crate) fn build(self, cx: Context<'_>) -> Result<PasswordCheck, Error> {
        let kind = self.password_check.unwrap_or_default();
        for key in self.given() {
            let belongs = if KERBEROS_KEYS.contains(&key) { CheckKind::Kerberos } else { CheckKind::Pam };
            if belongs != kind {
                return Err(Error::config(
                    "DC-114",
                    key,
                    format!(
                        "this key belongs to password_check = \"{}\", and this domain's is \"{}\"",
                        belongs.as_str(),
                        kind.as_str()
                    ),
                    format!("Set password_check = \"{}\", or remove {key}.", belongs.as_str()),
                ));
            }
        }
        match kind {
            CheckKind::Bind => Ok(PasswordCheck::Bind),
            CheckKind::Kerberos => self.kerberos(cx).map(PasswordCheck::Kerberos),
            CheckKind::Pam => self.pam(cx).map(PasswordCheck::Pam),
        }
    }

    fn kerberos(self, cx: Context<'_>) -> Result<Kerberos, Error> {
        let defaults = cx.kerberos;
        let realm = match self.kerberos_realm.clone() {
            Some(realm) => realm,
            None if defaults.realm == RealmSource::SearchBase && !cx.dns_domain.is_empty() => {
                cx.dns_domain.to_ascii_uppercase()
            }
            None if defaults.realm == RealmSource::Directory => {
                let pending =
                    Pending { keys: self, urls: cx.urls.to_vec(), config_dir: cx.config_dir.to_owned(), defaults };
                return Ok(Kerberos {
                    known: Arc::new(tokio::sync::OnceCell::new()),
                    pending: Some(Arc::new(pending)),
                });
            }
            None => {
                return Err(bad(
                    "kerberos_realm",
                    "password_check = \"kerberos\" needs the realm",
                    "Set kerberos_realm = \"EXAMPLE.ORG\" (in capitals, as krb5.conf's default_realm).",
                ));
            }
        };
        if realm.is_empty() || realm != realm.to_ascii_uppercase() || realm.contains(['@', '/', ' ']) {
            return Err(bad(
                "kerberos_realm",
                format!("`{realm}` is not a realm name in capitals"),
                format!("Write the realm in capitals: kerberos_realm = \"{}\".", realm.to_ascii_uppercase()),
            ));
        }
        let kdc_texts = match self.kdc {
            Some(list) if !list.is_empty() => list,
            Some(_) => {
                return Err(bad("kdc", "the list is empty", "List the realm's KDCs: kdc = [\"kdc1.example.org\"]."));
            }
            // Every AD domain controller is a KDC.
            None if defaults.kdcs_are_directory_servers => {
                cx.urls.iter().map(|u| KdcAddress { host: u.host.clone(), port: 88 }.to_string()).collect()
            }
            None => {
                return Err(bad(
                    "kdc",
                    "password_check = \"kerberos\" needs the realm's KDCs",
                    "Set kdc = [\"kdc1.example.org\", \"kdc2.example.org:88\"] (tried in order).",
                ));
            }
        };
        let kdcs = kdc_texts
            .iter()
            .map(|t| {
                KdcAddress::parse(t).map_err(|p| bad("kdc", format!("`{t}`: {p}"), "Write host[:port], [v6]:port."))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = duration("kdc_timeout", self.kdc_timeout, 5, 120)?;
        let max_in_flight = count("kdc_max_concurrent", self.kdc_max_concurrent, 4)?;
        let validate = self.kerberos_validate.unwrap_or(true);
        let validation = match (validate, self.keytab, self.service_principal) {
            (false, None, None) => {
                tracing::warn!(realm, "kerberos_validate = false: a spoofed KDC could accept any password");
                None
            }
            (false, _, _) => {
                return Err(bad(
                    "kerberos_validate",
                    "it is false, and a keytab or service principal is given",
                    "Remove kerberos_validate (tickets are then validated with the keytab), or remove keytab and \
                     service_principal.",
                ));
            }
            (true, None, _) => {
                return Err(bad(
                    "keytab",
                    "Kerberos passwords are checked only with ticket validation, which needs a keytab",
                    "Export the key of a service principal (imap/mail.example.org) into a keytab and set keytab \
                     and service_principal; only where no keytab can exist, set kerberos_validate = false (then a \
                     spoofed KDC can accept any password).",
                ));
            }
            (true, Some(_), None) => {
                return Err(bad(
                    "service_principal",
                    "a keytab is given without the service principal whose key validates tickets",
                    "Set service_principal = \"imap/mail.example.org\" (a principal in the keytab).",
                ));
            }
            (true, Some(keytab), Some(service)) => {
                let keytab = cx.config_dir.join(keytab);
                let read = dirconn_kerberos::Keytab::read(&keytab).map_err(|p| {
                    bad(
                        "keytab",
                        format!("{}: {p}", keytab.display()),
                        "Point keytab at the service's MIT keytab, readable by dirconn (`klist -k -e FILE` lists it).",
                    )
                })?;
                let service = Principal::parse(&service, &realm).map_err(|p| {
                    bad(
                        "service_principal",
                        format!("`{service}`: {p}"),
                        "Write it as imap/mail.example.org or imap/mail.example.org@REALM.",
                    )
                })?;
                if service.realm != realm {
                    return Err(bad(
                        "service_principal",
                        format!("`{service}` is not in the realm {realm}"),
                        "Use a service principal of kerberos_realm.",
                    ));
                }
                if read.entries_for(&service.to_string()).next().is_none() {
                    return Err(bad(
                        "service_principal",
                        format!("the keytab {} holds no key of {service}", keytab.display()),
                        "Set service_principal to a principal the keytab holds (`klist -k FILE`), or export its key into it.",
                    ));
                }
                Some(Validation { keytab, service })
            }
        };
        let principal_template = self.kerberos_principal.unwrap_or_else(|| defaults.principal.to_owned());
        let settings = RealmSettings {
            realm,
            kdcs,
            udp: self.kdc_udp.unwrap_or(false),
            connect_timeout: timeout,
            read_timeout: timeout,
            max_skew: Duration::from_secs(300),
            max_in_flight,
            validation,
        };
        KerberosCheck::new(Realm::new(settings), principal_template).map(Kerberos::known)
    }

    fn pam(self, cx: Context<'_>) -> Result<Pam, Error> {
        let service = self.pam_service.ok_or_else(|| {
            bad(
                "pam_service",
                "password_check = \"pam\" needs the service name",
                "Set pam_service = \"dirconn\" and write /etc/pam.d/dirconn (examples on the PAM page).",
            )
        })?;
        if service.is_empty() || service.contains(['/', '\0']) || service.starts_with('.') {
            return Err(bad(
                "pam_service",
                format!("`{service}` is not a service name"),
                "Give the file's name only, e.g. \"dirconn\".",
            ));
        }
        let confdir = self.pam_confdir.map(|d| cx.config_dir.join(d));
        if let Some(dir) = &confdir
            && !dir.is_dir()
        {
            return Err(bad(
                "pam_confdir",
                format!("{} is not a folder", dir.display()),
                "Point pam_confdir at the folder of PAM service files, or remove it (/etc/pam.d).",
            ));
        }
        let max_concurrent = count("pam_max_concurrent", self.pam_max_concurrent, 8)?;
        let timeout = duration("pam_timeout", self.pam_timeout, 30, 300)?;
        Ok(Pam::new(PamSettings { service, confdir, max_concurrent, timeout }))
    }
}

/// A count from 1 to 256 (`default` when not given).
fn count(key: &str, value: Option<usize>, default: usize) -> Result<usize, Error> {
    match value.unwrap_or(default) {
        n @ 1..=256 => Ok(n),
        n => Err(bad(key, format!("{n} is out of range"), format!("Use 1 to 256 ({default} by default)."))),
    }
}

/// A duration from 1 s to `max_secs` (`default_secs` when not given).
fn duration(key: &str, value: Option<Duration>, default_secs: u64, max_secs: u64) -> Result<Duration, Error> {
    let d = value.unwrap_or(Duration::from_secs(default_secs));
    if d < Duration::from_secs(1) || d > Duration::from_secs(max_secs) {
        let (max, default) = (Duration::from_secs(max_secs), Duration::from_secs(default_secs));
        return Err(bad(
            key,
            format!("{} is out of range", humantime::format_duration(d)),
            format!(
                "Use a duration from \"1s\" to \"{}\" (default \"{}\").",
                humantime::format_duration(max),
                humantime::format_duration(default)
            ),
        ));
    }
    Ok(d)
}

/// Parses `kerberos_principal`: it must name the user with an attribute, in the domain's realm.
fn parse_principal_template(template: &str, realm: &str) -> Result<Vec<Piece>, Error> {
    let fix = "Write it as {sAMAccountName}@{realm} or {uid}@{realm}: attribute names in braces, and the realm.";
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(bad("kerberos_principal", format!("`{template}` has an unclosed `{{`"), fix));
        };
        let name = &rest[start + 1..start + len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';') {
            return Err(bad("kerberos_principal", format!("`{{{name}}}` is not an attribute name"), fix));
        }
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        pieces.push(if name == "realm" { Piece::Realm } else { Piece::Attribute(name.to_owned()) });
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    if !pieces.iter().any(|p| matches!(p, Piece::Attribute(_))) {
        return Err(bad("kerberos_principal", format!("`{template}` names no attribute of the user"), fix));
    }
    if let Some((_, after)) = template.rsplit_once('@')
        && after != "{realm}"
        && after != realm
    {
        return Err(bad("kerberos_principal", format!("`{template}` names another realm than {realm}"), fix));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
        SearchEntry {
            dn: "uid=x,dc=example,dc=org".into(),
            attrs: attrs.iter().map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()])).collect(),
            bin_attrs: Default::default(),
        }
    }

    #[test]
    fn principals_are_formed_from_the_entry_and_escaped() {
        let realm = Realm::new(RealmSettings {
            realm: "EXAMPLE.ORG".into(),
            kdcs: vec![],
            udp: false,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_skew: Duration::from_secs(300),
            max_in_flight: 4,
            validation: None,
        });
        let check = KerberosCheck::new(realm, "{uid}@{realm}".into()).unwrap();
        assert_eq!(check.principal_for(&entry(&[("uid", "alice")])).unwrap().to_string(), "alice@EXAMPLE.ORG");
        let tricky = check.principal_for(&entry(&[("uid", "admin/root@EVIL.ORG")])).unwrap();
        assert_eq!(tricky.components, vec!["admin/root@EVIL.ORG".to_owned()], "one component, our realm");
        assert_eq!(tricky.realm, "EXAMPLE.ORG");
        assert!(check.principal_for(&entry(&[("cn", "x")])).is_err());
    }

    #[test]
    fn templates_are_checked() {
        assert!(parse_principal_template("{uid}@{realm}", "R").is_ok());
        assert!(parse_principal_template("{sAMAccountName}@R", "R").is_ok());
        assert!(parse_principal_template("{uid}", "R").is_ok());
        for bad in ["{realm}", "alice@{realm}", "{uid}@OTHER", "{uid", "{u id}@{realm}"] {
            assert!(parse_principal_template(bad, "R").is_err(), "{bad}");
        }
    }

    fn settings(defaults: crate::LdapDefaults, extra: &str) -> Result<crate::LdapSettings, Error> {
        let json = format!(
            r#"{{"urls":["ldap://dc1.example.test"],"bind_dn":"cn=s","bind_password":"p","search_base":"DC=example,DC=test"{extra}}}"#
        );
        crate::LdapSettings::from_json("example.test", &json, Path::new("/nonexistent"), defaults)
    }

    #[test]
    fn bad_combinations_are_refused_naming_the_key() {
        let generic = crate::dialect::generic::TEST_DEFAULTS;
        let ad = crate::dialect::ad::TEST_DEFAULTS;
        let refused = |d, extra: &str| {
            let err = settings(d, extra).unwrap_err();
            match &err {
                Error::Config { code, key, .. } => format!("{code} {key}"),
                other => panic!("{other}"),
            }
        };
        assert_eq!(refused(generic, r#","pam_service":"x""#), "DC-114 pam_service");
        assert_eq!(refused(generic, r#","password_check":"pam","kdc":["k"],"pam_service":"x""#), "DC-114 kdc");
        assert_eq!(refused(generic, r#","password_check":"kerberos""#), "DC-115 kerberos_realm");
        assert_eq!(
            refused(generic, r#","password_check":"kerberos","kerberos_realm":"example.org""#),
            "DC-115 kerberos_realm"
        );
        assert_eq!(refused(generic, r#","password_check":"kerberos","kerberos_realm":"EXAMPLE.ORG""#), "DC-115 kdc");
        assert_eq!(
            refused(generic, r#","password_check":"kerberos","kerberos_realm":"E","kdc":["k"]"#),
            "DC-115 keytab"
        );
        assert_eq!(
            refused(
                generic,
                r#","password_check":"kerberos","kerberos_realm":"E","kdc":["k:0"],"kerberos_validate":false"#
            ),
            "DC-115 kdc"
        );
        assert_eq!(
            refused(
                generic,
                r#","password_check":"kerberos","kerberos_realm":"E","kdc":["k"],"kerberos_validate":false,"keytab":"x""#
            ),
            "DC-115 kerberos_validate"
        );
        assert_eq!(
            refused(
                generic,
                r#","password_check":"kerberos","kerberos_realm":"E","kdc":["k"],"keytab":"/nonexistent/k""#
            ),
            "DC-115 service_principal"
        );
        assert_eq!(
            refused(
                generic,
                r#","password_check":"kerberos","kerberos_realm":"E","kdc":["k"],"keytab":"/nonexistent/k","service_principal":"imap/x""#
            ),
            "DC-115 keytab"
        );
        assert_eq!(
            refused(ad, r#","password_check":"kerberos","kerberos_validate":false,"kerberos_principal":"{uid}@OTHER""#),
            "DC-115 kerberos_principal"
        );
        assert_eq!(refused(generic, r#","password_check":"pam""#), "DC-115 pam_service");
        assert_eq!(refused(generic, r#","password_check":"pam","pam_service":"../x""#), "DC-115 pam_service");
        assert_eq!(
            refused(generic, r#","password_check":"pam","pam_service":"x","pam_confdir":"/nonexistent""#),
            "DC-115 pam_confdir"
        );
        assert_eq!(
            refused(generic, r#","password_check":"pam","pam_service":"x","pam_max_concurrent":0"#),
            "DC-115 pam_max_concurrent"
        );
        assert!(refused(generic, r#","password_check":"radius""#).starts_with("DC-101 password_check"));
    }

    #[test]
    fn active_directory_fills_the_realm_and_kdcs_from_the_directory() {
        let s =
            settings(crate::dialect::ad::TEST_DEFAULTS, r#","password_check":"kerberos","kerberos_validate":false"#)
                .unwrap();
        let PasswordCheck::Kerberos(check) = &s.password_check else { panic!("kerberos") };
        let check = check.now().expect("the realm is known at load");
        let realm = check.realm.settings();
        assert_eq!(realm.realm, "EXAMPLE.TEST");
        assert_eq!(realm.kdcs, vec![KdcAddress { host: "dc1.example.test".into(), port: 88 }]);
        assert_eq!(check.principal_template, "{sAMAccountName}@{realm}");
        assert_eq!(realm.max_in_flight, 4);
        let s = settings(
            crate::dialect::ad::TEST_DEFAULTS,
            r#","password_check":"kerberos","kerberos_validate":false,"kdc_max_concurrent":16,"kdc_timeout":"2s""#,
        )
        .unwrap();
        let PasswordCheck::Kerberos(check) = &s.password_check else { panic!("kerberos") };
        let check = check.now().expect("the realm is known at load");
        assert_eq!(
            (check.realm.settings().max_in_flight, check.realm.settings().read_timeout),
            (16, Duration::from_secs(2))
        );
        let s = settings(crate::dialect::generic::TEST_DEFAULTS, r#","password_check":"pam","pam_service":"dirconn""#)
            .unwrap();
        assert_eq!(s.password_check.kind(), CheckKind::Pam);
        assert_eq!(
            settings(crate::dialect::generic::TEST_DEFAULTS, "").unwrap().password_check.kind(),
            CheckKind::Bind
        );
        // Open Directory: the realm waits for the directory; the KDCs are the directory servers.
        let s =
            settings(crate::dialect::od::TEST_DEFAULTS, r#","password_check":"kerberos","kerberos_validate":false"#)
                .unwrap();
        let PasswordCheck::Kerberos(check) = &s.password_check else { panic!("kerberos") };
        assert!(check.now().is_none(), "read from cn=KerberosKDC,cn=config at first use");
        let err = settings(
            crate::dialect::generic::TEST_DEFAULTS,
            r#","password_check":"kerberos","kerberos_validate":false"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("kerberos_realm"), "{err}");
    }
}
