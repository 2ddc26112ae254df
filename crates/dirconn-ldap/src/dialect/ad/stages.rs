//! Active Directory's stages of the connection test: the naming context from the rootDSE, whether the
//! service account can read the users' attributes, and the NT domain name on the server against the
//! configured one.

use std::time::Instant;

use dirconn_abi::dn_is_within;
use ldap3::{Ldap, Scope};

use crate::{
    Directory, Error, LdapUrl,
    conn::Query,
    diagnose::Stages,
    directory::{first_text, raw_values},
    error::describe_result,
};

/// Active Directory's stages: the naming context from the rootDSE, whether the service account can read
/// the users' attributes, and the NT domain name on the server against the configured one.
pub(super) async fn stages(dir: &Directory, st: &mut Stages, ldap: &mut Ldap, url: &LdapUrl) {
    let s = dir.settings();
    let started = Instant::now();
    let attrs = ["defaultNamingContext".to_owned(), "configurationNamingContext".to_owned()];
    let dse = dir.connector.search(ldap, url, &Query::root_dse(&attrs)).await.map(|(e, _)| e.into_iter().next());
    let get = |name: &str| dse.as_ref().ok().and_then(|e| e.as_ref()).and_then(|e| first_text(e, name));
    let (nc, config_nc) = (get("defaultNamingContext"), get("configurationNamingContext"));
    let outcome = match (&dse, &nc) {
        (Err(e), _) => Err(Error::Unexpected { what: "the rootDSE read".into(), diagnostic: e.to_string() }),
        (Ok(_), None) => Err(Error::Unexpected {
            what: "the rootDSE read".into(),
            diagnostic: "no defaultNamingContext: this does not look like an Active Directory domain controller".into(),
        }),
        (Ok(_), Some(nc)) if !dn_is_within(&s.search_base, nc) => {
            Err(Error::outside_naming_context(&s.search_base, nc))
        }
        (Ok(_), Some(nc)) => Ok(format!("{nc}; the search base is inside it")),
    };
    st.push("naming-context", &url.to_string(), started, outcome);

    let started = Instant::now();
    let wanted = ["sAMAccountName", "userAccountControl", "objectGUID"];
    let attrs: Vec<String> = wanted.iter().map(|a| (*a).to_owned()).collect();
    let filter = dir.filter_matching_any_user();
    let query = Query {
        base: &s.search_base,
        scope: dir.scope(),
        filter: &filter,
        attrs: &attrs,
        size_limit: 100,
        what: "user container read",
    };
    let outcome = dir.connector.search(ldap, url, &query).await.and_then(|(entries, res)| {
        if !matches!(res.rc, 0 | 4) {
            return Err(crate::directory::search_error(res.rc, &res, &s.search_base, "read the user container"));
        }
        let unreadable: Vec<&str> =
            wanted.iter().filter(|a| entries.iter().any(|e| raw_values(e, a).is_empty())).copied().collect();
        match (entries.len(), unreadable.is_empty()) {
            (0, _) => Err(Error::AccessDenied {
                what: "list the users in the search base".into(),
                diagnostic: describe_result(&res),
            }),
            (n, true) => Ok(format!(
                "{n}{} user(s) readable with sAMAccountName, userAccountControl and objectGUID",
                if res.rc == 4 { "+" } else { "" }
            )),
            (_, false) => Err(Error::AccessDenied {
                what: format!("read {} of the users", unreadable.join(", ")),
                diagnostic: "the entries came back without them: the service account lacks read rights".into(),
            }),
        }
    });
    st.push("user-container", &s.search_base, started, outcome);

    let started = Instant::now();
    let outcome = match (&nc, &config_nc) {
        (Some(nc), Some(config_nc)) => {
            let base = format!("CN=Partitions,{config_nc}");
            let filter = format!("(&(objectClass=crossRef)(nCName={}))", crate::escape::filter_value(nc));
            let attrs = ["nETBIOSName".to_owned()];
            let query = Query {
                base: &base,
                scope: Scope::OneLevel,
                filter: &filter,
                attrs: &attrs,
                size_limit: 1,
                what: "NT domain name read",
            };
            match dir.connector.search(ldap, url, &query).await {
                Err(err) => Err(err),
                Ok((entries, res)) => match entries.first().and_then(|e| first_text(e, "nETBIOSName")) {
                    None => Err(Error::AccessDenied {
                        what: "read the domain's NT name (nETBIOSName under CN=Partitions)".into(),
                        diagnostic: describe_result(&res),
                    }),
                    Some(name) if name.eq_ignore_ascii_case(&s.nt_domain) => {
                        Ok(format!("{name}, as configured: {name}\\user logins are accepted"))
                    }
                    Some(name) => Err(Error::nt_domain_differs(&name, &s.nt_domain)),
                },
            }
        }
        _ => Err(Error::Unexpected {
            what: "the NT domain name read".into(),
            diagnostic: "the rootDSE names no configuration naming context".into(),
        }),
    };
    st.push("nt-domain", &s.nt_domain, started, outcome);
}
