//! Accounts: the login flow over the store (local accounts, auto-create or require-existing, offline cached
//! passwords), local account management and migration of local accounts to directory-backed ones. How an
//! entry maps onto an account is `mapping.rs`.

use std::net::IpAddr;

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use dirconn_abi::{ClientContext, ErrorKind, UserEntry};
use dirconn_store::{Account, Field, Source, Store, now};

use crate::{
    Domain, Error, Host, LoginPolicy,
    mapping::{apply_entry, in_mapped_groups, log_entry},
};

/// How a login was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// By the directory.
    Directory,
    /// By the store's hash of a local account.
    Local,
    /// By the cached hash of the last good directory password (the directory was down).
    OfflineCache,
}

/// A successful login.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The account, as stored after the login.
    pub account: Account,
    /// How the password was checked.
    pub via: Via,
    /// Whether this login created the account.
    pub created: bool,
    /// Notices for the user (password expiring) and the administrator (photo too large).
    pub warnings: Vec<String>,
}

/// Hashes a password with argon2id (the crate's default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| Error::Input {
        message: format!("The password cannot be hashed: {e}."),
        fix: "Use a password of at most 4 GiB; report this if it persists.".into(),
    })
}

/// Checks a password against an argon2 hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

async fn verify_blocking(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await.unwrap_or(false)
}

async fn hash_blocking(password: &str) -> Result<String, Error> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password)).await.unwrap_or_else(|e| {
        Err(Error::Input { message: format!("Password hashing failed: {e}."), fix: "Report this bug.".into() })
    })
}

/// The account login a directory login becomes: lowercase, as typed in the directory.
pub fn account_name(login: &str) -> String {
    login.trim().to_lowercase()
}

/// Finds the account of a directory entry: by directory key, else by authentication name among the
/// accounts it may claim (the same rule as a sync's).
async fn find_for_entry(tx: &mut dirconn_store::Tx, domain: &str, entry: &UserEntry) -> Result<Option<Account>, Error> {
    if let Some(a) = tx.by_keys(domain, &[entry.id.to_string()]).await?.pop() {
        return Ok(Some(a));
    }
    let by_name = tx.by_auth_names(domain, &[entry.login.to_string()]).await?;
    Ok(by_name.into_iter().find(Account::claimable))
}

/// How old an account's `last_login` may be before a login that changes nothing else writes it again.
pub const LAST_LOGIN_RESOLUTION_SECS: i64 = 60;

/// A directory login that would change nothing but `last_login`, written less than
/// [`LAST_LOGIN_RESOLUTION_SECS`] ago: the outcome, read without a transaction, so the store's writer is
/// not taken (a mail client logs in many times a minute). `None` when the login must write.
async fn unchanged_login(
    store: &Store,
    domain: &Domain,
    entry: &UserEntry,
    warnings: &mut Vec<String>,
) -> Result<Option<LoginOutcome>, Error> {
    if entry.id.is_empty() {
        return Ok(None);
    }
    let Some(existing) = store.by_directory_key(&domain.name, &entry.id).await? else { return Ok(None) };
    let recent = existing.last_login.is_some_and(|t| (now() - t).abs() < LAST_LOGIN_RESOLUTION_SECS);
    if !existing.active || !recent {
        return Ok(None);
    }
    let mut refreshed = existing.clone();
    let notes = apply_entry(&mut refreshed, entry, &domain.policy);
    if refreshed != existing {
        return Ok(None);
    }
    warnings.extend(notes);
    tracing::debug!(domain = %domain.name, login = ?existing.login, "directory user logged in (nothing to write)");
    Ok(Some(LoginOutcome {
        account: existing,
        via: Via::Directory,
        created: false,
        warnings: std::mem::take(warnings),
    }))
}

impl Host {
    /// Opens the configured account store.
    pub async fn open_store(&self) -> Result<Store, Error> {
        Ok(Store::open(&self.config().store).await?)
    }

    /// Logs a user in with the account store: a local account is checked against its hash; otherwise the
    /// directory checks the password and the account is created (auto-create) or must exist, and is refreshed
    /// from the entry. When the directory is unreachable, a cached password (if enabled) still works.
    /// The same as [`Host::login_account_at`] with no local address.
    pub async fn login_account(
        &self,
        store: &Store,
        login: &str,
        password: &str,
        client: ClientContext,
    ) -> Result<LoginOutcome, Error> {
        self.login_account_at(store, login, password, client, None).await
    }

    /// [`Host::login_account`] for a login that arrived at `local_ip`, the address of this host the client
    /// connected to: a login without `@domain` goes to the domain whose `bind_ip` lists it
    /// ([`Host::route_at`]).
    pub async fn login_account_at(
        &self,
        store: &Store,
        login: &str,
        password: &str,
        client: ClientContext,
        local_ip: Option<IpAddr>,
    ) -> Result<LoginOutcome, Error> {
        let route = self.route_at(login, local_ip)?;
        let domain = route.domain;
        let name = account_name(route.login);
        if password.is_empty() {
            return Err(domain.empty_password());
        }
        if let Some(local) = store.account(&domain.name, &name).await?
            && local.source == Source::Local
        {
            return self.login_local(store, domain, local, password).await;
        }
        match domain.authenticate(route.login, password, client).await {
            Ok(entry) => self.login_directory(store, domain, entry, password).await,
            Err(err) if matches!(err.kind(), ErrorKind::Unreachable | ErrorKind::Timeout) => {
                self.login_offline(store, domain, route.login, password, err).await
            }
            Err(err) => Err(err),
        }
    }

    async fn login_local(
        &self,
        store: &Store,
        domain: &Domain,
        mut account: Account,
        password: &str,
    ) -> Result<LoginOutcome, Error> {
        let hash = account.password_hash.clone().unwrap_or_default();
        if !verify_blocking(password, &hash).await {
            tracing::info!(domain = %domain.name, login = ?account.login, "local login refused: wrong password");
            return Err(Error::LocalPassword { domain: domain.name.clone(), login: account.login });
        }
        if !account.active {
            return Err(Error::AccountInactive { domain: domain.name.clone(), login: account.login });
        }
        let before = account.clone();
        account.last_login = Some(now());
        let mut tx = store.begin().await?;
        tx.update(&account, &before).await?;
        tx.commit().await?;
        tracing::info!(domain = %domain.name, login = ?account.login, admin = account.admin, "local account logged in");
        Ok(LoginOutcome { account, via: Via::Local, created: false, warnings: Vec::new() })
    }

    async fn login_directory(
        &self,
        store: &Store,
        domain: &Domain,
        entry: UserEntry,
        password: &str,
    ) -> Result<LoginOutcome, Error> {
        let policy = &domain.policy;
        if policy.mapping.debug {
            log_entry(&domain.name, &entry);
        }
        if policy.only_mapped_groups && !in_mapped_groups(&entry, policy) {
            return Err(Error::NotInMappedGroups { domain: domain.name.clone(), login: entry.login.to_string() });
        }
        let mut warnings: Vec<String> = entry.warnings.iter().map(|w| w.to_string()).collect();
        if policy.offline_days == 0
            && let Some(outcome) = unchanged_login(store, domain, &entry, &mut warnings).await?
        {
            return Ok(outcome);
        }
        let cached = if policy.offline_days > 0 { Some(hash_blocking(password).await?) } else { None };
        let mut tx = store.begin().await?;
        let existing = find_for_entry(&mut tx, &domain.name, &entry).await?;
        let (mut account, before, created) = match existing {
            Some(a) => {
                if !a.active {
                    return Err(Error::AccountInactive { domain: domain.name.clone(), login: a.login });
                }
                (a.clone(), Some(a), false)
            }
            None if policy.login_policy == LoginPolicy::RequireExisting => {
                return Err(Error::NoAccount { domain: domain.name.clone(), login: entry.login.to_string() });
            }
            None => {
                let login = tx.free_login(&domain.name, &account_name(&entry.login)).await?;
                (Account::new(&domain.name, &login, &entry.login, policy.default_source, now()), None, true)
            }
        };
        warnings.extend(apply_entry(&mut account, &entry, policy));
        let t = now();
        account.last_login = Some(t);
        account.updated_at = t;
        if let Some(hash) = cached {
            account.cached_hash = Some(hash);
            account.cached_at = Some(t);
        }
        match &before {
            Some(b) => tx.update(&account, b).await?,
            None => tx.insert(&account).await?,
        }
        tx.commit().await?;
        tracing::info!(domain = %domain.name, login = ?account.login, created, "directory user logged in");
        Ok(LoginOutcome { account, via: Via::Directory, created, warnings })
    }

    async fn login_offline(
        &self,
        store: &Store,
        domain: &Domain,
        login: &str,
        password: &str,
        cause: Error,
    ) -> Result<LoginOutcome, Error> {
        let unavailable = || Error::DirectoryUnavailable {
            domain: domain.name.clone(),
            login: login.to_owned(),
            cause: Box::new(cause.connector_error().cloned().unwrap_or_else(|| {
                dirconn_abi::ConnectorError::new(ErrorKind::Unreachable, cause.code(), cause.to_string(), "")
            })),
        };
        let days = domain.policy.offline_days;
        if days == 0 {
            return Err(unavailable());
        }
        let candidates = store.by_name(&domain.name, login).await?;
        let valid_since = now() - i64::from(days) * 86_400;
        for account in candidates {
            let fresh = account.cached_at.is_some_and(|t| t >= valid_since);
            if account.source == Source::Directory
                && account.active
                && fresh
                && let Some(hash) = &account.cached_hash
                && verify_blocking(password, hash).await
            {
                tracing::warn!(domain = %domain.name, login = ?account.login, "directory unavailable: logged in with the cached password");
                return Ok(LoginOutcome {
                    account,
                    via: Via::OfflineCache,
                    created: false,
                    warnings: vec![
                        "The directory is unavailable; you were logged in with your cached password.".into(),
                    ],
                });
            }
        }
        Err(unavailable())
    }

    /// Creates a local account (an administrator with `admin`), with an argon2id hash of its password.
    pub async fn add_local(&self, store: &Store, login: &str, password: &str, admin: bool) -> Result<Account, Error> {
        let route = self.route(login)?;
        let name = account_name(route.login);
        check_password(password)?;
        let mut tx = store.begin().await?;
        if let Some(existing) = tx.by_logins(&route.domain.name, std::slice::from_ref(&name)).await?.pop() {
            return Err(Error::Account {
                message: format!(
                    "The account {}@{} exists already ({}).",
                    existing.login, existing.domain, existing.source
                ),
                fix: "Choose another name, or set its password with `dirconn local passwd`.".into(),
            });
        }
        let mut account = Account::new(&route.domain.name, &name, &name, Source::Local, now());
        account.admin = admin;
        account.password_hash = Some(hash_blocking(password).await?);
        tx.insert(&account).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Sets a local account's password.
    pub async fn set_local_password(&self, store: &Store, login: &str, password: &str) -> Result<Account, Error> {
        check_password(password)?;
        let (mut tx, account) = self.local_account(store, login).await?;
        let mut changed = account.clone();
        changed.password_hash = Some(hash_blocking(password).await?);
        changed.updated_at = now();
        tx.update(&changed, &account).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Deletes a local account (directory accounts are only ever deactivated, by sync).
    pub async fn remove_local(&self, store: &Store, login: &str) -> Result<Account, Error> {
        let (mut tx, account) = self.local_account(store, login).await?;
        tx.delete(&account.id).await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn local_account(&self, store: &Store, login: &str) -> Result<(dirconn_store::Tx, Account), Error> {
        let route = self.route(login)?;
        let name = account_name(route.login);
        let mut tx = store.begin().await?;
        match tx.by_logins(&route.domain.name, std::slice::from_ref(&name)).await?.pop() {
            Some(a) if a.source == Source::Local => Ok((tx, a)),
            Some(a) => Err(Error::Account {
                message: format!("{}@{} is a directory account; its password is the directory's.", a.login, a.domain),
                fix: "Change the password in the directory.".into(),
            }),
            None => Err(Error::Account {
                message: format!("There is no account {name}@{}.", route.domain.name),
                fix: "`dirconn accounts list` shows the accounts.".into(),
            }),
        }
    }

    /// Turns local accounts of a domain into directory-backed ones where a directory entry matches their
    /// login (or, failing that, their email), keeping their id and data. With `logins` empty, every local
    /// account but the administrators is tried.
    pub async fn migrate(&self, store: &Store, domain: &str, logins: &[String]) -> Result<Migration, Error> {
        let domain = self.domain(domain)?;
        let all = store.accounts(Some(&domain.name)).await?;
        let wanted: Vec<Account> = if logins.is_empty() {
            all.into_iter().filter(|a| a.source == Source::Local && !a.admin).collect()
        } else {
            let mut out = Vec::new();
            for login in logins {
                let name = account_name(login.split('@').next().unwrap_or(login));
                match all.iter().find(|a| a.login == name) {
                    Some(a) if a.source == Source::Local => out.push(a.clone()),
                    Some(a) => {
                        return Err(Error::Account {
                            message: format!("{}@{} is already a directory account.", a.login, a.domain),
                            fix: "Name only local accounts (`dirconn accounts list` shows the source).".into(),
                        });
                    }
                    None => {
                        return Err(Error::Account {
                            message: format!("There is no account {name}@{}.", domain.name),
                            fix: "`dirconn accounts list` shows the accounts.".into(),
                        });
                    }
                }
            }
            out
        };
        let mut report = Migration::default();
        for account in wanted {
            let mut entry = domain.lookup(&account.login).await;
            if let (Err(err), Some(email)) = (&entry, account.fields.text(Field::Email))
                && err.kind() == ErrorKind::NotFound
            {
                entry = domain.lookup(email).await;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    report.unmatched.push(account.login.clone());
                    continue;
                }
                Err(err) => return Err(err),
            };
            let mut tx = store.begin().await?;
            if let Some(other) = tx.by_keys(&domain.name, &[entry.id.to_string()]).await?.pop() {
                report.conflicts.push(format!(
                    "{}: the directory entry {} already backs the account {}",
                    account.login, entry.dn, other.login
                ));
                tx.rollback().await?;
                continue;
            }
            let mut migrated = account.clone();
            apply_entry(&mut migrated, &entry, &domain.policy);
            migrated.source = Source::Directory;
            migrated.password_hash = None;
            migrated.updated_at = now();
            tx.update(&migrated, &account).await?;
            tx.commit().await?;
            report.migrated.push((account.login.clone(), entry.dn.to_string()));
        }
        Ok(report)
    }
}

/// What a migration did.
#[derive(Debug, Default)]
pub struct Migration {
    /// Accounts now directory-backed, with their entry's DN.
    pub migrated: Vec<(String, String)>,
    /// Accounts no directory entry matches.
    pub unmatched: Vec<String>,
    /// Accounts whose entry backs another account already.
    pub conflicts: Vec<String>,
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Error::Input {
            message: "The password is empty.".into(),
            fix: "Give a password (at least 8 characters is wise).".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
