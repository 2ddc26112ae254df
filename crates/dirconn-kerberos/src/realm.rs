//! [`Realm`]: a password check against a Kerberos realm, as SSSD's `krb5_validate` and pam_krb5 do it, in
//! three steps. The AS exchange (pre-authentication with the salt of the KDC's ETYPE-INFO2, nonce, names
//! and clock checked) proves the password to whoever answered; a service ticket for the configured service
//! principal, decrypted with the keytab's key, proves that whoever answered is the realm's KDC, so that a
//! spoofed KDC cannot accept any password (no key: the login fails closed); and an expired password is
//! only called expired once the same password obtains a `kadmin/changepw` ticket.

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use kerberos_asn1::{AsRep, EncKdcRepPart, EtypeInfo2Entry, Ticket};

use crate::{
    Error, Keytab, Principal,
    crypto::{Key, KeyProblem, OFFERED, default_salt, etype_name},
    transport::{Answer, KdcAddress, Transport},
    wire::{self, KdcError, Reply, usage},
};

/// NTSTATUS codes Samba puts in a KRB-ERROR's e-data (MS-ERREF).
mod ntstatus {
    pub const PASSWORD_EXPIRED: u32 = 0xC000_0071;
    pub const ACCOUNT_DISABLED: u32 = 0xC000_0072;
    pub const ACCOUNT_EXPIRED: u32 = 0xC000_0193;
    pub const PASSWORD_MUST_CHANGE: u32 = 0xC000_0224;
    pub const ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
}

/// How a realm is reached and what validates its tickets.
#[derive(Debug, Clone)]
pub struct RealmSettings {
    /// The realm, in capitals.
    pub realm: String,
    /// Its KDCs, in order.
    pub kdcs: Vec<KdcAddress>,
    /// Try UDP before TCP.
    pub udp: bool,
    /// Connect timeout per KDC.
    pub connect_timeout: Duration,
    /// Read timeout per KDC.
    pub read_timeout: Duration,
    /// The clock difference allowed.
    pub max_skew: Duration,
    /// Requests to the realm in flight at once (`kdc_max_concurrent`).
    pub max_in_flight: usize,
    /// The keytab and the service principal that validate tickets; `None`: no validation (a spoofed KDC
    /// can then accept any password).
    pub validation: Option<Validation>,
}

/// The service whose ticket proves the KDC genuine.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The keytab holding the service's keys.
    pub keytab: PathBuf,
    /// The service principal (`imap/mail.example.org@EXAMPLE.ORG`).
    pub service: Principal,
}

/// A password the realm accepted.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The principal.
    pub principal: Principal,
    /// The KDC that answered.
    pub kdc: String,
    /// Whether a service ticket was validated with the keytab.
    pub validated: bool,
    /// When the password expires, when the KDC says.
    pub password_expires: Option<DateTime<Utc>>,
}

/// What one KDC said to a probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The KDC.
    pub kdc: String,
    /// The outcome: the KDC serves the realm, or why not.
    pub outcome: Result<String, Error>,
    /// The KDC's clock minus this machine's, when it answered.
    pub offset: Option<i64>,
    /// How long the KDC took.
    pub elapsed: std::time::Duration,
}

/// Where a client key comes from.
enum ClientKey<'a> {
    /// A user's password, derived with the KDC's salt.
    Password(&'a str),
    /// A service's keys, from its keytab.
    Keytab(&'a Keytab),
}

/// A ticket and its session key.
struct Granted {
    ticket: Ticket,
    session: Key,
    part: EncKdcRepPart,
    kdc: String,
}

/// Why an AS exchange failed: a KDC error (read further by the caller) or anything else.
enum Refusal {
    Kdc(Box<KdcError>, String),
    Other(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::Other(e)
    }
}

/// A realm and its KDCs.
#[derive(Debug)]
pub struct Realm {
    settings: RealmSettings,
    transport: Transport,
}

impl Realm {
    /// Prepares a realm (no network call).
    pub fn new(settings: RealmSettings) -> Realm {
        let s = &settings;
        let transport = Transport::new(s.kdcs.clone(), s.udp, s.connect_timeout, s.read_timeout, s.max_in_flight);
        Realm { settings, transport }
    }

    /// The settings.
    pub fn settings(&self) -> &RealmSettings {
        &self.settings
    }

    /// Checks a principal's password, and validates the ticket when a keytab is configured.
    pub async fn check_password(&self, client: &Principal, password: &str) -> Result<Verified, Error> {
        if password.is_empty() {
            return Err(Error::EmptyPassword);
        }
        if client.realm != self.settings.realm {
            return Err(Error::BadPrincipal {
                principal: client.to_string(),
                problem: format!("its realm is not the configured realm {}", self.settings.realm),
            });
        }
        let krbtgt = Principal::krbtgt(&self.settings.realm);
        let tgt = match self.as_exchange(client, &krbtgt, ClientKey::Password(password)).await {
            Ok(granted) => granted,
            Err(Refusal::Other(e)) => return Err(e),
            Err(Refusal::Kdc(e, _)) if e.code == 23 => return Err(self.confirm_expired(client, password, &e).await),
            Err(Refusal::Kdc(e, kdc)) => return Err(self.refusal(client, &e, &kdc)),
        };
        let validated = match &self.settings.validation {
            Some(validation) => {
                self.validate(client, &tgt, validation).await?;
                true
            }
            None => false,
        };
        Ok(Verified {
            principal: client.clone(),
            kdc: tgt.kdc,
            validated,
            password_expires: tgt.part.key_expiration.map(|t| t.time.time),
        })
    }

    /// KDC error 23 comes before MIT checks the password: the same password must obtain a
    /// `kadmin/changepw` ticket (as pam_krb5 asks) before the password is called expired.
    async fn confirm_expired(&self, client: &Principal, password: &str, first: &KdcError) -> Error {
        let principal = client.to_string();
        let diagnostic = first.describe();
        let changepw = Principal::changepw(&self.settings.realm);
        match self.as_exchange(client, &changepw, ClientKey::Password(password)).await {
            Ok(_) => match first.ntstatus() {
                Some(ntstatus::PASSWORD_MUST_CHANGE) => Error::MustChange { principal, diagnostic },
                _ => Error::PasswordExpired { principal, diagnostic },
            },
            Err(Refusal::Kdc(e, kdc)) => self.refusal(client, &e, &kdc),
            Err(Refusal::Other(e)) => e,
        }
    }

    /// The error a KDC's refusal of a client stands for.
    fn refusal(&self, client: &Principal, e: &KdcError, kdc: &str) -> Error {
        let principal = client.to_string();
        let diagnostic = e.describe();
        let text = e.e_text.as_deref().unwrap_or_default();
        match e.code {
            6 => Error::UnknownPrincipal { principal, diagnostic },
            24 | 31 => Error::WrongPassword { principal, diagnostic },
            18 => match e.ntstatus() {
                Some(ntstatus::ACCOUNT_LOCKED_OUT) => Error::Locked { principal, diagnostic },
                Some(ntstatus::ACCOUNT_DISABLED) => Error::Disabled { principal, diagnostic },
                Some(ntstatus::ACCOUNT_EXPIRED) => Error::PrincipalExpired { principal, diagnostic },
                Some(ntstatus::PASSWORD_EXPIRED) => Error::PasswordExpired { principal, diagnostic },
                Some(ntstatus::PASSWORD_MUST_CHANGE) => Error::MustChange { principal, diagnostic },
                _ if text.contains("LOCKED_OUT") => Error::Locked { principal, diagnostic },
                _ if text.contains("CLIENT LOCKED OUT") => Error::Disabled { principal, diagnostic },
                _ => Error::Revoked { principal, diagnostic },
            },
            23 => match e.ntstatus() {
                Some(ntstatus::PASSWORD_MUST_CHANGE) => Error::MustChange { principal, diagnostic },
                _ => Error::PasswordExpired { principal, diagnostic },
            },
            1 => Error::PrincipalExpired { principal, diagnostic },
            12 => Error::Policy { principal, diagnostic },
            14 => Error::NoCommonEtype { principal, diagnostic },
            37 => Error::ClockSkew { kdc: kdc.to_owned(), offset: offset_of(e.stime) },
            68 => Error::WrongRealm {
                realm: self.settings.realm.clone(),
                answered: e.crealm.clone().unwrap_or_else(|| e.realm.clone()),
            },
            _ => Error::Kdc { code: e.code, diagnostic },
        }
    }

    /// An AS exchange: a first request without pre-authentication, then (KDC error 25) one with an
    /// encrypted timestamp under the key of the KDC's first ETYPE-INFO2 entry dirconn speaks.
    async fn as_exchange(
        &self,
        client: &Principal,
        service: &Principal,
        key: ClientKey<'_>,
    ) -> Result<Granted, Refusal> {
        let nonce = wire::nonce();
        let Answer { kdc, reply } =
            self.transport.send(&wire::as_req(client, service, nonce, None, Utc::now())).await?;
        let (hints, rep, nonce, kdc, preauth) = match reply {
            Reply::As(rep) => (Vec::new(), rep, nonce, kdc, None),
            Reply::Error(e) if e.code == 25 => {
                let hints = e.etype_info2();
                let preauth = client_key(client, &key, &hints, None)?;
                let nonce = wire::nonce();
                let request = wire::as_req(client, service, nonce, Some(&preauth), Utc::now());
                let Answer { kdc, reply } = self.transport.send(&request).await?;
                match reply {
                    Reply::As(rep) => (hints, rep, nonce, kdc, Some(preauth)),
                    Reply::Error(e) => return Err(Refusal::Kdc(e, kdc)),
                    Reply::Tgs(_) => return Err(protocol(&kdc, "it answered an AS-REQ with a TGS-REP").into()),
                }
            }
            Reply::Error(e) => return Err(Refusal::Kdc(e, kdc)),
            Reply::Tgs(_) => return Err(protocol(&kdc, "it answered an AS-REQ with a TGS-REP").into()),
        };
        Ok(self.open_as_rep(client, service, &key, preauth, &hints, &rep, nonce, kdc)?)
    }

    /// Decrypts an AS-REP and checks it: the client, the nonce, the service, the clock.
    #[allow(clippy::too_many_arguments)]
    fn open_as_rep(
        &self,
        client: &Principal,
        service: &Principal,
        key: &ClientKey<'_>,
        preauth: Option<Key>,
        hints: &[EtypeInfo2Entry],
        rep: &AsRep,
        nonce: u32,
        kdc: String,
    ) -> Result<Granted, Error> {
        if rep.crealm != client.realm {
            return Err(Error::WrongRealm { realm: client.realm.clone(), answered: rep.crealm.clone() });
        }
        if !client.matches(&rep.cname, &rep.crealm) {
            return Err(protocol(&kdc, &format!("the reply is for {}, not {client}", rep.cname)));
        }
        // The reply's own ETYPE-INFO2 (KDCs send it with a reply that needed no pre-authentication) comes
        // before the one of the pre-authentication round.
        let own = wire::etype_info2_of(rep.padata.as_deref().unwrap_or_default());
        let etype = rep.enc_part.etype;
        // The pre-authentication key serves again unless the reply names another type or salt (PBKDF2 is
        // the costliest step of a login: derive once).
        let salt_of = |entries: &[EtypeInfo2Entry]| entries.iter().find(|h| h.etype == etype).map(|h| h.salt.clone());
        let reusable =
            preauth.filter(|k| k.etype() == etype && salt_of(&own).is_none_or(|s| Some(s) == salt_of(hints)));
        let key = match reusable {
            Some(key) => key,
            None => {
                let mut all = own;
                all.extend_from_slice(hints);
                client_key(client, key, &all, Some(etype)).map_err(|r| match r {
                    Refusal::Other(e) => e,
                    Refusal::Kdc(e, kdc) => self.refusal(client, &e, &kdc),
                })?
            }
        };
        let plain = key.decrypt(usage::AS_REP_ENC_PART, &rep.enc_part.cipher).ok_or_else(|| Error::WrongPassword {
            principal: client.to_string(),
            diagnostic: "the KDC's reply does not decrypt with the key of this password".into(),
        })?;
        let part = wire::parse_enc_rep_part(&plain).map_err(|p| protocol(&kdc, &p))?;
        self.check_part(&part, nonce, service, &kdc)?;
        let session = Key::from_bytes(part.key.keytype, &part.key.keyvalue).map_err(|_| Error::NoCommonEtype {
            principal: client.to_string(),
            diagnostic: format!("the session key is of type {}", etype_name(part.key.keytype)),
        })?;
        Ok(Granted { ticket: rep.ticket.clone(), session, part, kdc })
    }
}

impl Realm {
    /// Checks an AS-REP's or TGS-REP's encrypted part: the nonce, the service, the clock.
    fn check_part(&self, part: &EncKdcRepPart, nonce: u32, service: &Principal, kdc: &str) -> Result<(), Error> {
        if part.nonce != nonce {
            return Err(protocol(kdc, "the reply's nonce is not the request's (a replayed or forged answer)"));
        }
        if part.srealm != service.realm {
            return Err(Error::WrongRealm { realm: service.realm.clone(), answered: part.srealm.clone() });
        }
        if !service.matches(&part.sname, &part.srealm) {
            return Err(protocol(kdc, &format!("the ticket is for {}, not {service}", part.sname)));
        }
        let offset = offset_of(part.authtime.time.time);
        if offset.unsigned_abs() > self.settings.max_skew.as_secs() {
            return Err(Error::ClockSkew { kdc: kdc.to_owned(), offset });
        }
        if part.endtime.time.time <= Utc::now() {
            return Err(protocol(kdc, "the ticket has already expired"));
        }
        Ok(())
    }

    /// Asks for a ticket to the validation service with the TGT and decrypts it with the keytab's key.
    async fn validate(&self, client: &Principal, tgt: &Granted, validation: &Validation) -> Result<(), Error> {
        let path = validation.keytab.display().to_string();
        let keytab =
            Keytab::read(&validation.keytab).map_err(|problem| Error::Keytab { path: path.clone(), problem })?;
        let service = &validation.service;
        let name = service.to_string();
        if keytab.entries_for(&name).next().is_none() {
            return Err(Error::NoServiceKey { keytab: path, service: name, etype: "(any type)".into() });
        }
        let nonce = wire::nonce();
        let request = wire::tgs_req(client, &tgt.ticket, &tgt.session, service, nonce, Utc::now());
        let Answer { kdc, reply } = self.transport.send(&request).await?;
        let rep = match reply {
            Reply::Tgs(rep) => rep,
            Reply::Error(e) if e.code == 7 => {
                return Err(Error::ServiceUnknown { service: name, diagnostic: e.describe() });
            }
            Reply::Error(e) => return Err(self.refusal(client, &e, &kdc)),
            Reply::As(_) => return Err(protocol(&kdc, "it answered a TGS-REQ with an AS-REP")),
        };
        let plain = tgt
            .session
            .decrypt(usage::TGS_REP_ENC_PART, &rep.enc_part.cipher)
            .ok_or_else(|| protocol(&kdc, "the TGS-REP does not decrypt with the TGT's session key"))?;
        let part = wire::parse_enc_rep_part(&plain).map_err(|p| protocol(&kdc, &p))?;
        self.check_part(&part, nonce, service, &kdc)?;
        open_ticket(&keytab, &path, service, &rep.ticket, &part, client)
    }

    /// Asks each KDC, in order, whether it serves the realm, and its clock.
    pub async fn probe(&self) -> Vec<Probe> {
        let realm = &self.settings.realm;
        let client = match &self.settings.validation {
            Some(v) => v.service.clone(),
            None => Principal::new(&["dirconn-probe"], realm),
        };
        let request = wire::as_req(&client, &Principal::krbtgt(realm), wire::nonce(), None, Utc::now());
        let mut probes = Vec::new();
        for kdc in self.transport.kdcs() {
            let name = kdc.to_string();
            let started = std::time::Instant::now();
            let (outcome, offset) = match self.transport.exchange(kdc, &request).await {
                Err(failure) => {
                    let why = match failure {
                        crate::transport::Failure::Io(w) | crate::transport::Failure::Timeout(w) => w,
                        crate::transport::Failure::Bad(b) => b,
                    };
                    (Err(Error::Unreachable { tried: vec![format!("{name}: {why}")] }), None)
                }
                Ok(Reply::Error(e)) => {
                    let offset = Some(offset_of(e.stime));
                    let outcome = match e.code {
                        6 | 24 | 25 | 18 | 23 | 1 => Ok(format!("serves {realm} (answered {})", e.describe())),
                        7 => Err(Error::WrongRealm { realm: realm.clone(), answered: "(not this one)".into() }),
                        _ => Err(self.refusal(&client, &e, &name)),
                    };
                    let outcome = match outcome {
                        Ok(_) if e.realm != *realm => {
                            Err(Error::WrongRealm { realm: realm.clone(), answered: e.realm.clone() })
                        }
                        other => other,
                    };
                    (outcome, offset)
                }
                Ok(Reply::As(_)) => (Ok(format!("serves {realm} (issued a ticket at once)")), None),
                Ok(Reply::Tgs(_)) => (Err(protocol(&name, "it answered an AS-REQ with a TGS-REP")), None),
            };
            let outcome = match (outcome, offset) {
                (Ok(_), Some(o)) if o.unsigned_abs() > self.settings.max_skew.as_secs() => {
                    Err(Error::ClockSkew { kdc: name.clone(), offset: o })
                }
                (other, _) => other,
            };
            probes.push(Probe { kdc: name, outcome, offset, elapsed: started.elapsed() });
        }
        probes
    }

    /// Checks the keytab: readable, holding a key of the service principal, and that key the realm's: the
    /// service asks for a ticket to itself with its keytab key and decrypts both the reply and the
    /// ticket. Returns what was checked.
    pub async fn check_keytab(&self) -> Result<String, Error> {
        let Some(validation) = &self.settings.validation else {
            return Ok("no keytab: tickets are not validated".into());
        };
        let path = validation.keytab.display().to_string();
        let keytab =
            Keytab::read(&validation.keytab).map_err(|problem| Error::Keytab { path: path.clone(), problem })?;
        let service = &validation.service;
        let name = service.to_string();
        let entries: Vec<_> = keytab.entries_for(&name).collect();
        if entries.is_empty() {
            return Err(Error::NoServiceKey { keytab: path, service: name, etype: "(any type)".into() });
        }
        let granted = match self.as_exchange(service, service, ClientKey::Keytab(&keytab)).await {
            Ok(g) => g,
            Err(Refusal::Kdc(e, _)) if e.code == 6 => {
                return Err(Error::ServiceUnknown { service: name, diagnostic: e.describe() });
            }
            Err(Refusal::Kdc(e, kdc)) if e.code == 24 || e.code == 31 => {
                let newest = entries.iter().map(|e| e.kvno).max().unwrap_or_default();
                return Err(Error::NotValidated {
                    service: name,
                    reason: format!(
                        "the KDC {kdc} refused the keytab's key (version {newest}): the key was changed in the \
                         realm since the keytab was written (ktadd, cpw), or the KDC is not the realm's"
                    ),
                });
            }
            Err(Refusal::Kdc(e, kdc)) => return Err(self.refusal(service, &e, &kdc)),
            Err(Refusal::Other(Error::WrongPassword { .. })) => {
                return Err(Error::NotValidated {
                    service: name,
                    reason: "the KDC's reply to the service does not decrypt with the keytab's key".into(),
                });
            }
            Err(Refusal::Other(e)) => return Err(e),
        };
        open_ticket(&keytab, &path, service, &granted.ticket, &granted.part, service)?;
        let kvnos: std::collections::BTreeSet<u32> = entries.iter().map(|e| e.kvno).collect();
        Ok(format!(
            "{} key(s) of {name} (kvno {}); the KDC {} issued a ticket that the keytab decrypts",
            entries.len(),
            kvnos.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
            granted.kdc
        ))
    }
}

/// Decrypts a service ticket with the keytab and checks that it carries the session key and client the
/// KDC named.
fn open_ticket(
    keytab: &Keytab,
    path: &str,
    service: &Principal,
    ticket: &Ticket,
    part: &EncKdcRepPart,
    client: &Principal,
) -> Result<(), Error> {
    let name = service.to_string();
    let etype = ticket.enc_part.etype;
    let kvno = ticket.enc_part.kvno;
    let Ok(etype16) = u16::try_from(etype) else {
        return Err(Error::NoServiceKey { keytab: path.into(), service: name, etype: etype_name(etype) });
    };
    let Some(entry) = keytab.key(&name, etype16, kvno) else {
        let kvnos: Vec<u32> = keytab.entries_for(&name).filter(|e| e.enctype == etype16).map(|e| e.kvno).collect();
        // The realm's key versions only go up: a ticket under a newer version means the keytab is stale; one
        // under an older version than the keytab holds did not come from the realm's KDC.
        return Err(match (kvno, kvnos.iter().max()) {
            (Some(ticket_kvno), Some(&newest)) if ticket_kvno > newest => {
                Error::StaleKvno { keytab: path.into(), service: name, ticket_kvno, keytab_kvnos: kvnos }
            }
            (Some(ticket_kvno), Some(_)) => Error::NotValidated {
                service: name,
                reason: format!(
                    "the ticket is under key version {ticket_kvno}, older than the keytab's ({}), which the \
                     realm's KDC no longer uses",
                    kvnos.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ),
            },
            _ => Error::NoServiceKey { keytab: path.into(), service: name, etype: etype_name(etype) },
        });
    };
    let key = Key::from_bytes(etype, &entry.key).map_err(|_| Error::NoServiceKey {
        keytab: path.into(),
        service: name.clone(),
        etype: etype_name(etype),
    })?;
    let not_valid = |reason: String| Error::NotValidated { service: name.clone(), reason };
    let plain = key.decrypt(usage::TICKET, &ticket.enc_part.cipher).ok_or_else(|| {
        not_valid(format!(
            "the ticket does not decrypt with the keytab's {} key, version {}",
            etype_name(etype),
            entry.kvno
        ))
    })?;
    let inside = wire::parse_enc_ticket_part(&plain).map_err(not_valid)?;
    if !client.matches(&inside.cname, &inside.crealm) {
        return Err(not_valid(format!("the ticket names {}, not {client}", inside.cname)));
    }
    if inside.key != part.key {
        return Err(not_valid("the ticket's session key is not the one the KDC sent".into()));
    }
    Ok(())
}

/// The client key for an etype: `wanted` (the reply's), or the first ETYPE-INFO2 entry dirconn speaks.
fn client_key(
    client: &Principal,
    key: &ClientKey<'_>,
    hints: &[EtypeInfo2Entry],
    wanted: Option<i32>,
) -> Result<Key, Refusal> {
    let principal = client.to_string();
    let usable = |etype: i32| {
        OFFERED.contains(&etype)
            && match key {
                ClientKey::Password(_) => true,
                ClientKey::Keytab(kt) => u16::try_from(etype).is_ok_and(|e| kt.key(&principal, e, None).is_some()),
            }
    };
    let etype = match wanted {
        Some(etype) => etype,
        None => hints.iter().map(|h| h.etype).find(|e| usable(*e)).unwrap_or(OFFERED[0]),
    };
    if !usable(etype) {
        return Err(Refusal::Other(Error::NoCommonEtype {
            principal,
            diagnostic: format!("the KDC uses {}", etype_name(etype)),
        }));
    }
    let hint = hints.iter().find(|h| h.etype == etype);
    let made = match key {
        ClientKey::Password(password) => {
            let salt = match hint.and_then(|h| h.salt.as_deref()) {
                Some(salt) => salt.as_bytes().to_vec(),
                None => default_salt(&client.realm, &client.components),
            };
            Key::from_password(etype, password, &salt, hint.and_then(|h| h.s2kparams.as_deref()))
        }
        ClientKey::Keytab(kt) => {
            let entry = kt.key(&principal, etype as u16, None).expect("checked usable");
            Key::from_bytes(etype, &entry.key)
        }
    };
    made.map_err(|problem| {
        Refusal::Other(match problem {
            KeyProblem::Etype(e) => {
                Error::NoCommonEtype { principal, diagnostic: format!("the KDC uses {}", etype_name(e)) }
            }
            KeyProblem::Iterations(p) => {
                Error::S2kParams { principal, params: p.iter().map(|b| format!("{b:02x}")).collect() }
            }
        })
    })
}

fn protocol(kdc: &str, problem: &str) -> Error {
    Error::Protocol { kdc: kdc.to_owned(), problem: problem.to_owned() }
}

/// A KDC time minus this machine's, in seconds.
fn offset_of(kdc_time: DateTime<Utc>) -> i64 {
    (kdc_time - Utc::now()).num_seconds()
}
