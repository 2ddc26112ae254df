//! The administration routes in process, over a host with no domain: every route refuses a mail-server
//! token (403) and no token (401) before reading anything, queries and bodies are strict, and errors carry
//! their codes. The routes against a real directory are tested in `tests/tests/service_admin.rs`.

use std::collections::BTreeSet;

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use tower::ServiceExt as _;

const MAIL: &str = "mail-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

async fn app(dir: &std::path::Path) -> (Router, serde_json::Value) {
    std::fs::write(dir.join("mail.token"), MAIL).unwrap();
    std::fs::write(dir.join("admin.token"), ADMIN).unwrap();
    let text = "store = \"accounts.db\"\n[service]\n\
        [[service.client]]\nname = \"mta\"\ntoken_file = \"mail.token\"\nrole = \"mail-server\"\n\
        [[service.client]]\nname = \"ops\"\ntoken_file = \"admin.token\"\nrole = \"admin\"\n";
    let service = crate::testing::service(dir, text).await;
    let (router, doc) = crate::http::router(service);
    (router, serde_json::to_value(doc).unwrap())
}

/// Sends a request; returns the status and the JSON body (null when there is none).
async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = router.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// Every operation of the OpenAPI document tagged `admin`: method and path.
fn admin_operations(doc: &serde_json::Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "admin")) {
                out.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    out
}

/// A path with its `{parameters}` filled in.
fn fill(path: &str) -> String {
    path.replace("{domain}", "example.org").replace("{login}", "alice").replace("{address}", "alice@example.org")
}

#[tokio::test]
async fn every_admin_route_refuses_other_callers_first() {
    let dir = tempfile::tempdir().unwrap();
    let (router, doc) = app(dir.path()).await;
    let ops = admin_operations(&doc);
    let paths: BTreeSet<String> = ops.iter().map(|(m, p)| format!("{m} {p}")).collect();
    let expected = [
        "GET /v1/plugins",
        "GET /v1/domains",
        "POST /v1/domains/{domain}/test-connection",
        "POST /v1/domains/{domain}/test-auth",
        "GET /v1/domains/{domain}/users/{login}",
        "GET /v1/domains/{domain}/attributes",
        "GET /v1/domains/{domain}/filter",
        "POST /v1/domains/{domain}/password",
        "POST /v1/domains/{domain}/sync",
        "GET /v1/domains/{domain}/sync-reports",
        "GET /v1/accounts",
        "GET /v1/accounts/{address}",
        "POST /v1/local-accounts",
        "PUT /v1/local-accounts/{address}/password",
        "DELETE /v1/local-accounts/{address}",
        "POST /v1/domains/{domain}/migrate",
        "GET /v1/audit",
    ];
    assert_eq!(paths, expected.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>());
    for (method, path) in ops {
        // A body that no route takes: the role is checked before the body is read.
        let uri = format!("{}?bogus=1", fill(&path));
        let (status, json) = send(&router, method.clone(), &uri, Some(MAIL), "{\"bogus\": 1}").await;
        assert_eq!((status, json["code"].as_str()), (StatusCode::FORBIDDEN, Some("DC-811")), "{method} {path}");
        assert!(json["message"].as_str().unwrap().contains("`mta`"), "{json}");
        let (status, json) = send(&router, method.clone(), &uri, None, "").await;
        assert_eq!((status, json["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("DC-810")), "{method} {path}");
    }
}

#[tokio::test]
async fn queries_and_bodies_are_strict_and_errors_have_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (router, _) = app(dir.path()).await;
    let admin = Some(ADMIN);
    let (status, json) = send(&router, Method::GET, "/v1/domains", admin, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["domains"], serde_json::json!([]), "{json}");
    let (status, json) = send(&router, Method::GET, "/v1/audit?bogus=1", admin, "").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DC-812")));
    assert!(json["message"].as_str().unwrap().starts_with("The request was refused: its query:"), "{json}");
    let (status, json) = send(&router, Method::GET, "/v1/audit?since=yesterday", admin, "").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DC-812")), "{json}");
    let (status, json) = send(&router, Method::GET, "/v1/audit?last=5", admin, "").await;
    assert_eq!((status, json), (StatusCode::OK, serde_json::json!([])));
    let (status, json) = send(&router, Method::GET, "/v1/audit?domain=nowhere.org", admin, "").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::NOT_FOUND, Some("DC-010")), "{json}");
    let misspelt = r#"{"login": "root@example.org", "pasword": "x"}"#;
    let (status, json) = send(&router, Method::POST, "/v1/local-accounts", admin, misspelt).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DC-812")), "{json}");
    assert!(json["message"].as_str().unwrap().contains("pasword"), "{json}");
    let (status, json) = send(&router, Method::POST, "/v1/domains/nowhere.org/sync", admin, "").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::NOT_FOUND, Some("DC-010")), "an empty body is allowed");
    let (status, json) =
        send(&router, Method::POST, "/v1/domains/nowhere.org/sync", admin, r#"{"dry-run": true}"#).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DC-812")), "{json}");
    let (status, json) = send(&router, Method::POST, "/v1/domains/x/migrate", admin, r#"{"all": false}"#).await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::BAD_REQUEST, Some("DC-812")), "{json}");
    let (status, json) = send(&router, Method::GET, "/v1/accounts/bob@nowhere.org", admin, "").await;
    assert_eq!((status, json["code"].as_str()), (StatusCode::NOT_FOUND, Some("DC-010")), "{json}");
    assert_eq!(json["ok"], false);
}

#[test]
fn host_errors_get_the_status_of_their_kind() {
    use dirconn_abi::{ConnectorError, ErrorKind};
    use dirconn_host::Error as H;

    use crate::http::host_status;
    let connector =
        |kind| H::Connector { domain: "a.org".into(), error: Box::new(ConnectorError::new(kind, "DC-302", "m", "f")) };
    let store = H::Store(dirconn_store::Error::Corrupt { what: "x".into() });
    let account = H::Account { message: "exists".into(), fix: "f".into() };
    let guard = H::Guard { domain: "a.org".into(), would: 5, active: 6, allowed: 1 };
    let cases = [
        (connector(ErrorKind::Unreachable), StatusCode::SERVICE_UNAVAILABLE),
        (connector(ErrorKind::InvalidCredentials), StatusCode::UNPROCESSABLE_ENTITY),
        (connector(ErrorKind::NotFound), StatusCode::NOT_FOUND),
        (connector(ErrorKind::Unsupported), StatusCode::NOT_IMPLEMENTED),
        (connector(ErrorKind::Configuration), StatusCode::INTERNAL_SERVER_ERROR),
        (store, StatusCode::SERVICE_UNAVAILABLE),
        (account, StatusCode::CONFLICT),
        (guard, StatusCode::CONFLICT),
    ];
    for (err, status) in cases {
        assert_eq!(host_status(&err), status, "{err}");
        let e = crate::http::ApiError::host(&err, 7);
        assert_eq!(e.status(), status);
        let response = axum::response::IntoResponse::into_response(e);
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(retry.as_deref(), (status == StatusCode::SERVICE_UNAVAILABLE).then_some("7"), "{err}");
    }
}
