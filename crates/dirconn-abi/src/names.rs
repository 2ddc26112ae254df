//! Rules about directory names that the host and every connector must apply alike: which attributes hold
//! secrets (how DNs compare is `dn.rs`).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_attributes_are_known_in_any_case() {
        assert!(is_secret_attribute("USERPASSWORD") && is_secret_attribute("unicodePwd"));
        assert!(!is_secret_attribute("mail"));
    }
}
