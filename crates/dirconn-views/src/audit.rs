//! The authentication audit: one row per login attempt, from every interface (`dirconn audit`,
//! `GET /v1/audit`). Never a password.

use dirconn_store::AuditRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Records listed when no count is asked for (`--last`, `last=`).
pub const AUDIT_DEFAULT_LAST: i64 = 50;
/// The most records one listing returns.
pub const AUDIT_MAX_LAST: i64 = 10_000;

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordView {
    /// The record's id (time-ordered).
    pub id: String,
    /// When the attempt was made (Unix milliseconds).
    pub at_ms: i64,
    /// Where it came from: `http`, `dovecot`, `nginx`, `cli`.
    #[schema(example = "dovecot")]
    pub interface: String,
    /// The domain it was routed to (none when routing failed).
    pub domain: Option<String>,
    /// The login as typed (cut to 256 characters, control characters shown as U+FFFD).
    pub login: String,
    /// The canonical account (`login@domain`) when the login succeeded.
    pub account: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The local IP address the client connected to.
    pub local_ip: Option<String>,
    /// The mail service (`imap`, `smtp`, `pop3`…).
    pub service: Option<String>,
    /// `ok`, or the error's code (`DC-203`).
    #[schema(example = "DC-203")]
    pub outcome: String,
    /// `ok`, or the error's kind (`invalid-credentials`).
    #[schema(example = "invalid-credentials")]
    pub kind: String,
    /// How long the answer took.
    pub latency_ms: f64,
}

impl From<&AuditRecord> for AuditRecordView {
    fn from(r: &AuditRecord) -> AuditRecordView {
        AuditRecordView {
            id: r.id.clone(),
            at_ms: r.at,
            interface: r.interface.clone(),
            domain: r.domain.clone(),
            login: r.login.clone(),
            account: r.account.clone(),
            client_ip: r.client_ip.clone(),
            local_ip: r.local_ip.clone(),
            service: r.service.clone(),
            outcome: r.outcome.clone(),
            kind: r.kind.clone(),
            latency_ms: r.latency_us as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, schema_keys, set};

    #[test]
    fn a_record_shows_its_latency_in_milliseconds() {
        let r = AuditRecord {
            id: "0190".into(),
            at: 1_700_000_000_123,
            interface: "cli".into(),
            domain: Some("a.org".into()),
            login: "Bob".into(),
            account: Some("bob@a.org".into()),
            client_ip: None,
            local_ip: Some("192.0.2.1".into()),
            service: None,
            outcome: "ok".into(),
            kind: "ok".into(),
            latency_us: 2500,
        };
        let view = AuditRecordView::from(&r);
        let expected = [
            "id",
            "at_ms",
            "interface",
            "domain",
            "login",
            "account",
            "client_ip",
            "local_ip",
            "service",
            "outcome",
            "kind",
            "latency_ms",
        ];
        assert_eq!(keys(&view), set(&expected));
        assert_eq!(schema_keys::<AuditRecordView>(), set(&expected));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["latency_ms"].as_f64(), json["at_ms"].as_i64()), (Some(2.5), Some(1_700_000_000_123)));
        assert!(json["client_ip"].is_null() && json["account"] == "bob@a.org", "{json}");
        assert_eq!(serde_json::from_value::<AuditRecordView>(json).unwrap(), view);
    }
}
