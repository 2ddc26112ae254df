//! Rules about directory names that the host and every connector must apply alike: how group DNs compare,
//! and which attributes hold secrets.

/// Attributes that hold a password or its hash: never shown, logged or handed to the host.
pub const SECRET_ATTRIBUTES: [&str; 8] = [
    "userPassword",
    "unicodePwd",
    "sambaNTPassword",
    "sambaLMPassword",
    "authPassword",
    "krbPrincipalKey",
    "ntPwdHistory",
    "lmPwdHistory",
];

/// Whether an attribute (by case-insensitive name) holds a password or its hash.
pub fn is_secret_attribute(name: &str) -> bool {
    SECRET_ATTRIBUTES.iter().any(|s| name.eq_ignore_ascii_case(s))
}

/// A DN in a form fit for comparison: lowercase, no spaces around `,` and `=`. Connectors return group DNs
/// as the server spells them; the host maps groups by this form.
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    for part in dn.split(',') {
        if !out.is_empty() {
            out.push(',');
        }
        match part.split_once('=') {
            Some((attr, value)) => {
                out.push_str(&attr.trim().to_lowercase());
                out.push('=');
                out.push_str(&value.trim().to_lowercase());
            }
            None => out.push_str(&part.trim().to_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(normalize_dn("CN=Staff, OU=Groups,dc=Example"), "cn=staff,ou=groups,dc=example");
    }

    #[test]
    fn secret_attributes_are_known_in_any_case() {
        assert!(is_secret_attribute("USERPASSWORD") && is_secret_attribute("unicodePwd"));
        assert!(!is_secret_attribute("mail"));
    }
}
