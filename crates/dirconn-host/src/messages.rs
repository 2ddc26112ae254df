//! What end users are told when a login fails: the documented message policy.
//!
//! Administrators see every outcome with its code (logs, `test-auth`, the JSON of `login`). End users see
//! one of a few sentences. By default an account's state (locked, disabled, expired, restricted) is not
//! told apart from a wrong password: the person typing has not proven the password, and the difference
//! would tell an attacker which accounts exist and which are worth trying. An expired password, or one that
//! must be changed, is told: directories answer so only to the right password (Active Directory's 532 and
//! 773, the password policy control's answers), and the user can act on it. `reveal_account_state = true`
//! in `[domain.accounts]` tells the state too.

use dirconn_abi::ErrorKind;

/// Wrong password, unknown user, and (by default) every account state.
pub const INVALID: &str = "Invalid login or password.";
/// The directory, the network or the configuration failed.
pub const UNAVAILABLE: &str = "The login service is unavailable right now. Please try again later.";

/// The sentence an end user sees for a failed login of `kind`.
pub fn end_user_message(kind: ErrorKind, reveal_account_state: bool) -> &'static str {
    match kind {
        ErrorKind::PasswordExpired => "Your password has expired. Change it, then log in with the new password.",
        ErrorKind::MustChangePassword => {
            "Your password must be changed before you can log in. Change it, then log in with the new password."
        }
        ErrorKind::AccountLocked if reveal_account_state => {
            "Your account is locked after too many failed logins. Wait, or ask your administrator to unlock it."
        }
        ErrorKind::AccountDisabled if reveal_account_state => "Your account is disabled. Ask your administrator.",
        ErrorKind::AccountExpired if reveal_account_state => "Your account has expired. Ask your administrator.",
        ErrorKind::LogonRestricted if reveal_account_state => {
            "Your account may not log in at this time or from here. Ask your administrator."
        }
        k if k.is_denial() => INVALID,
        _ => UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_state_is_hidden_unless_revealed() {
        for kind in [
            ErrorKind::InvalidCredentials,
            ErrorKind::NotFound,
            ErrorKind::AccountLocked,
            ErrorKind::AccountDisabled,
            ErrorKind::AccountExpired,
            ErrorKind::LogonRestricted,
        ] {
            assert_eq!(end_user_message(kind, false), INVALID, "{kind}");
        }
        assert!(end_user_message(ErrorKind::AccountLocked, true).contains("locked"));
        assert!(end_user_message(ErrorKind::AccountDisabled, true).contains("disabled"));
        assert!(end_user_message(ErrorKind::PasswordExpired, false).contains("expired"));
        assert!(end_user_message(ErrorKind::MustChangePassword, false).contains("changed"));
        assert_eq!(end_user_message(ErrorKind::Unreachable, false), UNAVAILABLE);
        assert_eq!(end_user_message(ErrorKind::InvalidCredentials, true), INVALID);
    }
}
