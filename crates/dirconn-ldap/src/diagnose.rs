//! The staged connection test: for each URL, resolve, TCP, TLS and the service bind; then, on the first
//! URL that works, the search base, the user filter, and optionally a user's lookup and bind.
//! Every stage reports pass or fail with its time; a failure carries the engine's [`Error`] with its fix.

use std::{sync::Arc, time::Instant};

use abi_stable::std_types::ROption;
use dirconn_abi::{ConnectorError, StageResult, StageStatus, TestReport};
use ldap3::{Ldap, Scope};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::{
    ClosedDuring, Directory, Error, LdapUrl, PasswordCheck,
    conn::{Query, classify_io},
    error::describe_result,
    tls,
};

/// Collects stages as they run.
pub struct Stages {
    list: Vec<StageResult>,
}

impl Stages {
    pub(crate) fn push(&mut self, stage: &str, target: &str, started: Instant, outcome: Result<String, Error>) -> bool {
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (status, detail, error) = match outcome {
            Ok(detail) => (StageStatus::Passed, detail, ROption::RNone),
            Err(err) => (StageStatus::Failed, String::new(), ROption::RSome(ConnectorError::from(err))),
        };
        let passed = status == StageStatus::Passed;
        self.list.push(StageResult {
            stage: stage.into(),
            target: target.into(),
            status,
            elapsed_us,
            detail: detail.into(),
            error,
        });
        passed
    }

    pub(crate) fn skip(&mut self, stage: &str, target: &str, why: &str) {
        self.list.push(StageResult {
            stage: stage.into(),
            target: target.into(),
            status: StageStatus::Skipped,
            elapsed_us: 0,
            detail: why.into(),
            error: ROption::RNone,
        });
    }
}

impl Directory {
    /// Runs the staged test. `login` adds a lookup of that user; `password` adds a bind as them.
    pub async fn test_connection(&self, login: Option<&str>, password: Option<&str>) -> TestReport {
        let mut st = Stages { list: Vec::new() };
        let mut working: Option<(LdapUrl, Ldap)> = None;
        let s = self.settings();
        for url in &s.urls {
            let target = url.to_string();
            let mode = match (url.ldaps, s.starttls) {
                (true, _) => "LDAPS (TLS from the first byte)",
                (false, true) => "LDAP upgraded with StartTLS",
                (false, false) => "plain LDAP: passwords cross the network unencrypted; prefer ldaps:// or starttls",
            };
            st.push("url", &target, Instant::now(), Ok(mode.to_owned()));
            let ldap = self.test_url(url, &mut st).await;
            if working.is_none()
                && let Some(ldap) = ldap
            {
                working = Some((url.clone(), ldap));
            } else if let Some(mut ldap) = ldap {
                let _ = ldap.unbind().await;
            }
        }
        let Some((url, mut ldap)) = working else {
            for stage in ["search-base", "user-filter"] {
                st.skip(stage, &s.search_base, "no URL passed the service bind");
            }
            self.check_stages(&mut st).await;
            return TestReport { stages: st.list.into() };
        };
        let target = url.to_string();
        let started = Instant::now();
        let none = ["1.1".to_owned()];
        let base_query = Query {
            base: &s.search_base,
            scope: Scope::Base,
            filter: "(objectClass=*)",
            attrs: &none,
            size_limit: 1,
            what: "search base read",
        };
        let base = self.connector.search(&mut ldap, &url, &base_query).await;
        let base_ok = st.push(
            "search-base",
            &s.search_base,
            started,
            base.and_then(|(entries, res)| match res.rc {
                0 if !entries.is_empty() => Ok(format!("{} exists and is readable", s.search_base)),
                0 | 32 => {
                    Err(Error::SearchBaseMissing { base: s.search_base.clone(), diagnostic: describe_result(&res) })
                }
                50 | 53 if crate::guard::restricted_until_changed(&res) => {
                    Err(Error::ServiceMustChange { dn: s.bind_dn.clone(), diagnostic: describe_result(&res) })
                }
                50 => {
                    Err(Error::AccessDenied { what: "read the search base".into(), diagnostic: describe_result(&res) })
                }
                _ => Err(Error::Unexpected { what: "the search base read".into(), diagnostic: describe_result(&res) }),
            }),
        );
        if base_ok {
            let started = Instant::now();
            let filter = self.filter_matching_any_user();
            let query = Query { scope: self.scope(), filter: &filter, what: "user filter search", ..base_query };
            let users = self.connector.search(&mut ldap, &url, &query).await;
            st.push(
                "user-filter",
                &filter,
                started,
                users.and_then(|(entries, res)| match (res.rc, entries.first()) {
                    (0 | 4, Some(first)) => Ok(format!("matches users, for example {}", first.dn)),
                    (0 | 4, None) => Err(Error::NotFound {
                        login: "(any)".into(),
                        filter: filter.clone(),
                        base: s.search_base.clone(),
                        domain: s.domain.clone(),
                    }),
                    _ => Err(Error::Unexpected {
                        what: "the user filter search".into(),
                        diagnostic: describe_result(&res),
                    }),
                }),
            );
        } else {
            st.skip("user-filter", &target, "the search base failed");
        }
        s.dialect.extra_stages(self, &mut st, &mut ldap, &url).await;
        let _ = ldap.unbind().await;
        self.check_stages(&mut st).await;
        if let Some(login) = login {
            let started = Instant::now();
            let found = self.find_user(login).await;
            let dn = found.as_ref().ok().map(|f| f.entry.dn.clone());
            let shown = found.map(|f| format!("{login} is {}", f.entry.dn));
            let found_ok = st.push("user-lookup", &self.user_filter_for(login), started, shown);
            match (password, found_ok) {
                (Some(password), true) => {
                    let started = Instant::now();
                    let outcome = self.authenticate_with_detail(login, password).await.map(|(user, how)| {
                        let mut detail = format!("{how}; {} group(s)", user.groups.len());
                        for w in user.warnings.iter() {
                            detail.push_str("; ");
                            detail.push_str(w);
                        }
                        if !user.state.is_empty() {
                            let state: Vec<&str> = user.state.iter().map(|s| s.as_str()).collect();
                            detail.push_str(&format!("; account state: {}", state.join(", ")));
                        }
                        detail
                    });
                    st.push(self.login_stage(), dn.as_deref().unwrap_or(login), started, outcome);
                }
                (Some(_), false) => st.skip(self.login_stage(), login, "the user was not found"),
                (None, _) => {}
            }
        }
        TestReport { stages: st.list.into() }
    }

    /// The name of the stage that checks a test login's password: `user-bind`, `user-kerberos`, `user-pam`.
    fn login_stage(&self) -> &'static str {
        match self.settings().password_check {
            PasswordCheck::Bind => "user-bind",
            PasswordCheck::Kerberos(_) => "user-kerberos",
            PasswordCheck::Pam(_) => "user-pam",
        }
    }

    /// The stages of a Kerberos or PAM password check: `kdc` (each KDC reached and serving the realm, its
    /// clock), `keytab` (readable, holding the service's key, and that key the realm's), `pam` (the service
    /// file found).
    async fn check_stages(&self, st: &mut Stages) {
        match &self.settings().password_check {
            PasswordCheck::Bind => {}
            PasswordCheck::Kerberos(kerberos) => {
                let started = Instant::now();
                let check = match self.kerberos_check(kerberos).await {
                    Ok(check) => check,
                    Err(err) => {
                        st.push("realm", "cn=KerberosKDC,cn=config", started, Err(err));
                        return;
                    }
                };
                for probe in check.realm.probe().await {
                    let started = Instant::now().checked_sub(probe.elapsed).unwrap_or_else(Instant::now);
                    let outcome = probe.outcome.map(|serves| match probe.offset {
                        Some(o) => format!("{serves}; its clock is {o:+} s from this machine's"),
                        None => serves,
                    });
                    st.push("kdc", &probe.kdc, started, outcome.map_err(Error::from));
                }
                let started = Instant::now();
                let target = match &check.realm.settings().validation {
                    Some(v) => format!("{} ({})", v.keytab.display(), v.service),
                    None => "(none)".to_owned(),
                };
                let ad = self.settings().dialect.spn_gets_no_client_ticket();
                let outcome = match &check.realm.settings().validation {
                    // AD issues no ticket to an SPN as a client (KDC error 6, measured on Samba 4.17): the key
                    // is then proven by the first login's validation (a test login with a password does it).
                    Some(v) if ad => match check.realm.check_keytab().await {
                        Err(dirconn_kerberos::Error::ServiceUnknown { .. }) => Ok(format!(
                            "{} holds keys of {}; Active Directory issues no ticket to an SPN as a client, so the \
                             key is checked by each login's ticket validation (give --login and a password to \
                             check it now)",
                            v.keytab.display(),
                            v.service
                        )),
                        other => other.map_err(Error::from),
                    },
                    Some(_) => check.realm.check_keytab().await.map_err(Error::from),
                    None => Ok("kerberos_validate = false: tickets are not validated, so a spoofed KDC could \
                                accept any password"
                        .to_owned()),
                };
                st.push("keytab", &target, started, outcome);
            }
            PasswordCheck::Pam(pam) => {
                let started = Instant::now();
                let outcome = pam.check_service().map(|path| format!("{} exists", path.display()));
                st.push("pam", &pam.settings().service, started, outcome.map_err(Error::from));
            }
        }
    }

    /// The URL-level stages; returns a connection bound as the service account when all passed.
    async fn test_url(&self, url: &LdapUrl, st: &mut Stages) -> Option<Ldap> {
        let s = self.settings();
        let target = url.authority();
        let timeout = s.connect_timeout;
        let started = Instant::now();
        let resolved = match tokio::time::timeout(timeout, tokio::net::lookup_host(target.as_str())).await {
            Ok(Ok(addrs)) => Ok(addrs.collect::<Vec<_>>()),
            Ok(Err(err)) => Err(Error::Resolve { host: url.host.clone(), reason: err.to_string() }),
            Err(_) => {
                Err(Error::Resolve { host: url.host.clone(), reason: "the resolver did not answer in time".into() })
            }
        };
        let addrs = match resolved {
            Ok(addrs) if !addrs.is_empty() => {
                let list = addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                st.push("resolve", &target, started, Ok(list));
                addrs
            }
            other => {
                let err = other.err().unwrap_or(Error::Resolve { host: url.host.clone(), reason: "no address".into() });
                st.push("resolve", &target, started, Err(err));
                return None;
            }
        };
        let started = Instant::now();
        let addr = addrs[0];
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
            Ok(Err(err)) => Err(classify_io(addr.to_string(), &url.host, err, false, timeout)),
            Err(_) => Err(Error::ConnectTimeout { addr: addr.to_string(), after: timeout }),
        };
        let stream = match tcp {
            Ok(stream) => {
                st.push("tcp", &addr.to_string(), started, Ok(format!("connected to {addr}")));
                stream
            }
            Err(err) => {
                st.push("tcp", &addr.to_string(), started, Err(err));
                return None;
            }
        };
        if url.ldaps {
            let started = Instant::now();
            let outcome = self.tls_handshake(url, stream).await;
            if !st.push("tls", &target, started, outcome) {
                return None;
            }
        } else {
            drop(stream);
            if !s.starttls {
                st.skip("tls", &target, "plain LDAP URL without StartTLS");
            }
        }
        // StartTLS needs an LDAP exchange: it is checked by connecting through ldap3 itself.
        let started = Instant::now();
        let connected = self.connector.connect(url).await;
        let mut ldap = match connected {
            Ok(ldap) => {
                if s.starttls && !url.ldaps {
                    st.push("tls", &target, started, Ok("StartTLS accepted; certificate verified".into()));
                }
                ldap
            }
            Err(err) => {
                st.push(if s.starttls { "tls" } else { "ldap" }, &target, started, Err(err));
                return None;
            }
        };
        let started = Instant::now();
        // Through the service-bind guard: a secret the directory rejected is not sent again before its
        // back-off (the stage says when), unless the password file changed, which is read again here.
        let bound = self.connector.bind_service(&mut ldap, url).await.map(|()| format!("bound as {}", s.bind_dn));
        st.push("service-bind", &target, started, bound).then_some(ldap)
    }

    async fn tls_handshake(&self, url: &LdapUrl, stream: TcpStream) -> Result<String, Error> {
        let s = self.settings();
        let addr = url.authority();
        let name = ServerName::try_from(url.host.clone())
            .map_err(|err| Error::Tls { addr: addr.clone(), problem: crate::TlsProblem::Other(err.to_string()) })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.connector.tls_config()));
        match tokio::time::timeout(s.connect_timeout, connector.connect(name, stream)).await {
            Err(_) => Err(Error::ConnectTimeout { addr, after: s.connect_timeout }),
            Ok(Ok(tls_stream)) => {
                let (_, session) = tls_stream.get_ref();
                let version = session.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
                let suite = session.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite())).unwrap_or_default();
                Ok(format!("{version} {suite}; certificate verified for {}", url.host))
            }
            Ok(Err(err)) => Err(match tls::rustls_error(&err) {
                Some(tls_err) => Error::Tls { addr, problem: tls::problem(tls_err) },
                None => Error::Closed { addr, during: ClosedDuring::TlsHandshake, diagnostic: err.to_string() },
            }),
        }
    }
}
