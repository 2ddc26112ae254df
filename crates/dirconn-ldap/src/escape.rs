//! Escaping values into LDAP filters (RFC 4515) and DNs (RFC 4514), and filling filter templates.
//!
//! Every value that comes from a user (a login, an email) goes through [`filter_value`] before it meets a
//! filter; a template's placeholders are the only place values enter.

use std::borrow::Cow;

/// Escapes a value for an LDAP filter (RFC 4515): `*`, `(`, `)`, `\`, NUL, and every other control
/// character, as `\xx`.
pub fn filter_value(value: &str) -> Cow<'_, str> {
    let escaped = ldap3::ldap_escape(value);
    if !escaped.chars().any(|c| c.is_control()) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes a value for one attribute value of a DN (RFC 4514).
pub fn dn_value(value: &str) -> Cow<'_, str> {
    ldap3::dn_escape(value)
}

/// The placeholders a filter template may hold.
pub const PLACEHOLDERS: [&str; 5] = ["{login}", "{user}", "{email}", "{domain}", "{dn}"];

/// Values to substitute into a filter template; each is escaped as it goes in.
#[derive(Debug, Default, Clone, Copy)]
pub struct TemplateValues<'a> {
    /// The login without the mail domain.
    pub login: &'a str,
    /// The login's account part (`alice` for `alice@example.org` or `EXAMPLE\alice`, when that suffix or
    /// NT domain is the domain's own); the login itself when empty.
    pub user: &'a str,
    /// The mail domain of the connector instance.
    pub domain: &'a str,
    /// The user's entry DN (group filters).
    pub dn: &'a str,
}

/// Fills `{login}`, `{user}`, `{email}` (`login@domain`, or the login itself when it is an address
/// already), `{domain}` and `{dn}` with escaped values.
pub fn fill(template: &str, values: TemplateValues<'_>) -> String {
    let email = if values.login.contains('@') {
        values.login.to_owned()
    } else {
        format!("{}@{}", values.login, values.domain)
    };
    let mut out = String::with_capacity(template.len() + values.login.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let (value, len) = if tail.starts_with("{login}") {
            (filter_value(values.login), 7)
        } else if tail.starts_with("{user}") {
            (filter_value(if values.user.is_empty() { values.login } else { values.user }), 6)
        } else if tail.starts_with("{email}") {
            (filter_value(&email), 7)
        } else if tail.starts_with("{domain}") {
            (filter_value(values.domain), 8)
        } else if tail.starts_with("{dn}") {
            (filter_value(values.dn), 4)
        } else {
            (Cow::Borrowed("{"), 1)
        };
        out.push_str(&value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Checks a filter template: balanced parentheses, wrapped in them, and parseable once filled.
pub fn check_template(template: &str) -> Result<(), String> {
    let t = template.trim();
    if !(t.starts_with('(') && t.ends_with(')')) {
        return Err("a filter must be wrapped in parentheses, like (uid={login})".into());
    }
    let mut depth = 0i32;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("it closes a parenthesis it never opened".into());
        }
    }
    if depth != 0 {
        return Err("its parentheses are not balanced".into());
    }
    let sample = fill(
        t,
        TemplateValues { login: "jdoe", user: "jdoe", domain: "example.org", dn: "uid=jdoe,dc=example,dc=org" },
    );
    ldap3::parse_filter(&sample).map_err(|_| format!("the server would not understand it (filled: {sample})"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_escaping_covers_rfc4515_and_controls() {
        assert_eq!(filter_value("alice"), "alice");
        assert_eq!(filter_value("*"), "\\2a");
        assert_eq!(filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(filter_value("a\\b"), "a\\5cb");
        assert_eq!(filter_value("a\0b"), "a\\00b");
        assert_eq!(filter_value("a\nb\u{7f}"), "a\\0ab\\7f");
        assert_eq!(filter_value("Ölaf"), "Ölaf");
    }

    #[test]
    fn dn_escaping_covers_rfc4514() {
        assert_eq!(dn_value("Smith, John"), "Smith\\2c John");
        assert_eq!(dn_value(" lead"), "\\20lead");
        assert_eq!(dn_value("#hash"), "\\23hash");
    }

    #[test]
    fn templates_fill_every_placeholder_escaped() {
        let v = TemplateValues { login: "a*b", user: "", domain: "example.org", dn: "cn=x\\,y" };
        assert_eq!(fill("(uid={login})", v), "(uid=a\\2ab)");
        assert_eq!(fill("(sAMAccountName={user})", v), "(sAMAccountName=a\\2ab)");
        let w = TemplateValues { login: "a@example.org", user: "a(", ..v };
        assert_eq!(
            fill("(|(sAMAccountName={user})(userPrincipalName={login}))", w),
            "(|(sAMAccountName=a\\28)(userPrincipalName=a@example.org))"
        );
        assert_eq!(fill("(mail={email})", v), "(mail=a\\2ab@example.org)");
        // A login that is an address already is its own {email}, never `a@example.org@example.org`.
        assert_eq!(fill("(mail={email})", w), "(mail=a@example.org)");
        assert_eq!(fill("(member={dn})", v), "(member=cn=x\\5c,y)");
        assert_eq!(fill("(x={unknown})", v), "(x={unknown})");
    }

    #[test]
    fn hostile_logins_never_change_the_filter_structure() {
        for login in ["*", "*)(uid=*", "admin)(|(objectClass=*", "\\", "x)(&", "((((", "\0", "a)(!(b"] {
            let filled = fill("(&(objectClass=person)(uid={login}))", TemplateValues { login, ..Default::default() });
            let parsed = ldap3::parse_filter(&filled);
            assert!(parsed.is_ok(), "{login:?} broke the filter: {filled}");
            assert_eq!(filled.matches('(').count(), 3, "{login:?}: {filled}");
        }
    }

    #[test]
    fn templates_are_checked() {
        assert!(check_template("(&(objectClass=inetOrgPerson)(uid={login}))").is_ok());
        assert!(check_template("uid={login}").is_err());
        assert!(check_template("(&(uid={login})").is_err());
        assert!(check_template("(uid={login}))(").is_err());
    }
}
