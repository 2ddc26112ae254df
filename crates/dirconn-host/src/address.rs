//! Mail addresses as the account store keeps them: read from directory values (`mail`, Active Directory's
//! `proxyAddresses` with their `smtp:` type), normalized to lowercase, and written back for Postfix with the
//! local part quoted when RFC 5321 requires it.

/// What one directory value says about an address.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A mail address, normalized (trimmed, lowercase); `primary` for an `SMTP:` value in capitals.
    Address { address: String, primary: bool },
    /// A typed value of another kind (`X500:…`, `SIP:…`): not a mail address, left out silently.
    OtherType,
    /// Not a mail address: left out with a note.
    Invalid,
}

/// Reads one value of an address attribute: `user@domain`, or `type:user@domain` where only the type
/// `smtp` (any case; `SMTP:` marks Active Directory's primary) is a mail address.
pub fn parse(value: &str) -> Parsed {
    let value = value.trim();
    let (typed, address) = match value.split_once(':') {
        // A colon before the `@` is a type prefix: `smtp:`, `X500:`, `sip:`.
        Some((kind, rest)) if !kind.contains('@') && !kind.contains('"') => (Some(kind), rest),
        _ => (None, value),
    };
    let primary = match typed {
        None => false,
        Some("SMTP") => true,
        Some(kind) if kind.eq_ignore_ascii_case("smtp") => false,
        Some(_) => return Parsed::OtherType,
    };
    match normalize(address) {
        Some(address) => Parsed::Address { address, primary },
        None => Parsed::Invalid,
    }
}

/// An address in the store's form: trimmed and lowercase, with one non-empty local part and a domain of
/// labels; `None` when it is not an address (spaces, control characters, no `@`, `@domain`).
pub fn normalize(address: &str) -> Option<String> {
    let address = address.trim();
    let (local, domain) = address.rsplit_once('@')?;
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| !label.is_empty())
        && !domain.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '@' | '"' | '\\' | ',' | ';' | ':' | '<' | '>' | '(' | ')' | '[' | ']')
        });
    let local_ok = !local.is_empty() && local.len() <= 64 && !local.chars().any(char::is_control);
    // A space in a local part needs quotes, which directories do not hold; `a b@c` is a typing mistake.
    let quoted = local.starts_with('"') && local.ends_with('"') && local.len() >= 2;
    (domain_ok && local_ok && (quoted || !local.contains(char::is_whitespace))).then(|| address.to_lowercase())
}

/// The mailbox `login@domain` as Postfix reads an address: the local part quoted (RFC 5321 quoted-string)
/// unless it is a dot-atom, so that a login with a space or a comma stays one address.
pub fn mailbox(login: &str, domain: &str) -> String {
    if is_dot_atom(login) {
        return format!("{login}@{domain}");
    }
    let mut out = String::with_capacity(login.len() + domain.len() + 4);
    out.push('"');
    for c in login.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"@");
    out.push_str(domain);
    out
}

/// RFC 5321 dot-atom (with RFC 6531's UTF-8 atext).
fn is_dot_atom(local: &str) -> bool {
    let atext = |c: char| c.is_alphanumeric() || !c.is_ascii() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !local.is_empty() && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str, primary: bool) -> Parsed {
        Parsed::Address { address: text.into(), primary }
    }

    #[test]
    fn proxy_addresses_and_plain_values_parse() {
        assert_eq!(parse("Alice.Smith@Example.ORG"), address("alice.smith@example.org", false));
        assert_eq!(parse("SMTP:Alice@Example.org"), address("alice@example.org", true));
        assert_eq!(parse("smtp:old@legacy.example.com"), address("old@legacy.example.com", false));
        assert_eq!(parse("Smtp:x@example.org"), address("x@example.org", false));
        assert_eq!(parse("X500:/o=Org/ou=Exchange/cn=Recipients/cn=alice"), Parsed::OtherType);
        assert_eq!(parse("sip:alice@example.org"), Parsed::OtherType);
        assert_eq!(parse("jürgen@EXAMPLE.org"), address("jürgen@example.org", false));
        for bad in
            ["", "alice", "@example.org", "alice@", "a b@example.org", "alice@exa mple.org", "a@b..c", "smtp:", "a@b:c"]
        {
            assert_eq!(parse(bad), Parsed::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn mailboxes_quote_what_is_not_a_dot_atom() {
        assert_eq!(mailbox("alice", "example.org"), "alice@example.org");
        assert_eq!(mailbox("a.b+c", "example.org"), "a.b+c@example.org");
        assert_eq!(mailbox("jürgen", "example.org"), "jürgen@example.org");
        assert_eq!(mailbox("john smith", "example.org"), "\"john smith\"@example.org");
        assert_eq!(mailbox("a,b", "example.org"), "\"a,b\"@example.org");
        assert_eq!(mailbox("q\"x", "example.org"), "\"q\\\"x\"@example.org");
        assert_eq!(mailbox(".a", "example.org"), "\".a\"@example.org");
    }
}
