//! Accounts of the store, logins through the store, password changes, migrations, confirmations.

use std::{collections::BTreeMap, time::Duration};

use dirconn_host::{Error, LoginOutcome, Migration, Via};
use dirconn_store::{Account, Field, Source, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::{Problem, ProblemKind};

/// Who checks an account's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountSource {
    /// The domain's directory.
    Directory,
    /// The store: local accounts and administrators.
    Local,
}

impl From<Source> for AccountSource {
    fn from(source: Source) -> AccountSource {
        match source {
            Source::Directory => AccountSource::Directory,
            Source::Local => AccountSource::Local,
        }
    }
}

/// An account of the store. Never its password hashes, its cached password or its sync digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// The account's own id (never reused).
    pub id: String,
    /// The mail domain.
    pub domain: String,
    /// The account name in the mail server, unique in the domain.
    pub login: String,
    /// The name the user authenticates with.
    pub auth_name: String,
    /// Who checks the password.
    pub source: AccountSource,
    /// The directory's stable key (entryUUID, objectGUID…).
    pub directory_key: Option<String>,
    /// The entry's DN when last seen.
    pub dn: Option<String>,
    /// Whether the account may log in.
    pub active: bool,
    /// Whether it is an administrator.
    pub admin: bool,
    /// The mapped fields that have a value, by name (`email`); bytes (the photo) as `<N bytes>`.
    pub fields: BTreeMap<String, String>,
    /// The DNs of its directory groups, lowercase.
    pub groups: Vec<String>,
    /// Its app groups.
    pub app_groups: Vec<String>,
    /// Its mail addresses, lowercase: the canonical `login@domain` first, then the primary address and the
    /// aliases the domain's address attributes gave (what Postfix's lookup tables find it by).
    pub addresses: Vec<String>,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
    /// When it last logged in (Unix seconds).
    pub last_login: Option<i64>,
    /// When a sync deactivated it (Unix seconds).
    pub deactivated_at: Option<i64>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> AccountView {
        let fields = Field::ALL
            .iter()
            .filter_map(|f| {
                let value = match a.fields.get(*f)? {
                    Value::Text(t) => t.clone(),
                    Value::Bytes(b) => format!("<{} bytes>", b.len()),
                };
                Some((f.name().to_owned(), value))
            })
            .collect();
        AccountView {
            id: a.id.clone(),
            domain: a.domain.clone(),
            login: a.login.clone(),
            auth_name: a.auth_name.clone(),
            source: a.source.into(),
            directory_key: a.directory_key.clone(),
            dn: a.dn.clone(),
            active: a.active,
            admin: a.admin,
            fields,
            groups: a.groups.iter().cloned().collect(),
            app_groups: a.app_groups.iter().cloned().collect(),
            addresses: a.all_addresses(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            last_login: a.last_login,
            deactivated_at: a.deactivated_at,
        }
    }
}

/// How a login's password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoginVia {
    /// By the directory.
    Directory,
    /// By the store's hash of a local account.
    Local,
    /// By the cached hash of the last good directory password (the directory was down): `offlinecache`.
    OfflineCache,
}

impl From<Via> for LoginVia {
    fn from(via: Via) -> LoginVia {
        match via {
            Via::Directory => LoginVia::Directory,
            Via::Local => LoginVia::Local,
            Via::OfflineCache => LoginVia::OfflineCache,
        }
    }
}

/// The directory entry behind a login, as far as the store knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginUserView {
    /// The entry's DN (none for a local account).
    pub dn: Option<String>,
}

/// A login through the store that succeeded (a refused one is a [`crate::Refusal`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginView {
    /// Always `true`.
    pub ok: bool,
    /// The mail domain.
    pub domain: String,
    /// The login within the domain, as given.
    pub login: String,
    /// How long the login took.
    pub elapsed_ms: f64,
    /// How the password was checked.
    pub via: LoginVia,
    /// Whether this login created the account.
    pub created: bool,
    /// Notices for the user and the administrator.
    pub warnings: Vec<String>,
    /// The account, as stored after the login.
    pub account: AccountView,
    /// The directory entry.
    pub user: LoginUserView,
}

impl LoginView {
    /// A login of `login` in `domain` that took `elapsed`.
    pub fn new(domain: &str, login: &str, elapsed: Duration, outcome: &LoginOutcome) -> LoginView {
        LoginView {
            ok: true,
            domain: domain.to_owned(),
            login: login.to_owned(),
            elapsed_ms: crate::millis(elapsed),
            via: outcome.via.into(),
            created: outcome.created,
            warnings: outcome.warnings.clone(),
            account: AccountView::from(&outcome.account),
            user: LoginUserView { dn: outcome.account.dn.clone() },
        }
    }
}

/// Which password operation ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordOperation {
    /// The user changed their password (the current one given).
    Changed,
    /// The service account reset it.
    Reset,
}

/// A password changed or reset, or why not (`code`, `kind` and `error` only when it failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PasswordView {
    /// Whether the password was set.
    pub ok: bool,
    /// The mail domain.
    pub domain: String,
    /// The login within it.
    pub login: String,
    /// What was asked for.
    pub operation: PasswordOperation,
    /// The error's code, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error's kind, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProblemKind>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

impl PasswordView {
    /// The outcome of `operation` for `login` in `domain`.
    pub fn new(domain: &str, login: &str, operation: PasswordOperation, outcome: &Result<(), Error>) -> PasswordView {
        let err = outcome.as_ref().err();
        PasswordView {
            ok: err.is_none(),
            domain: domain.to_owned(),
            login: login.to_owned(),
            operation,
            code: err.map(|e| e.code().to_owned()),
            kind: err.map(|e| e.kind().into()),
            error: err.map(Problem::within_domain),
        }
    }
}

/// What a migration of local accounts to the directory did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MigrationView {
    /// Accounts now directory-backed, each as `[login, dn]`.
    #[schema(value_type = Vec<Vec<String>>)]
    pub migrated: Vec<(String, String)>,
    /// Accounts no directory entry matches (they stay local).
    pub unmatched: Vec<String>,
    /// Accounts whose entry backs another account already.
    pub conflicts: Vec<String>,
}

impl From<&Migration> for MigrationView {
    fn from(m: &Migration) -> MigrationView {
        MigrationView { migrated: m.migrated.clone(), unmatched: m.unmatched.clone(), conflicts: m.conflicts.clone() }
    }
}

/// A command that did what it was asked, in a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DoneView {
    /// Always `true`.
    pub ok: bool,
    /// What was done (`created the local account root@example.org`).
    pub message: String,
}

impl DoneView {
    /// Done: `message`.
    pub fn new(message: impl Into<String>) -> DoneView {
        DoneView { ok: true, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, schema_keys, set};

    fn account() -> Account {
        let mut a = Account::new("a.org", "bob", "bob", Source::Local, 1_700_000_000);
        a.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$local-hash".into());
        a.cached_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$cached-hash".into());
        a.cached_at = Some(1_700_000_001);
        a.sync_digest = Some("digest-value".into());
        a.fields.set(Field::Email, Some(Value::Text("bob@a.org".into())));
        a.fields.set(Field::Photo, Some(Value::Bytes(vec![0; 42])));
        a.groups.insert("cn=staff,dc=a,dc=org".into());
        a
    }

    #[test]
    fn an_account_view_never_contains_password_hashes() {
        let a = account();
        let view = AccountView::from(&a);
        let expected = [
            "id",
            "domain",
            "login",
            "auth_name",
            "source",
            "directory_key",
            "dn",
            "active",
            "admin",
            "fields",
            "groups",
            "app_groups",
            "addresses",
            "created_at",
            "updated_at",
            "last_login",
            "deactivated_at",
        ];
        assert_eq!(keys(&view), set(&expected));
        assert_eq!(schema_keys::<AccountView>(), set(&expected));
        let text = serde_json::to_string(&view).unwrap();
        for secret in ["argon2", "local-hash", "cached-hash", "digest-value", "cached_at", "hash"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["source"], "local");
        assert_eq!(json["fields"]["email"], "bob@a.org");
        assert_eq!(json["fields"]["photo"], "<42 bytes>");
        assert_eq!(json["fields"].as_object().unwrap().len(), 2, "empty fields are left out: {json}");
        assert_eq!(json["groups"], serde_json::json!(["cn=staff,dc=a,dc=org"]));
    }

    #[test]
    fn a_login_shows_how_and_the_entry() {
        let outcome =
            LoginOutcome { account: account(), via: Via::OfflineCache, created: true, warnings: vec!["soon".into()] };
        let view = LoginView::new("a.org", "bob", Duration::from_millis(3), &outcome);
        let expected = ["ok", "domain", "login", "elapsed_ms", "via", "created", "warnings", "account", "user"];
        assert_eq!(keys(&view), set(&expected));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["ok"].as_bool(), json["via"].as_str()), (Some(true), Some("offlinecache")));
        assert!(json["user"]["dn"].is_null() && json["account"]["login"] == "bob", "{json}");
        assert!(!json.to_string().contains("argon2"));
    }

    #[test]
    fn a_password_view_has_the_error_only_when_it_failed() {
        let ok = PasswordView::new("a.org", "bob", PasswordOperation::Reset, &Ok(()));
        assert_eq!(keys(&ok), set(&["ok", "domain", "login", "operation"]));
        assert_eq!(serde_json::to_value(&ok).unwrap()["operation"], "reset");
        let err = Error::Input { message: "The two passwords differ.".into(), fix: "Type them again.".into() };
        let failed = PasswordView::new("a.org", "bob", PasswordOperation::Changed, &Err(err));
        assert_eq!(keys(&failed), set(&["ok", "domain", "login", "operation", "code", "kind", "error"]));
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!((json["ok"].as_bool(), json["code"].as_str()), (Some(false), Some("DC-013")));
        assert_eq!(json["error"]["fix"], "Type them again.");
        assert_eq!(serde_json::from_value::<PasswordView>(json).unwrap(), failed);
    }

    #[test]
    fn a_migration_lists_pairs() {
        let m = Migration {
            migrated: vec![("bob".into(), "uid=bob,dc=a".into())],
            unmatched: vec!["carol".into()],
            conflicts: vec![],
        };
        let json = serde_json::to_value(MigrationView::from(&m)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "migrated": [["bob", "uid=bob,dc=a"]], "unmatched": ["carol"], "conflicts": [] })
        );
        assert_eq!(
            serde_json::to_value(DoneView::new("done")).unwrap(),
            serde_json::json!({ "ok": true, "message": "done" })
        );
    }
}
