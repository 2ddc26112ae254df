//! Open Directory's stages of the connection test: the layout (`cn=users` and `cn=groups` readable under
//! the naming context), the schema (the server knows `apple-user`), and the realm entry. On a server that
//! is not Open Directory each fails with `DC-409`, saying what is missing and what to do.

use std::time::Instant;

use ldap3::{Ldap, Scope};

use super::{KDC_CONFIG_RDNS, not_od};
use crate::{Directory, LdapUrl, conn::Query, diagnose::Stages, directory::text_values, error::describe_result};

pub(super) async fn stages(dir: &Directory, st: &mut Stages, ldap: &mut Ldap, url: &LdapUrl) {
    let s = dir.settings();
    let context = s.naming_context();
    let none = ["1.1".to_owned()];
    let started = Instant::now();
    let mut missing = Vec::new();
    let mut last = String::new();
    for container in ["cn=users", "cn=groups"] {
        let base = format!("{container},{context}");
        let query = Query {
            base: &base,
            scope: Scope::Base,
            filter: "(objectClass=*)",
            attrs: &none,
            size_limit: 1,
            what: "container read",
        };
        match dir.connector.search(ldap, url, &query).await {
            Ok((found, _)) if !found.is_empty() => {}
            Ok((_, res)) => {
                last = describe_result(&res);
                missing.push(base);
            }
            Err(e) => {
                last = e.to_string();
                missing.push(base);
            }
        }
    }
    let outcome = if missing.is_empty() {
        Ok(format!("cn=users and cn=groups under {context} are readable"))
    } else {
        Err(not_od(format!("{} cannot be read", missing.join(" and ")), last))
    };
    st.push("od-layout", &context, started, outcome);

    let started = Instant::now();
    let attrs = ["subschemaSubentry".to_owned()];
    let subschema = match dir.connector.search(ldap, url, &Query::root_dse(&attrs)).await {
        Ok((found, _)) => found.first().and_then(|e| crate::directory::first_text(e, "subschemaSubentry")),
        Err(_) => None,
    }
    .unwrap_or_else(|| "cn=Subschema".to_owned());
    let classes = ["objectClasses".to_owned()];
    let query = Query {
        base: &subschema,
        scope: Scope::Base,
        filter: "(objectClass=subschema)",
        attrs: &classes,
        size_limit: 1,
        what: "schema read",
    };
    let outcome = match dir.connector.search(ldap, url, &query).await {
        Ok((found, res)) => {
            let known = found
                .first()
                .is_some_and(|e| text_values(e, "objectClasses").iter().any(|d| d.contains("'apple-user'")));
            if known {
                Ok("the schema defines apple-user and apple-group".to_owned())
            } else {
                Err(not_od("the schema has no apple-user object class".into(), describe_result(&res)))
            }
        }
        Err(e) => Err(e),
    };
    st.push("od-schema", &subschema, started, outcome);

    let started = Instant::now();
    let outcome = super::read_realm(dir).await.map(|realm| format!("the Kerberos realm is {realm}"));
    st.push("od-realm", &format!("{KDC_CONFIG_RDNS},{context}"), started, outcome);
}
