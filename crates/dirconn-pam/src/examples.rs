//! One example of every failure of the PAM check, fields named in braces, for the generated
//! troubleshooting page.

use std::time::Duration;

use crate::Error;

fn field(name: &str) -> String {
    format!("{{{name}}}")
}

/// Every failure, once.
pub fn examples() -> Vec<Error> {
    let (service, user, diagnostic) = (field("service"), field("user"), field("diagnostic"));
    vec![
        Error::WrongPassword { service: service.clone(), user: user.clone(), diagnostic: diagnostic.clone() },
        Error::UserUnknown { service: service.clone(), user: user.clone(), diagnostic: diagnostic.clone() },
        Error::MaxTries { service: service.clone(), user: user.clone(), diagnostic: diagnostic.clone() },
        Error::AccountExpired { service: service.clone(), user: user.clone(), diagnostic: diagnostic.clone() },
        Error::NewPasswordRequired { service: service.clone(), user: user.clone(), diagnostic: diagnostic.clone() },
        Error::PermissionDenied { service: service.clone(), user, diagnostic: diagnostic.clone() },
        Error::Unavailable { service: service.clone(), diagnostic: diagnostic.clone() },
        Error::ServiceMissing { path: field("path") },
        Error::Busy { service: service.clone(), what: field("what"), after: Duration::from_secs(30) },
        Error::Other {
            service: service.clone(),
            stage: "authenticate",
            code: 4,
            name: "PAM_SYSTEM_ERR",
            diagnostic: diagnostic.clone(),
        },
        Error::MorePrompts { service: service.clone(), prompt: field("prompt") },
        Error::Stack { service, diagnostic },
        Error::BadInput { what: "password" },
        Error::EmptyPassword,
    ]
}
