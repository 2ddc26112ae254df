//! Active Directory's group lookups: the primary group (primaryGroupID, which memberOf never lists) and
//! every group at once by the matching rule in chain, with what the domain teaches as it goes (the DN of
//! each primary group, whether the server refused the rule).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use ldap3::{Scope, SearchEntry};

use super::format as ad;
use crate::{
    Directory, Error,
    directory::{first_text, raw_values, search_error},
    escape,
    groups::{MATCHING_RULE_IN_CHAIN, poisoned},
};

/// Result codes of a server that does not know the matching rule in chain (protocolError for an unknown
/// extensible match, unavailableCriticalExtension, inappropriateMatching). A busy or unwilling server is not
/// taken for one that lacks the rule.
const RC_NO_CHAIN_RULE: [u32; 3] = [2, 12, 18];

/// What an AD domain teaches the engine as it goes.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// The server refused the matching rule in chain: walk groups instead.
    chain_unavailable: AtomicBool,
    /// Primary group SID → when read, and its DN (None: not under the group base).
    primary_groups: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

/// The SID of an AD user's primary group, from its objectSid and primaryGroupID: text and bytes.
pub(crate) fn primary_group_sid(entry: &SearchEntry) -> Option<(String, Vec<u8>)> {
    let user_sid = raw_values(entry, "objectSid").into_iter().next()?;
    let rid: u32 = first_text(entry, "primaryGroupID")?.trim().parse().ok()?;
    let bytes = ad::sid_with_rid(&user_sid, rid)?;
    Some((ad::sid_text(&bytes)?, bytes))
}

impl Memory {
    /// Every group a user is in, nested ones included, in one search with the matching rule in chain (the
    /// primary group's parents too). None when the server does not know the rule (remembered: later
    /// logins walk).
    pub(super) async fn chain_groups(
        &self,
        dir: &Directory,
        dn: &str,
        primary: Option<&str>,
    ) -> Result<Option<Vec<String>>, Error> {
        let s = dir.settings();
        if self.chain_unavailable.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let base = &s.group_base();
        let mut any = format!("(member:{MATCHING_RULE_IN_CHAIN}:={})", escape::filter_value(dn));
        if let Some(primary) = primary {
            any.push_str(&format!("(member:{MATCHING_RULE_IN_CHAIN}:={})", escape::filter_value(primary)));
        }
        let filter = format!("(&{}(|{any}))", s.group_object_filter);
        let (found, result) =
            dir.service_search(base, Scope::Subtree, &filter, &["1.1".to_owned()], 0, "group search").await?;
        match result.rc {
            0 | 32 => Ok(Some(found.into_iter().map(|g| g.dn).collect())),
            rc if RC_NO_CHAIN_RULE.contains(&rc) => {
                tracing::warn!(
                    diagnostic = %crate::error::describe_result(&result),
                    "the directory refused the matching rule in chain; groups are walked level by level from now on"
                );
                self.chain_unavailable.store(true, Ordering::Relaxed);
                Ok(None)
            }
            rc => Err(search_error(rc, &result, base, "search groups")),
        }
    }

    /// The DN of an AD user's primary group (primaryGroupID, which memberOf never lists), found by SID
    /// once per group and remembered.
    pub(super) async fn primary_group(&self, dir: &Directory, entry: &SearchEntry) -> Result<Option<String>, Error> {
        let Some((sid, bytes)) = primary_group_sid(entry) else { return Ok(None) };
        let ttl = dir.settings().group_cache_ttl;
        if let Some((at, known)) = self.primary_groups.lock().map_err(|_| poisoned())?.get(&sid)
            && at.elapsed() < ttl
        {
            return Ok(known.clone());
        }
        let base = dir.settings().group_base();
        let filter = format!("(objectSid={})", ad::filter_bytes(&bytes));
        let (found, result) =
            dir.service_search(base, Scope::Subtree, &filter, &["1.1".to_owned()], 2, "primary group search").await?;
        if !matches!(result.rc, 0 | 4 | 32) {
            return Err(search_error(result.rc, &result, base, "find the primary group"));
        }
        let dn = found.into_iter().next().map(|e| e.dn);
        if dn.is_none() {
            tracing::debug!(sid = %sid, base = %base, "the primary group is not under the group base");
        }
        self.primary_groups.lock().map_err(|_| poisoned())?.insert(sid, (Instant::now(), dn.clone()));
        Ok(dn)
    }
}
