//! dirconn's PAM password check: a named service's `auth` and `account` stacks, run through libpam with
//! `pam_start_confdir` (service files from /etc/pam.d or any folder), a conversation that answers the
//! password once, and a bounded pool of blocking threads (PAM calls block; a handle is used by one thread).
//! [`Pam`] is the entry point; [`Error`] maps every PAM code a login must tell apart to a stable code.

mod error;
pub mod examples;
mod ffi;
mod session;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

pub use error::Error;

/// Where PAM reads service files when no folder is configured.
pub const SYSTEM_CONFDIR: &str = "/etc/pam.d";

/// How a PAM service is run.
#[derive(Debug, Clone)]
pub struct PamSettings {
    /// The service name (the file's name).
    pub service: String,
    /// The folder of service files; `None`: /etc/pam.d.
    pub confdir: Option<PathBuf>,
    /// PAM transactions at once (blocking threads).
    pub max_concurrent: usize,
    /// How long a login waits for a free slot plus its PAM call.
    pub timeout: Duration,
}

/// A PAM service and its pool.
#[derive(Debug, Clone)]
pub struct Pam {
    settings: Arc<PamSettings>,
    slots: Arc<Semaphore>,
}

/// A login PAM accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// What the modules said, if anything.
    pub messages: Vec<String>,
}

impl Pam {
    /// Prepares a service (nothing is loaded until the first login).
    pub fn new(settings: PamSettings) -> Pam {
        let slots = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
        Pam { settings: Arc::new(settings), slots }
    }

    /// The settings.
    pub fn settings(&self) -> &PamSettings {
        &self.settings
    }

    /// The service file PAM reads.
    pub fn service_file(&self) -> PathBuf {
        self.settings.confdir.as_deref().unwrap_or(Path::new(SYSTEM_CONFDIR)).join(&self.settings.service)
    }

    /// Checks that the service file exists (PAM would otherwise run the `other` service); its path.
    pub fn check_service(&self) -> Result<PathBuf, Error> {
        let path = self.service_file();
        if path.is_file() { Ok(path) } else { Err(Error::ServiceMissing { path: path.display().to_string() }) }
    }

    /// Runs the service's authenticate and account management for `user` with `password`.
    pub async fn check(&self, user: &str, password: &str, rhost: Option<&str>) -> Result<Accepted, Error> {
        if password.is_empty() {
            return Err(Error::EmptyPassword);
        }
        let c_user = session::c_string(user).ok_or(Error::BadInput { what: "user name" })?;
        if password.contains('\0') {
            return Err(Error::BadInput { what: "password" });
        }
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let c_rhost = rhost.and_then(session::c_string);
        self.check_service()?;
        let s = &self.settings;
        let c_service = session::c_string(&s.service).ok_or(Error::BadInput { what: "service name" })?;
        let c_confdir = match &s.confdir {
            Some(dir) => {
                Some(session::c_string(&dir.display().to_string()).ok_or(Error::BadInput { what: "confdir" })?)
            }
            None => None,
        };
        let deadline = tokio::time::Instant::now() + s.timeout;
        let busy = |what: &str| Error::Busy { service: s.service.clone(), what: what.to_owned(), after: s.timeout };
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| busy("every PAM slot stayed busy"))?
            .map_err(|_| busy("the PAM pool is closed"))?;
        let call = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            session::run(&c_service, c_confdir.as_deref(), &c_user, &password, c_rhost.as_deref())
        });
        let outcome = match tokio::time::timeout_at(deadline, call).await {
            Err(_) => return Err(busy("the PAM call did not return; its thread keeps its slot until it does")),
            Ok(Err(join)) => {
                return Err(Error::Other {
                    service: s.service.clone(),
                    stage: "authenticate",
                    code: -1,
                    name: "PANIC",
                    diagnostic: join.to_string(),
                });
            }
            Ok(Ok(outcome)) => outcome,
        };
        outcome_to_result(&s.service, user, outcome)
    }
}

fn outcome_to_result(service: &str, user: &str, o: session::Outcome) -> Result<Accepted, Error> {
    use ffi::*;
    let service = service.to_owned();
    let user = user.to_owned();
    let mut diagnostic = format!("{} in {}: {}", name_of(o.code), o.stage, o.text);
    if !o.messages.is_empty() {
        diagnostic.push_str(&format!("; the modules said: {}", o.messages.join(" / ")));
    }
    Err(match o.code {
        PAM_SUCCESS => return Ok(Accepted { messages: o.messages }),
        _ if o.refused_prompt.is_some() => Error::MorePrompts { service, prompt: o.refused_prompt.unwrap_or_default() },
        PAM_AUTH_ERR | PAM_CRED_INSUFFICIENT => Error::WrongPassword { service, user, diagnostic },
        PAM_USER_UNKNOWN => Error::UserUnknown { service, user, diagnostic },
        PAM_MAXTRIES => Error::MaxTries { service, user, diagnostic },
        PAM_ACCT_EXPIRED => Error::AccountExpired { service, user, diagnostic },
        PAM_NEW_AUTHTOK_REQD | PAM_AUTHTOK_EXPIRED | PAM_CRED_EXPIRED => {
            Error::NewPasswordRequired { service, user, diagnostic }
        }
        PAM_PERM_DENIED => Error::PermissionDenied { service, user, diagnostic },
        PAM_AUTHINFO_UNAVAIL | PAM_CRED_UNAVAIL => Error::Unavailable { service, diagnostic },
        PAM_OPEN_ERR | PAM_SYMBOL_ERR | PAM_SERVICE_ERR | PAM_MODULE_UNKNOWN => Error::Stack { service, diagnostic },
        code => Error::Other { service, stage: o.stage, code, name: name_of(code), diagnostic },
    })
}

/// A PAM code's name.
pub fn name_of(code: i32) -> &'static str {
    use ffi::*;
    match code {
        PAM_SUCCESS => "PAM_SUCCESS",
        PAM_OPEN_ERR => "PAM_OPEN_ERR",
        PAM_SYMBOL_ERR => "PAM_SYMBOL_ERR",
        PAM_SERVICE_ERR => "PAM_SERVICE_ERR",
        PAM_SYSTEM_ERR => "PAM_SYSTEM_ERR",
        PAM_BUF_ERR => "PAM_BUF_ERR",
        PAM_PERM_DENIED => "PAM_PERM_DENIED",
        PAM_AUTH_ERR => "PAM_AUTH_ERR",
        PAM_CRED_INSUFFICIENT => "PAM_CRED_INSUFFICIENT",
        PAM_AUTHINFO_UNAVAIL => "PAM_AUTHINFO_UNAVAIL",
        PAM_USER_UNKNOWN => "PAM_USER_UNKNOWN",
        PAM_MAXTRIES => "PAM_MAXTRIES",
        PAM_NEW_AUTHTOK_REQD => "PAM_NEW_AUTHTOK_REQD",
        PAM_ACCT_EXPIRED => "PAM_ACCT_EXPIRED",
        PAM_CRED_UNAVAIL => "PAM_CRED_UNAVAIL",
        PAM_CRED_EXPIRED => "PAM_CRED_EXPIRED",
        PAM_CONV_ERR => "PAM_CONV_ERR",
        PAM_ABORT => "PAM_ABORT",
        PAM_AUTHTOK_EXPIRED => "PAM_AUTHTOK_EXPIRED",
        PAM_MODULE_UNKNOWN => "PAM_MODULE_UNKNOWN",
        _ => "PAM code",
    }
}
