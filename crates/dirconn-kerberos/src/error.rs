//! The Kerberos check's one error type: every KDC answer a login must tell apart, and every way the realm,
//! the keytab or the transport can fail, each with a stable code (DC-9xx), the kind the host acts on and the
//! fix an administrator should try.

use std::time::Duration;

use dirconn_abi::{ConnectorError, ErrorKind};

use crate::KeytabError;

/// A failure of the Kerberos password check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The password was empty; refused before any network call (DC-201).
    #[error("An empty password was given; it was refused without contacting the KDC.")]
    EmptyPassword,
    /// The user's principal name cannot be formed or used (DC-921).
    #[error("The Kerberos principal `{principal}` cannot be used: {problem}.")]
    BadPrincipal {
        /// The name as formed.
        principal: String,
        /// What is wrong with it.
        problem: String,
    },
    /// KDC error 24 (or an AS-REP that does not decrypt): the password is wrong (DC-901).
    #[error("The KDC rejected the password of {principal}.")]
    WrongPassword {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 6: the realm has no such principal (DC-902).
    #[error("The realm has no principal {principal}.")]
    UnknownPrincipal {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 18 with a lockout named: too many failures (DC-903).
    #[error("The principal {principal} is locked out after too many failed logins.")]
    Locked {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 18 for a disabled principal (MIT `-allow_tix`, AD account disabled) (DC-904).
    #[error("The principal {principal} is disabled: the KDC issues it no tickets.")]
    Disabled {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 18 with nothing telling lockout from disabling (DC-905).
    #[error("The KDC revoked the credentials of {principal} (locked out or disabled).")]
    Revoked {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 23, the password confirmed right: it has expired (DC-906).
    #[error("The password of {principal} has expired.")]
    PasswordExpired {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 23 for a password an administrator set, to be changed at the next login (DC-907).
    #[error("The password of {principal} was reset and must be changed before it can be used.")]
    MustChange {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 1 (or an AD account past its end date): the principal has expired (DC-908).
    #[error("The principal {principal} has expired (its end date has passed).")]
    PrincipalExpired {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 12: the KDC's policy refuses this login now (logon hours, workstations) (DC-909).
    #[error("The KDC's policy refuses a ticket to {principal}.")]
    Policy {
        /// The client principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// KDC error 37, or a reply whose times are off: this machine's clock and the KDC's differ (DC-910).
    #[error(
        "The clocks of this machine and of the KDC {kdc} differ by {} (the KDC is {}), more than Kerberos allows.",
        humantime::format_duration(Duration::from_secs(offset.unsigned_abs())),
        if *offset >= 0 { "ahead" } else { "behind" }
    )]
    ClockSkew {
        /// The KDC.
        kdc: String,
        /// The KDC's time minus this machine's, in seconds.
        offset: i64,
    },
    /// KDC error 14: no encryption type both sides speak (DC-911).
    #[error("The KDC has no key of {principal} in a type dirconn speaks (aes256, aes128, rc4).")]
    NoCommonEtype {
        /// The principal.
        principal: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// The answer names another realm (error 68, a referral, or another realm in the reply) (DC-912).
    #[error("The KDC answered for the realm {answered}, not {realm}.")]
    WrongRealm {
        /// The configured realm.
        realm: String,
        /// The realm the KDC named.
        answered: String,
    },
    /// No KDC could be reached (DC-913).
    #[error("No KDC of the realm could be reached: {}.", tried.join("; "))]
    Unreachable {
        /// Each KDC tried, with what failed.
        tried: Vec<String>,
    },
    /// KDCs were reached but did not answer in time (DC-914).
    #[error("No KDC of the realm answered within {}: {}.", humantime::format_duration(*after), tried.join("; "))]
    Timeout {
        /// Each KDC tried, with what failed.
        tried: Vec<String>,
        /// The read timeout.
        after: Duration,
    },
    /// The service ticket does not decrypt with the keytab's key: whoever answered does not hold the
    /// realm's key for the service (a spoofed KDC), or the key changed in the realm and not in the keytab
    /// (DC-915).
    #[error("The login was refused: the ticket for {service} could not be validated ({reason}).")]
    NotValidated {
        /// The service principal.
        service: String,
        /// What failed.
        reason: String,
    },
    /// KDC error 7 on the service ticket: the realm has no such service principal (DC-916).
    #[error("The realm has no service principal {service}, which validates tickets.")]
    ServiceUnknown {
        /// The service principal.
        service: String,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// The keytab holds no key of the service principal for the ticket's encryption type (DC-917).
    #[error("The keytab {keytab} holds no {etype} key of {service}.")]
    NoServiceKey {
        /// The keytab's path.
        keytab: String,
        /// The service principal.
        service: String,
        /// The encryption type wanted.
        etype: String,
    },
    /// The keytab's keys of the service are older than the one the realm uses (DC-918).
    #[error("The keytab {keytab} is stale: the realm encrypts tickets for {service} with key version \
             {ticket_kvno}, and the keytab holds version(s) {}.", keytab_kvnos.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))]
    StaleKvno {
        /// The keytab's path.
        keytab: String,
        /// The service principal.
        service: String,
        /// The ticket's key version.
        ticket_kvno: u32,
        /// The versions in the keytab.
        keytab_kvnos: Vec<u32>,
    },
    /// The keytab cannot be read (DC-919).
    #[error("The keytab {path} cannot be used: {problem}.")]
    Keytab {
        /// The keytab's path.
        path: String,
        /// What is wrong.
        problem: KeytabError,
    },
    /// The KDC's answer is malformed or fails a check (nonce, name) (DC-920).
    #[error("The answer of the KDC {kdc} was refused: {problem}.")]
    Protocol {
        /// The KDC.
        kdc: String,
        /// What is wrong.
        problem: String,
    },
    /// Any other KDC error (DC-922).
    #[error("The KDC answered error {code} ({}).", error_name(*code))]
    Kdc {
        /// The KRB-ERROR code.
        code: i32,
        /// The KDC's answer.
        diagnostic: String,
    },
    /// The KDC asks for AES string-to-key parameters other than 4096 iterations (DC-923).
    #[error(
        "The KDC derives the key of {principal} with string-to-key parameters {params}, which dirconn \
             does not support (only 4096 PBKDF2 iterations)."
    )]
    S2kParams {
        /// The principal.
        principal: String,
        /// The parameters, in hex.
        params: String,
    },
}

impl Error {
    /// The stable code, listed on the troubleshooting page.
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyPassword => "DC-201",
            Error::WrongPassword { .. } => "DC-901",
            Error::UnknownPrincipal { .. } => "DC-902",
            Error::Locked { .. } => "DC-903",
            Error::Disabled { .. } => "DC-904",
            Error::Revoked { .. } => "DC-905",
            Error::PasswordExpired { .. } => "DC-906",
            Error::MustChange { .. } => "DC-907",
            Error::PrincipalExpired { .. } => "DC-908",
            Error::Policy { .. } => "DC-909",
            Error::ClockSkew { .. } => "DC-910",
            Error::NoCommonEtype { .. } => "DC-911",
            Error::WrongRealm { .. } => "DC-912",
            Error::Unreachable { .. } => "DC-913",
            Error::Timeout { .. } => "DC-914",
            Error::NotValidated { .. } => "DC-915",
            Error::ServiceUnknown { .. } => "DC-916",
            Error::NoServiceKey { .. } => "DC-917",
            Error::StaleKvno { .. } => "DC-918",
            Error::Keytab { .. } => "DC-919",
            Error::Protocol { .. } => "DC-920",
            Error::BadPrincipal { .. } => "DC-921",
            Error::Kdc { .. } => "DC-922",
            Error::S2kParams { .. } => "DC-923",
        }
    }

    /// The kind the host acts on. A KDC that cannot be reached, a clock or keytab problem and a ticket that
    /// cannot be validated are never a wrong password: the mail servers answer them as temporary failures.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyPassword | Error::BadPrincipal { .. } => ErrorKind::InvalidInput,
            Error::WrongPassword { .. } => ErrorKind::InvalidCredentials,
            Error::UnknownPrincipal { .. } => ErrorKind::NotFound,
            Error::Locked { .. } | Error::Revoked { .. } => ErrorKind::AccountLocked,
            Error::Disabled { .. } => ErrorKind::AccountDisabled,
            Error::PasswordExpired { .. } => ErrorKind::PasswordExpired,
            Error::MustChange { .. } => ErrorKind::MustChangePassword,
            Error::PrincipalExpired { .. } => ErrorKind::AccountExpired,
            Error::Policy { .. } => ErrorKind::LogonRestricted,
            Error::Unreachable { .. } => ErrorKind::Unreachable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::ClockSkew { .. }
            | Error::NoCommonEtype { .. }
            | Error::WrongRealm { .. }
            | Error::NotValidated { .. }
            | Error::ServiceUnknown { .. }
            | Error::NoServiceKey { .. }
            | Error::StaleKvno { .. }
            | Error::Keytab { .. }
            | Error::S2kParams { .. } => ErrorKind::Configuration,
            Error::Protocol { .. } | Error::Kdc { .. } => ErrorKind::Internal,
        }
    }

    /// What an administrator should do about it.
    pub fn fix(&self) -> String {
        match self {
            Error::EmptyPassword => "Type the password; empty passwords are never sent.".into(),
            Error::BadPrincipal { .. } => "Check kerberos_principal: it must give `name@REALM` from the \
                user's entry (AD: {sAMAccountName}@REALM; LDAP: {uid}@REALM), and the entry must hold the \
                attribute."
                .into(),
            Error::WrongPassword { .. } => "Check the password; if it is right, check that kerberos_principal \
                names this user's principal (`dirconn test-connection --login` shows it)."
                .into(),
            Error::UnknownPrincipal { .. } => "Create the principal in the realm (MIT: `kadmin -q \"addprinc \
                name\"`), or correct kerberos_principal so that it gives the user's existing principal."
                .into(),
            Error::Locked { .. } => "Wait for the lockout to expire, or unlock the principal (MIT: `kadmin -q \
                \"modprinc -unlock name\"`; AD: Unlock account, lockoutTime = 0)."
                .into(),
            Error::Disabled { .. } => "Enable the principal if it should log in (MIT: `kadmin -q \"modprinc \
                +allow_tix name\"`; AD: Enable Account)."
                .into(),
            Error::Revoked { .. } => "The principal is locked out or disabled: see the KDC's log for which, \
                then unlock it (`modprinc -unlock`) or enable it (`modprinc +allow_tix`)."
                .into(),
            Error::PasswordExpired { .. } => "Set a new password (kpasswd, or `kadmin -q \"cpw name\"`; AD: \
                Reset password), or extend its expiry (`modprinc -pwexpire`)."
                .into(),
            Error::MustChange { .. } => "The user must set a new password (kpasswd, or at a workstation) \
                before mail logins work; an administrator can also clear the flag (AD: \"User must change \
                password at next logon\")."
                .into(),
            Error::PrincipalExpired { .. } => "Extend the principal's end date if it should log in (MIT: \
                `kadmin -q \"modprinc -expire never name\"`; AD: Account expires)."
                .into(),
            Error::Policy { .. } => "The KDC's policy (logon hours, allowed workstations) refuses the login \
                now; widen it, or log in when it allows."
                .into(),
            Error::ClockSkew { .. } => "Synchronise the clocks of this machine and the KDCs (NTP or chrony); \
                Kerberos allows 5 minutes."
                .into(),
            Error::NoCommonEtype { .. } => "Give the principal an AES key (MIT: `cpw` with supported_enctypes \
                including aes256-cts-hmac-sha1-96; AD: msDS-SupportedEncryptionTypes, then a password reset)."
                .into(),
            Error::WrongRealm { .. } => "Set kerberos_realm to the realm the KDCs serve, in capitals, and \
                list those KDCs in kdc."
                .into(),
            Error::Unreachable { .. } => "Check the kdc list (host[:port], port 88 by default), that the KDCs \
                run, and any firewall between; logins fail as temporary until one answers."
                .into(),
            Error::Timeout { .. } => "The KDCs accepted the connection but did not answer: check their load \
                and logs, or raise kdc_timeout."
                .into(),
            Error::NotValidated { .. } => "If the keytab is current, something other than the realm's KDC \
                answered: check the kdc list and the network path to it. If the service's key was changed \
                (kadmin cpw/ktadd), export it again into the keytab."
                .into(),
            Error::ServiceUnknown { service, .. } => format!(
                "Create the service principal and export its key (MIT: `kadmin -q \"addprinc -randkey \
                 {service}\"` then `ktadd -k <keytab> {service}`; AD: a computer or service account with this \
                 SPN and a keytab from `ktpass` or `samba-tool domain exportkeytab`), or correct \
                 service_principal."
            ),
            Error::NoServiceKey { service, .. } => format!(
                "Export the service's keys into the keytab (MIT: `kadmin -q \"ktadd -k <keytab> {service}\"`), \
                 or correct keytab and service_principal."
            ),
            Error::StaleKvno { service, .. } => format!(
                "The service's key was changed in the realm: export the current key again (MIT: `kadmin -q \
                 \"ktadd -k <keytab> -norandkey {service}\"`; AD: a new keytab from ktpass or samba-tool)."
            ),
            Error::Keytab { .. } => "Point keytab at the MIT keytab file of the service principal, readable \
                by the user dirconn runs as (mode 0600 or 0640), and check it with `klist -k -e <keytab>`."
                .into(),
            Error::Protocol { .. } => "Check that the kdc list names Kerberos KDCs; if it does, report the \
                KDC's product and version with this message."
                .into(),
            Error::Kdc { .. } => "Look the error up in the KDC's log for this principal.".into(),
            Error::S2kParams { .. } => "Reset the principal's password with the realm's default string-to-key \
                parameters (4096 iterations)."
                .into(),
        }
    }

    /// The KDC's own words, when there are any.
    pub fn diagnostic(&self) -> Option<String> {
        match self {
            Error::WrongPassword { diagnostic, .. }
            | Error::UnknownPrincipal { diagnostic, .. }
            | Error::Locked { diagnostic, .. }
            | Error::Disabled { diagnostic, .. }
            | Error::Revoked { diagnostic, .. }
            | Error::PasswordExpired { diagnostic, .. }
            | Error::MustChange { diagnostic, .. }
            | Error::PrincipalExpired { diagnostic, .. }
            | Error::Policy { diagnostic, .. }
            | Error::NoCommonEtype { diagnostic, .. }
            | Error::ServiceUnknown { diagnostic, .. }
            | Error::Kdc { diagnostic, .. } => Some(diagnostic.clone()),
            _ => None,
        }
    }
}

impl From<Error> for ConnectorError {
    fn from(err: Error) -> ConnectorError {
        ConnectorError::from_parts(err.kind(), err.code(), err.to_string(), err.fix(), err.diagnostic())
    }
}

/// A KRB-ERROR code's name (RFC 4120, section 7.5.9).
pub fn error_name(code: i32) -> &'static str {
    match code {
        1 => "KDC_ERR_NAME_EXP",
        6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
        12 => "KDC_ERR_POLICY",
        14 => "KDC_ERR_ETYPE_NOSUPP",
        18 => "KDC_ERR_CLIENT_REVOKED",
        23 => "KDC_ERR_KEY_EXPIRED",
        24 => "KDC_ERR_PREAUTH_FAILED",
        25 => "KDC_ERR_PREAUTH_REQUIRED",
        31 => "KRB_AP_ERR_BAD_INTEGRITY",
        37 => "KRB_AP_ERR_SKEW",
        41 => "KRB_AP_ERR_MODIFIED",
        52 => "KRB_ERR_RESPONSE_TOO_BIG",
        60 => "KRB_ERR_GENERIC",
        68 => "KDC_ERR_WRONG_REALM",
        _ => "unknown",
    }
}
