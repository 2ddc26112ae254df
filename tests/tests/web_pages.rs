//! The administrator's web pages of `dirconn serve`, in a real headless Chromium (WebDriver) against the
//! real binary over a real slapd: sign-in, the settings form with its connection and login tests on unsaved
//! values, the write-only service password, saving into the file (comments kept, a bad value refused at its
//! field), group mappings, a dry-run sync then a sync, and an axe-core check of every page. Forged changes,
//! tokens and headers are checked over plain HTTP. The screenshots of the docs are taken here
//! (`DIRCONN_SCREENSHOT_DIR`, `cargo xtask screenshots`).

use std::time::{Duration, Instant};

use dirconn_tests::{
    DomainSpec, Fixture, Slapd,
    browser::Browser,
    http::{Http, Response},
    samba::{self, AdGroup, AdUser},
    serve::{Serve, ServeSpec},
};

const ADMIN: &str = "admin@example.org";
/// The local administrator of the Active Directory test's domain.
const AD_ADMIN: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin-web-pass";

/// A service over `domain`, with a comment in its file and a local administrator.
fn serve(domain: DomainSpec) -> Serve {
    serve_as(domain, ADMIN)
}

fn serve_as(domain: DomainSpec, admin: &str) -> Serve {
    let serve = Serve::start(ServeSpec::new(vec![domain]));
    let text = std::fs::read_to_string(serve.config_path()).unwrap();
    serve.write_config(&format!("# Written by hand: keep this comment.\n{text}"));
    let out = serve.cli(&["local", "add", admin, "--admin", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serve
}

fn url(serve: &Serve, path: &str) -> String {
    format!("http://{}{path}", serve.api_addr())
}

/// Waits until the text of `css` contains `needle`.
async fn wait_text(b: &Browser, css: &str, needle: &str) -> String {
    let started = Instant::now();
    loop {
        // The page may be replaced under a found element (a form's answer loading): find it again.
        let found = b.client().find(fantoccini::Locator::Css(css)).await;
        let text = match found {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        if started.elapsed() > Duration::from_secs(20) {
            panic!("`{css}` does not show `{needle}` within 20 s; it shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(b: &Browser, serve: &Serve) {
    sign_in_as(b, serve, ADMIN).await;
}

async fn sign_in_as(b: &Browser, serve: &Serve, admin: &str) {
    b.goto(&url(serve, "/ui/signin")).await;
    b.fill("#login", admin).await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.click("button[type=submit]").await;
    wait_text(b, "h1", "Domains").await;
}

/// A page checked for serious accessibility problems and photographed for the docs.
async fn check_page(b: &Browser, name: &str) {
    b.assert_accessible(name).await;
    b.screenshot(name).await;
}

/// The same, photographed with `css` at the top of the window.
async fn check_page_at(b: &Browser, name: &str, css: &str) {
    b.assert_accessible(name).await;
    let script = format!("document.querySelector('{css}').scrollIntoView(); return true;");
    b.client().execute(&script, vec![]).await.unwrap_or_else(|e| panic!("scroll to {css}: {e}"));
    b.screenshot(name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_tests_and_saving_in_a_browser() {
    let slapd = Slapd::start();
    let serve = serve(DomainSpec::ldap(&slapd));
    let b = Browser::start().await;

    // Not signed in: the sign-in page; a wrong password is refused with its code.
    b.goto(&url(&serve, "/ui/domains")).await;
    wait_text(&b, "h1", "Sign in").await;
    check_page(&b, "signin").await;
    b.fill("#login", ADMIN).await;
    b.fill("#password", "wrong-password").await;
    b.click("button[type=submit]").await;
    wait_text(&b, ".problem", "DC-830").await;
    sign_in(&b, &serve).await;
    assert!(b.cookies().await.iter().any(|(n, _)| n == "__Host-dirconn"), "no session cookie");
    wait_text(&b, "table", "example.org").await;
    check_page(&b, "domains").await;

    // The settings; a wrong service password fails the service bind with its fix, the right one passes.
    b.goto(&url(&serve, "/ui/domains/example.org")).await;
    wait_text(&b, "h1", "example.org").await;
    check_page(&b, "settings").await;
    b.fill("#f-bind_password", "not-the-password").await;
    b.click("#test-connection").await;
    let failed = wait_text(&b, "#result", "a stage failed").await;
    let stage = b.text_of("tr[data-stage=service-bind]").await;
    assert!(stage.contains("failed") && stage.contains("Fix:"), "{stage}\n{failed}");
    b.fill("#f-bind_password", slapd.service_password()).await;
    b.click("#test-connection").await;
    wait_text(&b, "#result", "every stage passed").await;
    assert!(!b.source().await.contains("data-status=\"failed\""));
    check_page_at(&b, "test-connection", "#tests").await;

    // A test login on the form's values: the entry, the mapped fields and their attributes, the groups.
    b.fill("#f-bind_password", "").await;
    b.fill("#t-login", Fixture::ALICE.uid).await;
    b.fill("#t-password", Fixture::ALICE.password).await;
    b.click("#test-auth").await;
    let shown = wait_text(&b, "#result", "Accepted").await;
    assert!(shown.contains("alice@example.org") && shown.contains("cn=staff"), "{shown}");
    check_page_at(&b, "test-auth", "#tests").await;

    // The effective filters follow the form as it is typed; the attribute picker asks the server.
    b.fill("#f-user_filter", "(&(objectClass=inetOrgPerson)(employeeType=staff))").await;
    wait_text(&b, "#preview", "employeeType=staff").await;
    b.click("#picker-load").await;
    let picker = wait_text(&b, "#picker", "attributes in the schema").await;
    assert!(picker.contains("uid=") || picker.contains("mail"), "{picker}");
    // Without JavaScript, the attribute list is a page of its own.
    b.goto(&url(&serve, "/ui/domains/example.org/attributes")).await;
    wait_text(&b, "main", "attributes in the schema").await;
    b.assert_accessible("attributes").await;
    b.goto(&url(&serve, "/ui/domains/example.org")).await;

    // A changed URL without the password typed again: the test is refused at the password field.
    let other = format!("ldap://127.0.0.1:{}", dirconn_tests::net::refused_port());
    b.fill("#f-urls", &other).await;
    b.click("#test-connection").await;
    wait_text(&b, "#result", "DC-834").await;
    b.goto(&url(&serve, "/ui/domains/example.org")).await;

    // A bad value is shown at its field and leaves the file as it was.
    let before = std::fs::read_to_string(serve.config_path()).unwrap();
    b.fill("#f-pool_size", "0").await;
    b.click("#save").await;
    let error = wait_text(&b, "[data-key=pool_size] .error", "DC-836").await;
    assert!(error.contains("pool_size"), "{error}");
    assert_eq!(std::fs::read_to_string(serve.config_path()).unwrap(), before, "a refused save wrote the file");
    check_page_at(&b, "settings-error", "[data-key=pool_size]").await;

    // A good one is saved in place, comments kept, the previous file kept, and is in force.
    b.goto(&url(&serve, "/ui/domains/example.org")).await;
    b.fill("#f-display_name", "Example Staff").await;
    b.click("#save").await;
    wait_text(&b, "#notice", "Saved and reloaded").await;
    let after = std::fs::read_to_string(serve.config_path()).unwrap();
    assert!(after.starts_with("# Written by hand: keep this comment.\n"), "{after}");
    assert!(after.contains("display_name = \"Example Staff\""), "{after}");
    let previous = serve.config_path().with_file_name("dirconn.toml.previous");
    assert_eq!(std::fs::read_to_string(previous).unwrap(), before);
    b.goto(&url(&serve, "/ui/domains")).await;
    wait_text(&b, "table", "Example Staff").await;

    // Sign-out ends the session.
    b.click("header form button").await;
    wait_text(&b, "h1", "Sign in").await;
    b.goto(&url(&serve, "/ui/domains")).await;
    wait_text(&b, "h1", "Sign in").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_sync_accounts_audit_and_plugins_in_a_browser() {
    let slapd = Slapd::start();
    let serve = serve(DomainSpec::ldap(&slapd));
    let login = serve.client().login("bob", Fixture::BOB.password);
    assert_eq!(login.status, 200, "{}", login.text());
    let b = Browser::start().await;
    sign_in(&b, &serve).await;

    // Group mappings: a member's groups looked up on the server, one mapped to an app group.
    b.goto(&url(&serve, "/ui/domains/example.org/groups")).await;
    b.fill("#member", "alice").await;
    b.click("form[method=get] button").await;
    wait_text(&b, "#found", "cn=staff").await;
    b.fill("#group", dirconn_tests::slapd::STAFF_DN).await;
    b.fill("#apps", "mail-users").await;
    b.click("#map").await;
    wait_text(&b, "#mappings", "mail-users").await;
    // A group found on the server, mapped from its own row.
    b.fill("#member", "alice").await;
    b.click("form[method=get] button").await;
    wait_text(&b, "#found", "cn=devs").await;
    b.fill("#found tr:has(td:first-child:is(.mono)) input[name=apps]", "developers").await;
    b.click("#found tr:has(td:first-child:is(.mono)) button").await;
    wait_text(&b, "#mappings", "developers").await;
    check_page(&b, "groups").await;
    assert!(std::fs::read_to_string(serve.config_path()).unwrap().contains("mail-users"));

    // A dry run shows the diff and writes no account; then the sync.
    b.goto(&url(&serve, "/ui/domains/example.org/sync")).await;
    b.click("#dry-run").await;
    let diff = wait_text(&b, "#sync-result", "Dry run").await;
    assert!(diff.contains("Created") && diff.contains("alice"), "{diff}");
    check_page_at(&b, "sync-dry-run", "#sync-result").await;
    b.goto(&url(&serve, "/ui/accounts?domain=example.org&q=alice")).await;
    wait_text(&b, "#accounts", "No account matches").await;
    // A local account with a directory entry of its login is migrated to the directory.
    let out = serve.cli(&["local", "add", "dave@example.org", "--password-stdin"], Some("dave-local-pass"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    b.goto(&url(&serve, "/ui/accounts?domain=example.org")).await;
    b.fill("#m-logins", "dave").await;
    b.click("form[action='/ui/accounts/migrate'] button").await;
    let migration = wait_text(&b, "#migration", "1 migrated").await;
    assert!(migration.contains("uid=dave"), "{migration}");
    b.goto(&url(&serve, "/ui/domains/example.org/sync")).await;
    b.click("#run-now").await;
    let done = wait_text(&b, "#sync-result", "Sync: completed").await;
    assert!(!done.contains("Dry run"), "{done}");

    // A sync that would deactivate most accounts: the dry run shows the guard's verdict.
    b.goto(&url(&serve, "/ui/domains/example.org")).await;
    b.fill("#f-sync_filter", "(&(objectClass=inetOrgPerson)(uid=alice))").await;
    b.fill("#f-accounts-deactivation_guard_min", "1").await;
    b.click("#save").await;
    wait_text(&b, "#notice", "Saved and reloaded").await;
    b.goto(&url(&serve, "/ui/domains/example.org/sync")).await;
    b.click("#dry-run").await;
    wait_text(&b, ".problem", "DC-705").await;
    wait_text(&b, "details", "Deactivation guard: stopped").await;
    check_page_at(&b, "sync-guard", "main").await;

    // The accounts now, with alice's app group from the mapping; the audit; the plugins.
    b.goto(&url(&serve, "/ui/accounts?domain=example.org")).await;
    let accounts = wait_text(&b, "#accounts", "alice@example.org").await;
    assert!(accounts.contains("mail-users"), "{accounts}");
    check_page(&b, "accounts").await;
    b.click("#accounts a").await;
    wait_text(&b, "h1", "@example.org").await;
    b.assert_accessible("account").await;
    b.goto(&url(&serve, "/ui/audit")).await;
    wait_text(&b, "#audit", "bob").await;
    check_page(&b, "audit").await;
    b.goto(&url(&serve, "/ui/plugins")).await;
    wait_text(&b, "main", "dirconn-plugin-ldap").await;
    check_page(&b, "plugins").await;
    b.close().await;
}

#[test]
fn an_active_directory_test_login_shows_mapped_fields_and_app_groups() {
    samba::with_dc(|dc| async move {
        let mut serve = serve_as(DomainSpec::active_directory(&dc), AD_ADMIN);
        // devs (alice's group) maps to the app group `developers`.
        let text = std::fs::read_to_string(serve.config_path()).unwrap();
        let mapping = format!("[domain.groups.map]\n\"{}\" = [\"developers\"]\n\n[service]\n", AdGroup::DEVS.dn());
        serve.write_config(&text.replacen("[service]\n", &mapping, 1));
        serve.reload();
        assert!(serve.wait_for_log("configuration reloaded", 1, Duration::from_secs(20)), "{}", serve.log());
        let b = Browser::start().await;
        sign_in_as(&b, &serve, AD_ADMIN).await;
        b.goto(&url(&serve, "/ui/domains/example.com")).await;
        b.fill("#t-login", AdUser::ALICE.sam).await;
        b.fill("#t-password", AdUser::ALICE.password).await;
        b.click("#test-auth").await;
        wait_text(&b, "#result", "Accepted").await;
        let mapped = b.text_of("#auth-mapped").await;
        assert!(mapped.contains("givenName") && mapped.contains("Alice") && mapped.contains("Liddell"), "{mapped}");
        let apps = b.text_of("#auth-app-groups").await;
        assert!(apps.contains("developers"), "{apps}");
        let groups = b.text_of("#auth-groups").await;
        assert!(groups.to_lowercase().contains("devs"), "{groups}");
        b.assert_accessible("test-auth (Active Directory)").await;
        let scroll = "document.querySelector('#tests').scrollIntoView(); return true;";
        b.client().execute(scroll, vec![]).await.unwrap();
        b.screenshot("test-auth-active-directory").await;

        // A wrong password goes to the DC once; the same one again is answered from memory by the service's
        // throttle (DC-831, not sent again), so testing cannot lock alice out (the DC locks at three).
        b.fill("#t-password", "not-her-password").await;
        b.click("#test-auth").await;
        wait_text(&b, "#result", "Refused").await;
        b.goto(&url(&serve, "/ui/domains/example.com")).await;
        b.fill("#t-login", AdUser::ALICE.sam).await;
        b.fill("#t-password", "not-her-password").await;
        b.click("#test-auth").await;
        wait_text(&b, "#result", "DC-831").await;
        // From the network she was tested from (familiar for her now), alice still logs in.
        let body = serde_json::json!({ "login": AdUser::ALICE.sam, "password": AdUser::ALICE.password, "client_ip": "127.0.0.1" });
        let r = serve.client().post_json("/v1/auth", &body);
        assert_eq!(r.status, 200, "alice was locked out by the tests: {}", r.text());
        b.close().await;
    });
}

/// A form body.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn post(serve: &Serve, path: &str, cookie: &str, extra: &[(&str, &str)], body: &[u8]) -> Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)];
    headers.extend_from_slice(extra);
    Http::new(serve.api_addr()).send("POST", path, &headers, Some(body)).unwrap()
}

/// The value of a page's hidden field `name`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no {name}: {page}"))
        .to_owned()
}

/// Posts the settings form of example.org with these fields.
fn save(serve: &Serve, cookie: &str, pairs: &[(&str, &str)]) -> Response {
    post(serve, "/ui/domains/example.org", cookie, &[], &form(pairs))
}

/// Signs in over HTTP: the cookie, and the CSRF token of the settings page.
fn http_session(serve: &Serve) -> (String, String) {
    let r = post(serve, "/ui/signin", "", &[], &form(&[("login", ADMIN), ("password", ADMIN_PASSWORD)]));
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page =
        Http::new(serve.api_addr()).send("GET", "/ui/domains/example.org", &[("Cookie", &cookie)], None).unwrap();
    (cookie, hidden(&page.text(), "csrf"))
}

#[test]
fn forged_changes_tokens_headers_and_the_stored_password() {
    let slapd = Slapd::start();
    // The service password inline in the file: it must never be sent back.
    let domain = DomainSpec::ldap(&slapd).remove("bind_password_file").set("bind_password", slapd.service_password());
    let serve = serve(domain);
    let (cookie, csrf) = http_session(&serve);
    let before = std::fs::read_to_string(serve.config_path()).unwrap();
    let secret = slapd.service_password();

    // Without the token, with another, or from another site: refused, nothing written.
    let change = |extra: &[(&str, &str)], token: Option<&str>| {
        let mut pairs = vec![("k.display_name", "Forged")];
        if let Some(t) = token {
            pairs.push(("csrf", t));
        }
        post(&serve, "/ui/domains/example.org", &cookie, extra, &form(&pairs))
    };
    for r in [
        change(&[], None),
        change(&[], Some("not-the-token")),
        change(&[("Sec-Fetch-Site", "cross-site")], Some(&csrf)),
        change(&[("Origin", "http://evil.example")], Some(&csrf)),
    ] {
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("DC-833"), "{}", r.text());
    }
    assert_eq!(std::fs::read_to_string(serve.config_path()).unwrap(), before);

    // The API's admin token does not reach the pages; security headers on every page.
    let r = serve.admin().get("/ui/domains");
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/signin")), "{}", r.text());
    let page =
        Http::new(serve.api_addr()).send("GET", "/ui/domains/example.org", &[("Cookie", &cookie)], None).unwrap();
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));

    // The stored password is in no page and no answer: pages, tests, previews (and the saves below).
    let mut answers = Vec::new();
    for path in [
        "/ui/domains",
        "/ui/domains/example.org",
        "/ui/domains/example.org/groups",
        "/ui/domains/example.org/sync",
        "/ui/accounts",
        "/ui/audit",
        "/ui/plugins",
        "/ui/domains/example.org/attributes",
    ] {
        let r = Http::new(serve.api_addr()).send("GET", path, &[("Cookie", &cookie)], None).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        answers.push((path.to_owned(), r));
    }
    for (path, pairs) in [
        ("/ui/domains/example.org/test-connection", vec![("csrf", csrf.as_str())]),
        (
            "/ui/domains/example.org/test-auth",
            vec![("csrf", csrf.as_str()), ("t.login", "alice"), ("t.password", "alice-pass")],
        ),
        ("/ui/domains/example.org/preview", vec![("csrf", csrf.as_str())]),
    ] {
        for htmx in [true, false] {
            let extra: &[(&str, &str)] = if htmx { &[("HX-Request", "true")] } else { &[] };
            let r = post(&serve, path, &cookie, extra, &form(&pairs));
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            answers.push((path.to_owned(), r));
        }
    }
    assert!(answers.iter().any(|(p, r)| p.ends_with("test-connection") && r.text().contains("every stage passed")));
    for (path, r) in &answers {
        assert!(!r.text().contains(secret), "{path} sends the stored bind password");
        assert!(r.headers.iter().all(|(_, v)| !v.contains(secret)), "{path} sends it in a header");
    }

    // A changed bind DN without the password typed again: refused at the password field, file unchanged.
    let rev = hidden(&answers[1].1.text(), "rev");
    let r =
        save(&serve, &cookie, &[("csrf", &csrf), ("rev", &rev), ("k.bind_dn", "cn=someone-else,dc=example,dc=org")]);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("DC-834") && r.text().contains("f-bind_password-error"), "{}", r.text());
    assert!(!r.text().contains(secret), "a refused save sends the stored bind password");
    assert_eq!(std::fs::read_to_string(serve.config_path()).unwrap(), before);

    // Values from the file and the directory are escaped.
    let r = save(&serve, &cookie, &[("csrf", &csrf), ("rev", &rev), ("k.display_name", "<b>bold</b>")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains(secret), "a save sends the stored bind password");
    let list = Http::new(serve.api_addr()).send("GET", "/ui/domains", &[("Cookie", &cookie)], None).unwrap().text();
    assert!(list.contains("&#60;b&#62;bold") && !list.contains("<b>bold"), "{list}");

    // A file without write permission: the pages are read-only, a save is refused, the file unchanged.
    use std::os::unix::fs::PermissionsExt as _;
    let saved = std::fs::read_to_string(serve.config_path()).unwrap();
    std::fs::set_permissions(serve.config_path(), std::fs::Permissions::from_mode(0o444)).unwrap();
    let page = Http::new(serve.api_addr())
        .send("GET", "/ui/domains/example.org", &[("Cookie", &cookie)], None)
        .unwrap()
        .text();
    assert!(
        page.contains("Read-only") && page.contains("id=\"save\" class=\"primary\" type=\"submit\" disabled"),
        "{page}"
    );
    let rev = hidden(&page, "rev");
    let r = save(&serve, &cookie, &[("csrf", &csrf), ("rev", &rev), ("k.display_name", "Refused")]);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("DC-835"), "{}", r.text());
    assert_eq!(std::fs::read_to_string(serve.config_path()).unwrap(), saved);
    std::fs::set_permissions(serve.config_path(), std::fs::Permissions::from_mode(0o644)).unwrap();

    // Sign-in is throttled after five failures (DC-831).
    let mut last = 0;
    for _ in 0..6 {
        last = post(&serve, "/ui/signin", "", &[], &form(&[("login", "nobody@example.org"), ("password", "guess")]))
            .status;
    }
    assert_eq!(last, 429);
}
