//! Group membership: a user's direct groups (memberOf, member / uniqueMember DNs, posixGroup memberUid) and
//! the groups above them, followed transitively with a depth limit and a cycle guard.
//!
//! Logins resolve groups online, one search per nesting level; a sync loads every group once into a
//! [`GroupIndex`] and resolves each user in memory.

use std::collections::{HashMap, HashSet};

use dirconn_abi::normalize_dn;
use ldap3::{Scope, SearchEntry};

use crate::{
    Directory, Error, GroupMembership,
    directory::{first_text, search_error, text_values},
    escape,
};

/// The attributes of a group that name its members.
const MEMBER_ATTRIBUTES: [&str; 2] = ["member", "uniqueMember"];
/// The posixGroup attribute naming members by login.
const MEMBER_UID: &str = "memberUid";
/// Groups named in one parent search.
const PARENT_CHUNK: usize = 32;

/// Every group of the directory with its members, for resolving many users without a search each.
#[derive(Debug, Default)]
pub struct GroupIndex {
    dns: Vec<String>,
    by_dn: HashMap<String, u32>,
    by_member: HashMap<String, Vec<u32>>,
    by_uid: HashMap<String, Vec<u32>>,
    depth: u32,
}

impl GroupIndex {
    /// An empty index that follows nesting `depth` levels up.
    pub fn new(depth: u32) -> GroupIndex {
        GroupIndex { depth, ..GroupIndex::default() }
    }

    /// The attributes read from group entries.
    pub fn attributes() -> Vec<String> {
        MEMBER_ATTRIBUTES.iter().chain([&MEMBER_UID]).map(|a| (*a).to_owned()).collect()
    }

    /// Adds one group entry.
    pub fn add(&mut self, entry: &SearchEntry) {
        let Ok(idx) = u32::try_from(self.dns.len()) else { return };
        self.by_dn.insert(normalize_dn(&entry.dn), idx);
        self.dns.push(entry.dn.clone());
        for attr in MEMBER_ATTRIBUTES {
            for member in text_values(entry, attr) {
                self.by_member.entry(normalize_dn(&member)).or_default().push(idx);
            }
        }
        for uid in text_values(entry, MEMBER_UID) {
            self.by_uid.entry(uid.to_lowercase()).or_default().push(idx);
        }
    }

    /// How many groups it holds.
    pub fn len(&self) -> usize {
        self.dns.len()
    }

    /// Whether it holds no group.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty()
    }

    /// The groups of a user, direct ones first, then parents level by level; DNs as the directory spells them.
    pub fn groups_of(&self, dn: &str, login: &str, member_of: &[String]) -> Vec<String> {
        if self.dns.is_empty() && member_of.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut frontier = Vec::new();
        for value in member_of {
            let norm = normalize_dn(value);
            if seen.insert(norm.clone()) {
                out.push(value.clone());
                if let Some(&i) = self.by_dn.get(&norm) {
                    frontier.push(i);
                }
            }
        }
        let direct = self
            .by_member
            .get(&normalize_dn(dn))
            .into_iter()
            .chain(self.by_uid.get(&login.to_lowercase()))
            .flatten()
            .copied();
        for i in direct {
            if seen.insert(normalize_dn(&self.dns[i as usize])) {
                out.push(self.dns[i as usize].clone());
                frontier.push(i);
            }
        }
        for _ in 0..self.depth {
            let mut next = Vec::new();
            for i in frontier {
                for &p in self.by_member.get(&normalize_dn(&self.dns[i as usize])).into_iter().flatten() {
                    if seen.insert(normalize_dn(&self.dns[p as usize])) {
                        out.push(self.dns[p as usize].clone());
                        next.push(p);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out
    }
}

impl Directory {
    /// The groups of one user, resolved online: memberOf values, groups naming the user as a member, and
    /// their parents up to the configured depth, each group once (a cycle ends there).
    pub async fn groups_online(&self, entry: &SearchEntry) -> Result<Vec<String>, Error> {
        let s = self.settings();
        let base = s.group_base();
        let login = first_text(entry, &s.login_attribute).unwrap_or_default();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut frontier = Vec::new();
        for value in text_values(entry, &s.member_of_attribute) {
            if seen.insert(normalize_dn(&value)) {
                frontier.push(value.clone());
                out.push(value);
            }
        }
        if s.group_membership == GroupMembership::MemberOf {
            return Ok(out);
        }
        let direct_filter = match &s.group_filter {
            Some(template) => {
                escape::fill(template, escape::TemplateValues { login: &login, domain: &s.domain, dn: &entry.dn })
            }
            None => {
                let dn = escape::filter_value(&entry.dn);
                let mut any = format!("(member={dn})(uniqueMember={dn})");
                if !login.is_empty() {
                    any.push_str(&format!("(memberUid={})", escape::filter_value(&login)));
                }
                format!("(&{}(|{any}))", s.group_object_filter)
            }
        };
        for dn in self.group_search(&base, &direct_filter).await? {
            if seen.insert(normalize_dn(&dn)) {
                frontier.push(dn.clone());
                out.push(dn);
            }
        }
        for level in 0..s.nested_group_depth {
            let mut next = Vec::new();
            for chunk in frontier.chunks(PARENT_CHUNK) {
                let any: String = chunk
                    .iter()
                    .map(|g| {
                        let g = escape::filter_value(g);
                        format!("(member={g})(uniqueMember={g})")
                    })
                    .collect();
                for dn in self.group_search(&base, &format!("(&{}(|{any}))", s.group_object_filter)).await? {
                    if seen.insert(normalize_dn(&dn)) {
                        next.push(dn.clone());
                        out.push(dn);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            if level + 1 == s.nested_group_depth {
                tracing::debug!(dn = %entry.dn, depth = s.nested_group_depth, "nested groups cut at the depth limit");
            }
            frontier = next;
        }
        Ok(out)
    }

    async fn group_search(&self, base: &str, filter: &str) -> Result<Vec<String>, Error> {
        let (found, result) =
            self.service_search(base, Scope::Subtree, filter, &["1.1".to_owned()], 0, "group search").await?;
        if !matches!(result.rc, 0 | 32) {
            return Err(search_error(result.rc, &result, base, "search groups"));
        }
        Ok(found.into_iter().map(|g| g.dn).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(dn: &str, members: &[&str], uids: &[&str]) -> SearchEntry {
        let mut attrs = HashMap::new();
        attrs.insert("member".to_owned(), members.iter().map(|m| m.to_string()).collect());
        attrs.insert("memberUid".to_owned(), uids.iter().map(|m| m.to_string()).collect());
        SearchEntry { dn: dn.to_owned(), attrs, bin_attrs: HashMap::new() }
    }

    #[test]
    fn nesting_is_followed_and_cycles_end() {
        let mut index = GroupIndex { depth: 10, ..GroupIndex::default() };
        index.add(&group("cn=a,dc=x", &["uid=u,dc=x", "cn=c,dc=x"], &[]));
        index.add(&group("cn=b,dc=x", &["CN=A, DC=X"], &[]));
        index.add(&group("cn=c,dc=x", &["cn=b,dc=x"], &[]));
        index.add(&group("cn=p,dc=x", &[], &["u"]));
        let groups = index.groups_of("uid=u,dc=x", "u", &[]);
        assert_eq!(groups, ["cn=a,dc=x", "cn=p,dc=x", "cn=b,dc=x", "cn=c,dc=x"]);
    }

    #[test]
    fn depth_limits_the_walk() {
        let mut index = GroupIndex { depth: 1, ..GroupIndex::default() };
        index.add(&group("cn=l0,dc=x", &["uid=u,dc=x"], &[]));
        index.add(&group("cn=l1,dc=x", &["cn=l0,dc=x"], &[]));
        index.add(&group("cn=l2,dc=x", &["cn=l1,dc=x"], &[]));
        assert_eq!(index.groups_of("uid=u,dc=x", "u", &[]), ["cn=l0,dc=x", "cn=l1,dc=x"]);
    }
}
