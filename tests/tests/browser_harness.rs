//! Tests of the browser harness itself: a headless Chromium fills and submits a form served under the web UI's
//! strict Content-Security-Policy, axe-core runs there (and does find a planted violation), screenshots are PNGs,
//! and a `__Host-` cookie set over plain http on 127.0.0.1 is kept and sent back.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dirconn_tests::browser::Browser;

/// The policy the web UI serves its pages with.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const COOKIE: &str = "__Host-session=s3cr3t-value";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    ([(header::CONTENT_SECURITY_POLICY, CSP), (header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn form_page() -> Response {
    page(
        "Sign in",
        "<form method=\"post\" action=\"/submit\">\
         <label for=\"name\">Your name</label> <input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"name\">\
         <button type=\"submit\" id=\"send\">Send</button></form>",
    )
}

async fn submit(Form(fields): Form<HashMap<String, String>>) -> Response {
    let name = fields.get("name").map(String::as_str).unwrap_or("nobody");
    page("Welcome", &format!("<p id=\"result\">Hello, {}!</p>", escape(name)))
}

/// A page with known serious violations (an image without `alt`, a field without a label), an inline script that
/// the policy must block and a same-origin one that it allows.
async fn bad_page() -> Response {
    page(
        "Broken",
        "<img src=\"/missing.png\" id=\"logo\"><input id=\"nolabel\" type=\"text\">\
         <script>document.documentElement.dataset.inline = 'ran';</script><script src=\"/page.js\"></script>",
    )
}

async fn page_js() -> Response {
    let js = "document.documentElement.dataset.external = 'ran';";
    ([(header::CONTENT_SECURITY_POLICY, CSP), (header::CONTENT_TYPE, "text/javascript; charset=utf-8")], js)
        .into_response()
}

async fn set_cookie() -> Response {
    let mut response = page("Cookie set", "<p id=\"set\">set</p>");
    let value = format!("{COOKIE}; Secure; HttpOnly; SameSite=Strict; Path=/");
    response.headers_mut().insert(header::SET_COOKIE, value.parse().expect("a header value"));
    response
}

async fn echo_cookie(headers: HeaderMap) -> Response {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("(none)");
    page("Cookie echo", &format!("<p id=\"cookie\">{}</p>", escape(cookie)))
}

/// Serves the pages on `127.0.0.1:<free port>` for the rest of the test.
async fn serve() -> SocketAddr {
    let app = axum::Router::new()
        .route("/form", get(form_page))
        .route("/submit", post(submit))
        .route("/bad", get(bad_page))
        .route("/page.js", get(page_js))
        .route("/cookie/set", get(set_cookie))
        .route("/cookie/echo", get(echo_cookie))
        .fallback(|| async { (StatusCode::NOT_FOUND, [(header::CONTENT_SECURITY_POLICY, CSP)], "not found") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the local address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the test server") });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_is_filled_and_submitted_and_the_page_is_accessible() {
    let addr = serve().await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{addr}/form")).await;
    browser.assert_accessible("the form page").await;
    browser.fill("#name", "first try").await;
    browser.fill("#name", "Ada <Lovelace>").await;
    let shot = browser.screenshot("browser-harness-form").await;
    browser.click("#send").await;
    assert_eq!(browser.text_of("#result").await, "Hello, Ada <Lovelace>!");
    assert!(browser.source().await.contains("Hello, Ada &lt;Lovelace&gt;!"), "the source is the escaped HTML");

    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("cannot read {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{} is a PNG", shot.display());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn axe_runs_under_the_strict_policy_and_finds_a_planted_violation() {
    let addr = serve().await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{addr}/bad")).await;
    browser.wait_for("#nolabel").await;
    let ran = "const d = document.documentElement.dataset; return [d.inline || null, d.external || null];";
    let ran = browser.client().execute(ran, vec![]).await.expect("execute script");
    assert_eq!(ran, serde_json::json!([null, "ran"]), "the policy blocks the inline script, not the same-origin one");

    let violations = browser.axe().await;
    let found = |id: &str, target: &str| {
        violations.iter().any(|v| v.id == id && v.is_serious() && v.targets.iter().any(|t| t == target))
    };
    assert!(found("image-alt", "#logo"), "axe reports the image without alt: {violations:#?}");
    assert!(found("label", "#nolabel"), "axe reports the field without a label: {violations:#?}");

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn assert_accessible_fails_on_a_serious_violation() {
    let addr = serve().await;
    let browser = std::sync::Arc::new(Browser::start().await);
    browser.goto(&format!("http://{addr}/bad")).await;
    let checked = {
        let browser = std::sync::Arc::clone(&browser);
        tokio::spawn(async move { browser.assert_accessible("the broken page").await })
    };
    let panic = checked.await.expect_err("assert_accessible panics on the broken page").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("image-alt") && message.contains("#logo"), "the panic names the violation: {message}");
    assert!(message.contains("label") && message.contains("#nolabel"), "the panic names the violation: {message}");
    // Dropped without close(): Drop stops chromedriver and its Chromium by their process group.
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_prefixed_secure_cookie_is_kept_over_http_on_loopback() {
    let addr = serve().await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{addr}/cookie/set")).await;
    browser.wait_for("#set").await;
    let (name, value) = COOKIE.split_once('=').expect("name=value");
    let cookies = browser.cookies().await;
    assert!(
        cookies.iter().any(|(n, v)| n == name && v == value),
        "Chromium keeps the __Host- cookie set over http://127.0.0.1: {cookies:?}"
    );
    browser.goto(&format!("http://{addr}/cookie/echo")).await;
    assert_eq!(browser.text_of("#cookie").await, COOKIE, "the cookie is sent back");
    browser.close().await;
}
