//! What a directory answered: users, test logins, connection tests, attributes and filters.

use std::{collections::BTreeMap, time::Duration};

use dirconn_abi::{AttrValue, AttributeReport, FilterReport, StageResult, StageStatus, TestReport, UserEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::Problem;

/// One value of a directory attribute: text, or binary data shown by its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AttrValueView {
    /// A text value.
    Text(String),
    /// A binary value (a photo, a GUID): its size only.
    Binary {
        /// How many bytes.
        binary_bytes: usize,
    },
}

impl From<&AttrValue> for AttrValueView {
    fn from(value: &AttrValue) -> AttrValueView {
        match value {
            AttrValue::Text(t) => AttrValueView::Text(t.to_string()),
            AttrValue::Binary(b) => AttrValueView::Binary { binary_bytes: b.len() },
        }
    }
}

/// A directory user, as the connector returned it. Password attributes are never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// The entry's DN.
    pub dn: String,
    /// The directory's stable key (entryUUID, objectGUID…).
    pub id: String,
    /// The login the directory knows.
    pub login: String,
    /// The mail address.
    pub email: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The DNs of the user's groups.
    pub groups: Vec<String>,
    /// The account's state in the directory (`disabled`, `locked`, `password-expired`…).
    pub state: Vec<String>,
    /// Notices (the password expires soon…).
    pub warnings: Vec<String>,
    /// The entry's attributes by name.
    pub attributes: BTreeMap<String, Vec<AttrValueView>>,
}

impl From<&UserEntry> for UserView {
    fn from(user: &UserEntry) -> UserView {
        let strings =
            |list: &[dirconn_abi::abi_stable::std_types::RString]| list.iter().map(|s| s.to_string()).collect();
        UserView {
            dn: user.dn.to_string(),
            id: user.id.to_string(),
            login: user.login.to_string(),
            email: user.email.as_ref().map(|s| s.to_string()).into_option(),
            display_name: user.display_name.as_ref().map(|s| s.to_string()).into_option(),
            groups: strings(&user.groups),
            state: strings(&user.state),
            warnings: strings(&user.warnings),
            attributes: user
                .attributes
                .iter()
                .filter(|a| !dirconn_abi::is_secret_attribute(&a.name))
                .map(|a| (a.name.to_string(), a.values.iter().map(AttrValueView::from).collect()))
                .collect(),
        }
    }
}

/// A user looked up with the service account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LookupView {
    /// The mail domain.
    pub domain: String,
    /// The user.
    pub user: UserView,
}

impl LookupView {
    /// `user`, found in `domain`.
    pub fn new(domain: &str, user: &UserEntry) -> LookupView {
        LookupView { domain: domain.to_owned(), user: user.into() }
    }
}

/// A test login against one domain's directory that succeeded (a refused one is a [`crate::Refusal`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthView {
    /// Always `true`.
    pub ok: bool,
    /// The mail domain.
    pub domain: String,
    /// The login as given.
    pub login: String,
    /// How long the login took.
    pub elapsed_ms: f64,
    /// What the directory returned.
    pub user: UserView,
}

impl AuthView {
    /// `login` accepted in `domain` as `user`, in `elapsed`.
    pub fn new(domain: &str, login: &str, elapsed: Duration, user: &UserEntry) -> AuthView {
        AuthView {
            ok: true,
            domain: domain.to_owned(),
            login: login.to_owned(),
            elapsed_ms: crate::millis(elapsed),
            user: user.into(),
        }
    }
}

/// How a stage of a connection test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StageStatusView {
    /// It passed.
    Passed,
    /// It failed (its `error` says why).
    Failed,
    /// It did not run, as an earlier stage failed or it does not apply.
    Skipped,
}

impl From<StageStatus> for StageStatusView {
    fn from(status: StageStatus) -> StageStatusView {
        match status {
            StageStatus::Passed => StageStatusView::Passed,
            StageStatus::Failed => StageStatusView::Failed,
            StageStatus::Skipped => StageStatusView::Skipped,
        }
    }
}

/// One stage of a connection test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageView {
    /// The stage (`url`, `resolve`, `tcp`, `tls`, `service-bind`, `user-lookup`…).
    pub stage: String,
    /// What it tested (a host and port, a DN).
    pub target: String,
    /// How it ended.
    pub status: StageStatusView,
    /// How long it took.
    pub elapsed_ms: f64,
    /// What it found.
    pub detail: String,
    /// Why it failed.
    pub error: Option<Problem>,
}

impl From<&StageResult> for StageView {
    fn from(s: &StageResult) -> StageView {
        StageView {
            stage: s.stage.to_string(),
            target: s.target.to_string(),
            status: s.status.into(),
            elapsed_ms: s.elapsed_us as f64 / 1000.0,
            detail: s.detail.to_string(),
            error: s.error.as_ref().map(Problem::from).into_option(),
        }
    }
}

/// A connection test of one domain, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestReportView {
    /// The mail domain.
    pub domain: String,
    /// Whether no stage failed.
    pub ok: bool,
    /// The stages, in the order they ran.
    pub stages: Vec<StageView>,
}

impl TestReportView {
    /// The test of `domain`.
    pub fn new(domain: &str, report: &TestReport) -> TestReportView {
        TestReportView {
            domain: domain.to_owned(),
            ok: report.passed(),
            stages: report.stages.iter().map(StageView::from).collect(),
        }
    }
}

/// The attribute names of a directory's schema and of a sample user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttributesView {
    /// The mail domain.
    pub domain: String,
    /// The attribute types of the server's schema.
    pub schema: Vec<String>,
    /// The DN of the sample user (none when no user matched the filter).
    pub sample_dn: Option<String>,
    /// The sample user's attributes, with a preview of each value (password attributes redacted).
    pub sample: BTreeMap<String, String>,
}

impl AttributesView {
    /// The attributes of `domain`'s directory.
    pub fn new(domain: &str, report: &AttributeReport) -> AttributesView {
        AttributesView {
            domain: domain.to_owned(),
            schema: report.schema.iter().map(|s| s.to_string()).collect(),
            sample_dn: report.sample_dn.as_ref().map(|s| s.to_string()).into_option(),
            sample: report.sample.iter().map(|nv| (nv.name.to_string(), nv.value.to_string())).collect(),
        }
    }
}

/// The search base, scope and filters a domain uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FilterView {
    /// The mail domain.
    pub domain: String,
    /// Each setting by name (`base`, `scope`, `user_filter`…).
    pub filters: BTreeMap<String, String>,
}

impl FilterView {
    /// The filters of `domain`.
    pub fn new(domain: &str, report: &FilterReport) -> FilterView {
        FilterView {
            domain: domain.to_owned(),
            filters: report.items.iter().map(|nv| (nv.name.to_string(), nv.value.to_string())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use dirconn_abi::{Attribute, ConnectorError, ErrorKind, NamedValue, abi_stable::std_types::ROption};

    use super::*;
    use crate::testing::{keys, schema_keys, set};

    fn user() -> UserEntry {
        UserEntry {
            dn: "uid=bob,dc=a,dc=org".into(),
            id: "1234".into(),
            login: "bob".into(),
            email: ROption::RSome("bob@a.org".into()),
            display_name: ROption::RNone,
            attributes: vec![
                Attribute { name: "mail".into(), values: vec![AttrValue::Text("bob@a.org".into())].into() },
                Attribute { name: "jpegPhoto".into(), values: vec![AttrValue::Binary(vec![1, 2, 3].into())].into() },
                Attribute { name: "userPassword".into(), values: vec![AttrValue::Text("{SSHA}secret".into())].into() },
            ]
            .into(),
            groups: vec!["cn=staff,dc=a,dc=org".into()].into(),
            warnings: vec![].into(),
            state: vec!["locked".into()].into(),
        }
    }

    #[test]
    fn a_user_shows_binary_values_by_size_and_never_a_password() {
        let view = UserView::from(&user());
        let expected = ["dn", "id", "login", "email", "display_name", "groups", "state", "warnings", "attributes"];
        assert_eq!(keys(&view), set(&expected));
        assert_eq!(schema_keys::<UserView>(), set(&expected));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["attributes"]["mail"], serde_json::json!(["bob@a.org"]));
        assert_eq!(json["attributes"]["jpegPhoto"], serde_json::json!([{ "binary_bytes": 3 }]));
        assert!(json["display_name"].is_null() && json["state"][0] == "locked", "{json}");
        assert!(!json.to_string().contains("secret") && json["attributes"].get("userPassword").is_none());
        assert_eq!(serde_json::from_value::<UserView>(json).unwrap(), view);
    }

    #[test]
    fn a_test_report_names_its_stages_statuses_and_errors() {
        let failed = StageResult {
            stage: "tcp".into(),
            target: "127.0.0.1:1".into(),
            status: StageStatus::Failed,
            elapsed_us: 2500,
            detail: "".into(),
            error: ROption::RSome(ConnectorError::new(ErrorKind::Unreachable, "DC-302", "Refused.", "Start it.")),
        };
        let skipped =
            StageResult { stage: "tls".into(), status: StageStatus::Skipped, error: ROption::RNone, ..failed.clone() };
        let report = TestReport { stages: vec![failed, skipped].into() };
        let view = TestReportView::new("a.org", &report);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["domain"].as_str(), json["ok"].as_bool()), (Some("a.org"), Some(false)));
        let stage = &json["stages"][0];
        assert_eq!(keys(&view.stages[0]), set(&["stage", "target", "status", "elapsed_ms", "detail", "error"]));
        assert_eq!((stage["status"].as_str(), stage["elapsed_ms"].as_f64()), (Some("failed"), Some(2.5)));
        assert_eq!(
            (stage["error"]["code"].as_str(), stage["error"]["kind"].as_str()),
            (Some("DC-302"), Some("unreachable"))
        );
        assert_eq!(json["stages"][1]["status"], "skipped");
        assert!(json["stages"][1]["error"].is_null());
    }

    #[test]
    fn attributes_and_filters_are_maps_by_name() {
        let nv = |n: &str, v: &str| NamedValue { name: n.into(), value: v.into() };
        let report = AttributeReport {
            schema: vec!["cn".into(), "mail".into()].into(),
            sample_dn: ROption::RSome("uid=bob".into()),
            sample: vec![nv("mail", "bob@a.org")].into(),
        };
        let json = serde_json::to_value(AttributesView::new("a.org", &report)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "domain": "a.org", "schema": ["cn", "mail"], "sample_dn": "uid=bob", "sample": { "mail": "bob@a.org" } })
        );
        let filters = FilterReport { items: vec![nv("scope", "subtree"), nv("base", "dc=a")].into() };
        let json = serde_json::to_value(FilterView::new("a.org", &filters)).unwrap();
        assert_eq!(json, serde_json::json!({ "domain": "a.org", "filters": { "scope": "subtree", "base": "dc=a" } }));
        let found = LookupView::new("a.org", &user());
        assert_eq!(keys(&found), set(&["domain", "user"]));
        let auth = AuthView::new("a.org", "bob", Duration::from_millis(2), &user());
        assert_eq!(keys(&auth), set(&["ok", "domain", "login", "elapsed_ms", "user"]));
    }
}
