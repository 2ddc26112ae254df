//! The HTTP API's JSON: the request bodies as the routes read them, and the views (`dirconn_views`) the API
//! answers with and `dirconn --json` prints.

use dirconn_service::http::fuzzing::{BODIES, Read, Refused};
use dirconn_views as v;
use serde::{Serialize, de::DeserializeOwned};

/// The string values of keys naming a password, long enough to be told apart from the refusal's own words
/// and written once in the input.
fn passwords(value: &serde_json::Value, text: &str) -> Vec<String> {
    let serde_json::Value::Object(map) = value else { return Vec::new() };
    map.iter()
        .filter(|(k, _)| k.to_ascii_lowercase().contains("password"))
        .filter_map(|(_, v)| v.as_str())
        .filter(|s| s.chars().count() >= 12 && text.matches(*s).count() == 1)
        .map(str::to_owned)
        .collect()
}

/// A body taken is a JSON object and is taken again written out anew; a body refused is a 400 with code
/// `DC-812` and a message, and quotes no password.
fn body(name: &str, read: Read, data: &[u8]) {
    let value = serde_json::from_slice::<serde_json::Value>(data);
    match read(data) {
        Ok(()) => {
            let value = value.unwrap_or_else(|e| panic!("{name} took a body that is not JSON ({e}): {data:?}"));
            assert!(value.is_object(), "{name} took a body that is not an object: {value}");
            assert!(read(value.to_string().as_bytes()).is_ok(), "{name} refuses {value} written out anew");
            let pretty = serde_json::to_vec_pretty(&value).unwrap_or_default();
            assert!(read(&pretty).is_ok(), "{name} refuses {value} pretty-printed");
        }
        Err(Refused { status, body }) => {
            assert_eq!(status, 400, "{name}: {body}");
            assert_eq!(body["code"], "DC-812", "{name}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
            let text = String::from_utf8_lossy(data);
            if let Ok(value) = &value {
                for password in passwords(value, &text) {
                    assert!(!body.to_string().contains(&password), "{name} quotes the password {password:?}: {body}");
                }
            }
        }
    }
}

/// A view read from JSON is written out as JSON that reads back to the same view.
fn view<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let Ok(first) = serde_json::from_slice::<T>(data) else { return };
    let name = std::any::type_name::<T>();
    let written = serde_json::to_vec(&first).unwrap_or_else(|e| panic!("{name} {first:?} not written: {e}"));
    let again = serde_json::from_slice::<T>(&written).unwrap_or_else(|e| {
        panic!("{name} {first:?} written as {} reads back as {e}", String::from_utf8_lossy(&written))
    });
    assert_eq!(again, first, "{name} written as {}", String::from_utf8_lossy(&written));
}

/// Any bytes as the body of every route that takes JSON, and as every view.
pub fn api_json(data: &[u8]) {
    for (name, read) in BODIES {
        body(name, read, data);
    }
    view::<v::AccountView>(data);
    view::<v::DoneView>(data);
    view::<v::LoginView>(data);
    view::<v::MigrationView>(data);
    view::<v::PasswordView>(data);
    view::<v::AuditRecordView>(data);
    view::<v::AttributesView>(data);
    view::<v::AuthView>(data);
    view::<v::FilterView>(data);
    view::<v::LookupView>(data);
    view::<v::TestReportView>(data);
    view::<v::UserView>(data);
    view::<v::DomainsView>(data);
    view::<v::PluginsView>(data);
    view::<v::Accepted>(data);
    view::<v::Refused>(data);
    view::<v::UserFound>(data);
    view::<v::MapLookup>(data);
    view::<v::ErrorView>(data);
    view::<v::Problem>(data);
    view::<v::Refusal>(data);
    view::<v::SyncReportView>(data);
}
