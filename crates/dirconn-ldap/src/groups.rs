//! Group membership: a user's direct groups (memberOf, and the groups naming the user the ways the
//! dialect's [`MemberLinks`] say: by DN, by login, by key) and the groups above them, followed
//! transitively with a depth limit and a cycle guard.
//!
//! Logins resolve groups online, one search per nesting level (the dialect may add a primary group, or
//! answer every group in one search: AD's matching rule in chain); a sync loads every group once into a
//! [`GroupIndex`] and resolves each user in memory. Ranged member lists (`member;range=0-1499`) are read
//! range by range.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    sync::Arc,
};

use dirconn_abi::{dn_is_within, normalize_dn};
use ldap3::{Scope, SearchEntry};

use crate::{
    Directory, Error, GroupMembership, LdapSettings, ad,
    conn::Query,
    dialect::MemberLinks,
    directory::{entry_id, first_text, raw_values, search_error, text_values},
    escape,
};

/// The OID of AD's LDAP_MATCHING_RULE_IN_CHAIN (transitive membership).
pub const MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// Groups named in one parent search.
const PARENT_CHUNK: usize = 32;

/// A group's parents: each normalized DN with the DN as the directory spells it.
pub(crate) type Parents = Vec<(String, String)>;

/// Normalized group DN → when read, and its parent groups (memberOf), for `nested-member-of`.
pub(crate) type ParentCache = std::sync::Mutex<HashMap<String, (std::time::Instant, Arc<Parents>)>>;

/// Every group of the directory with its members, for resolving many users without a search each.
///
/// Two shapes, one per way of finding groups: member lists (`search`: groups naming the user by DN, login
/// or key, and groups naming those) or the member-of graph (`nested-member-of`: the user's memberOf values,
/// then each group's own memberOf), so that a sync finds what a login finds.
#[derive(Debug)]
pub struct GroupIndex {
    dns: Vec<String>,
    /// Each group's normalized DN (the key of `by_dn`).
    norms: Vec<String>,
    /// Each group's DN as the listing spelled it: the same server spells it so in memberOf values, which
    /// are then known without normalizing them again (a sync resolves every user's).
    spelled: HashMap<String, u32>,
    /// Each group's own key (its id attribute), where groups name members by key.
    keys: Vec<Option<String>>,
    by_dn: HashMap<String, u32>,
    by_member: HashMap<String, Vec<u32>>,
    by_uid: HashMap<String, Vec<u32>>,
    /// Member keys (case-exact) → the groups naming them.
    by_key: HashMap<String, Vec<u32>>,
    /// Group keys → the group.
    by_own_key: HashMap<String, u32>,
    by_sid: HashMap<String, u32>,
    links: MemberLinks,
    /// The attribute holding a group's key (the domain's id attribute), when links go by key.
    key_attribute: Option<String>,
    /// Nested-group keys → the groups naming them as children.
    nested: HashMap<String, Vec<u32>>,
    /// The member-of graph: a group's normalized DN → its parents' DNs, when `graph`.
    parents: HashMap<String, Vec<String>>,
    member_of: Option<String>,
    depth: u32,
}

impl GroupIndex {
    /// An empty index of member lists (`links`) that follows nesting `depth` levels up.
    pub fn new(depth: u32, links: MemberLinks) -> GroupIndex {
        GroupIndex {
            dns: Vec::new(),
            norms: Vec::new(),
            spelled: HashMap::new(),
            keys: Vec::new(),
            by_dn: HashMap::new(),
            by_member: HashMap::new(),
            by_uid: HashMap::new(),
            by_key: HashMap::new(),
            by_own_key: HashMap::new(),
            by_sid: HashMap::new(),
            nested: HashMap::new(),
            links,
            key_attribute: None,
            parents: HashMap::new(),
            member_of: None,
            depth,
        }
    }

    /// An empty index of a domain's groups, shaped by its `group_membership` and its dialect's links.
    pub fn for_settings(s: &LdapSettings) -> GroupIndex {
        let links = s.dialect.member_links();
        let mut index = GroupIndex::new(s.nested_group_depth, links);
        index.member_of =
            (s.group_membership == GroupMembership::NestedMemberOf).then(|| s.member_of_attribute.clone());
        index.key_attribute =
            (!links.by_key.is_empty() || links.nested_by_key.is_some()).then(|| s.id_attribute.clone());
        index
    }

    /// Makes the index read each group's key from `attribute` (links by key).
    pub fn set_key_attribute(&mut self, attribute: &str) {
        self.key_attribute = Some(attribute.to_owned());
    }

    /// The attributes read from group entries: member lists (as the dialect asks for them: AD by range),
    /// or the groups' own memberOf for the member-of graph; the group's key where links go by key, and the
    /// dialect's extras (AD: the SID, for primary groups).
    pub fn attributes(&self, s: &LdapSettings) -> Vec<String> {
        let mut attrs: Vec<String> = match &self.member_of {
            Some(member_of) => vec![member_of.clone()],
            None => s.dialect.group_list_attributes(s),
        };
        attrs.extend(self.key_attribute.iter().cloned());
        attrs.extend(s.dialect.group_extra_attributes().iter().map(|a| (*a).to_owned()));
        attrs
    }

    /// The nested-group keys that name no group of the index (another directory's groups, or deleted
    /// ones), as `(group DN, key)`: noted by a sync, not fatal.
    pub fn dangling(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .nested
            .iter()
            .filter(|(key, _)| !self.by_own_key.contains_key(*key))
            .flat_map(|(key, groups)| groups.iter().map(move |&g| (self.dns[g as usize].clone(), key.clone())))
            .collect();
        out.sort();
        out
    }

    /// Adds one group entry (its ranged attributes completed).
    pub fn add(&mut self, entry: &SearchEntry) {
        let Ok(idx) = u32::try_from(self.dns.len()) else { return };
        let key = normalize_dn(&entry.dn);
        self.by_dn.insert(key.clone(), idx);
        self.norms.push(key.clone());
        self.spelled.insert(entry.dn.clone(), idx);
        if let Some(sid) = raw_values(entry, "objectSid").first().and_then(|b| ad::sid_text(b)) {
            self.by_sid.insert(sid, idx);
        }
        self.dns.push(entry.dn.clone());
        let own_key = self.key_attribute.as_deref().and_then(|a| first_text(entry, a));
        if let Some(k) = &own_key {
            self.by_own_key.insert(k.clone(), idx);
        }
        self.keys.push(own_key);
        if let Some(member_of) = &self.member_of {
            self.parents.insert(key, text_values(entry, member_of));
            return;
        }
        for attr in self.links.by_dn {
            for member in text_values(entry, attr) {
                self.by_member.entry(normalize_dn(&member)).or_default().push(idx);
            }
        }
        for attr in self.links.by_login {
            for uid in text_values(entry, attr) {
                self.by_uid.entry(uid.to_lowercase()).or_default().push(idx);
            }
        }
        for attr in self.links.by_key {
            for member in text_values(entry, attr) {
                self.by_key.entry(member).or_default().push(idx);
            }
        }
        if let Some(attr) = self.links.nested_by_key {
            for child in text_values(entry, attr) {
                self.nested.entry(child).or_default().push(idx);
            }
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

    /// The groups of a user (its DN, login and key), direct ones first (then the primary group, by its
    /// SID), then parents level by level; DNs as the directory spells them.
    pub fn groups_of<'a>(
        &'a self,
        user: (&str, &str, &str),
        member_of: &'a [String],
        primary_sid: Option<&str>,
    ) -> Vec<String> {
        let (dn, login, user_key) = user;
        if self.dns.is_empty() && member_of.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen: HashSet<Cow<'a, str>> = HashSet::new();
        let mut frontier = Vec::new();
        let primary = primary_sid.and_then(|sid| self.by_sid.get(sid)).map(|&i| self.dns[i as usize].as_str());
        for value in member_of.iter().map(String::as_str).chain(primary) {
            let norm = self.normalized(value);
            let known = self.by_dn.get(norm.as_ref()).copied();
            if seen.insert(norm) {
                out.push(value.to_owned());
                frontier.extend(known);
            }
        }
        if self.member_of.is_some() {
            self.walk_graph(frontier.into_iter().map(|i| self.dns[i as usize].as_str()).collect(), &mut seen, &mut out);
            return out;
        }
        let direct = self
            .by_member
            .get(&normalize_dn(dn))
            .into_iter()
            .chain(self.by_uid.get(&login.to_lowercase()))
            .chain((!user_key.is_empty()).then(|| self.by_key.get(user_key)).flatten())
            .flatten()
            .copied();
        for i in direct {
            if seen.insert(Cow::Borrowed(&self.norms[i as usize])) {
                out.push(self.dns[i as usize].clone());
                frontier.push(i);
            }
        }
        for _ in 0..self.depth {
            let mut next = Vec::new();
            for i in frontier {
                let by_dn = self.by_member.get(&self.norms[i as usize]);
                let by_key = self.keys[i as usize].as_ref().and_then(|k| self.nested.get(k));
                for &p in by_dn.into_iter().chain(by_key).flatten() {
                    if seen.insert(Cow::Borrowed(&self.norms[p as usize])) {
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

impl GroupIndex {
    /// A DN's normalized form: a group's own when the DN is spelled as the listing spelled it, else
    /// computed.
    fn normalized<'a>(&'a self, dn: &'a str) -> Cow<'a, str> {
        match self.spelled.get(dn) {
            Some(&i) => Cow::Borrowed(&self.norms[i as usize]),
            None => Cow::Owned(normalize_dn(dn)),
        }
    }

    /// The member-of graph's walk, as a login's [`Directory::walk_up`] does it: each group's parents from
    /// its memberOf, level by level up to the depth limit, each group once.
    fn walk_graph<'a>(&'a self, mut frontier: Vec<&'a str>, seen: &mut HashSet<Cow<'a, str>>, out: &mut Vec<String>) {
        for _ in 0..self.depth {
            let mut next = Vec::new();
            for g in frontier {
                for parent in self.parents.get(self.normalized(g).as_ref()).into_iter().flatten() {
                    if seen.insert(self.normalized(parent)) {
                        next.push(parent.as_str());
                        out.push(parent.clone());
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    }
}

impl Directory {
    /// The groups of one user, resolved online: memberOf values, groups naming the user as a member, and
    /// their parents up to the configured depth, each group once (a cycle ends there). Active Directory:
    /// the primary group, then every group by the matching rule in chain, falling back to the walk where
    /// the rule is missing.
    pub async fn groups_online(&self, entry: &SearchEntry) -> Result<Vec<String>, Error> {
        let s = self.settings();
        let login = first_text(entry, &s.login_attribute).unwrap_or_default();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut frontier = Vec::new();
        let mut direct = text_values(entry, &s.member_of_attribute);
        // AD keeps the primary group out of memberOf and member: it is added here, as a sync's index does.
        let primary = match s.group_membership {
            GroupMembership::MemberOf => None,
            _ => s.dialect.primary_group(self, entry).await?,
        };
        direct.extend(primary.iter().cloned());
        for value in direct {
            if seen.insert(normalize_dn(&value)) {
                frontier.push(value.clone());
                out.push(value);
            }
        }
        match s.group_membership {
            GroupMembership::MemberOf => return Ok(out),
            GroupMembership::NestedMemberOf => {
                self.walk_up(frontier, &mut seen, &mut out).await?;
                return Ok(out);
            }
            GroupMembership::Chain => {
                if let Some(found) = s.dialect.chain_groups(self, &entry.dn, primary.as_deref()).await? {
                    for dn in found {
                        if seen.insert(normalize_dn(&dn)) {
                            out.push(dn);
                        }
                    }
                    return Ok(out);
                }
            }
            GroupMembership::Search => {}
        }
        let links = s.dialect.member_links();
        let base = s.group_base();
        let direct_filter = match &s.group_filter {
            Some(template) => escape::fill(
                template,
                escape::TemplateValues { login: &login, user: &login, domain: &s.domain, dn: &entry.dn },
            ),
            None => {
                let dn = escape::filter_value(&entry.dn);
                let mut any: String = links.by_dn.iter().map(|a| format!("({a}={dn})")).collect();
                if !login.is_empty() {
                    let login = escape::filter_value(&login);
                    any.extend(links.by_login.iter().map(|a| format!("({a}={login})")));
                }
                if let Some(key) = entry_id(entry, &s.id_attribute) {
                    let key = escape::filter_value(&key);
                    any.extend(links.by_key.iter().map(|a| format!("({a}={key})")));
                }
                format!("(&{}(|{any}))", s.group_object_filter)
            }
        };
        // Each group with its key, where parents name their children by key.
        let mut frontier: Vec<(String, Option<String>)> = frontier.into_iter().map(|g| (g, None)).collect();
        for (dn, key) in self.group_search(base, &direct_filter).await? {
            if seen.insert(normalize_dn(&dn)) {
                frontier.push((dn.clone(), key));
                out.push(dn);
            }
        }
        for level in 0..s.nested_group_depth {
            let mut next = Vec::new();
            for chunk in frontier.chunks(PARENT_CHUNK) {
                let mut any = String::new();
                for (g, key) in chunk {
                    let g = escape::filter_value(g);
                    any.extend(links.by_dn.iter().map(|a| format!("({a}={g})")));
                    if let (Some(attr), Some(key)) = (links.nested_by_key, key) {
                        any.push_str(&format!("({attr}={})", escape::filter_value(key)));
                    }
                }
                if any.is_empty() {
                    continue;
                }
                for (dn, key) in self.group_search(base, &format!("(&{}(|{any}))", s.group_object_filter)).await? {
                    if seen.insert(normalize_dn(&dn)) {
                        next.push((dn.clone(), key));
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

    /// Adds the parents of `frontier`'s groups, level by level up to the depth limit, from each group's own
    /// memberOf: links read in the last `group_cache_ttl` are reused, the others read, 32 groups at a time
    /// (Active Directory: one search by distinguishedName; other servers: base reads on one connection, in
    /// flight together). A group outside the group base, or not matching `group_object_filter`, has no
    /// parents, as in a sync's index.
    async fn walk_up(
        &self,
        frontier: Vec<String>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Error> {
        let s = self.settings();
        let ttl = s.group_cache_ttl;
        let mut base = None;
        // Each group with its normalized DN, computed once.
        let mut frontier: Vec<(String, String)> = frontier.into_iter().map(|g| (normalize_dn(&g), g)).collect();
        for _ in 0..s.nested_group_depth {
            let mut parents_of: HashMap<String, Arc<Parents>> = HashMap::new();
            let mut unknown = Vec::new();
            {
                let cache = self.group_parents.lock().map_err(|_| poisoned())?;
                for (key, g) in &frontier {
                    match cache.get(key) {
                        Some((at, parents)) if at.elapsed() < ttl => {
                            parents_of.insert(key.clone(), Arc::clone(parents));
                        }
                        _ => unknown.push((key.clone(), g.clone())),
                    }
                }
            }
            let base: &str = if unknown.is_empty() { "" } else { base.get_or_insert_with(|| s.group_base()) };
            // A group outside the group base has no parents we can see, as in a sync's index.
            let (inside, outside): (Vec<_>, Vec<_>) = unknown.into_iter().partition(|(_, g)| dn_is_within(g, base));
            for (key, _) in outside {
                parents_of.insert(key, Arc::default());
            }
            for chunk in inside.chunks(PARENT_CHUNK) {
                let names: Vec<String> = chunk.iter().map(|(_, g)| g.clone()).collect();
                let mut found: HashMap<String, Parents> = HashMap::new();
                for (dn, parents) in self.read_parents(base, &names).await? {
                    found.insert(normalize_dn(&dn), parents.into_iter().map(|p| (normalize_dn(&p), p)).collect());
                }
                let now = std::time::Instant::now();
                let mut cache =
                    (!ttl.is_zero()).then(|| self.group_parents.lock()).transpose().map_err(|_| poisoned())?;
                // Unreadable or missing groups have no parents we can see: remembered too.
                for (key, _) in chunk {
                    let parents = Arc::new(found.remove(key).unwrap_or_default());
                    if let Some(cache) = cache.as_mut() {
                        cache.insert(key.clone(), (now, Arc::clone(&parents)));
                    }
                    parents_of.insert(key.clone(), parents);
                }
            }
            let mut next = Vec::new();
            for (key, _) in &frontier {
                for (pkey, parent) in parents_of.get(key).into_iter().flat_map(|p| p.iter()) {
                    if seen.insert(pkey.clone()) {
                        next.push((pkey.clone(), parent.clone()));
                        out.push(parent.clone());
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Ok(())
    }

    /// The memberOf values of the groups named, as `(dn, parents)` for those found.
    async fn read_parents(&self, base: &str, groups: &[String]) -> Result<Vec<(String, Vec<String>)>, Error> {
        let s = self.settings();
        let member_of = std::slice::from_ref(&s.member_of_attribute);
        let found = match s.dialect.finds_entries_by_dn() {
            true => {
                let any: String =
                    groups.iter().map(|g| format!("(distinguishedName={})", escape::filter_value(g))).collect();
                let (found, result) = self
                    .service_search(base, Scope::Subtree, &format!("(|{any})"), member_of, 0, "group search")
                    .await?;
                if !matches!(result.rc, 0 | 32) {
                    return Err(search_error(result.rc, &result, base, "read the groups' memberOf"));
                }
                found
            }
            false => {
                // distinguishedName is a supertype of member on these servers, not the entry's own name:
                // each group is read by a base search, all of them in flight on one pooled connection.
                self.with_service(true, |ldap, url| async move {
                    let reads = groups.iter().map(|g| {
                        let mut conn = ldap.clone();
                        let url = &url;
                        async move {
                            let query = Query {
                                base: g,
                                scope: Scope::Base,
                                filter: &s.group_object_filter,
                                attrs: member_of,
                                size_limit: 0,
                                what: "group read",
                            };
                            match self.connector.search(&mut conn, url, &query).await {
                                Ok((found, result)) if matches!(result.rc, 0 | 32) => Ok(found),
                                Ok((_, result)) => Err(search_error(result.rc, &result, g, "read a group's memberOf")),
                                Err(err) => Err(err),
                            }
                        }
                    });
                    let found: Result<Vec<Vec<SearchEntry>>, Error> =
                        futures::future::join_all(reads).await.into_iter().collect();
                    found.map(|f| f.into_iter().flatten().collect::<Vec<_>>())
                })
                .await?
            }
        };
        Ok(found
            .into_iter()
            .map(|entry| {
                let parents = text_values(&entry, &s.member_of_attribute);
                (entry.dn, parents)
            })
            .collect())
    }

    /// Completes an entry's ranged attributes (`member;range=0-1499`): reads the next ranges until the
    /// server marks the last one (`…-*`), and files the values under the plain name.
    pub async fn complete_ranges(&self, entry: &mut SearchEntry) -> Result<(), Error> {
        let ranged: Vec<String> = entry.attrs.keys().filter(|k| ad::parse_range(k).is_some()).cloned().collect();
        for name in ranged {
            let Some((base_name, _, mut end)) = ad::parse_range(&name).map(|(b, s, e)| (b.to_owned(), s, e)) else {
                continue;
            };
            let mut values = entry.attrs.remove(&name).unwrap_or_default();
            while let Some(last) = end {
                let ask = format!("{base_name};range={}-*", last + 1);
                let (found, result) = self
                    .service_search(&entry.dn, Scope::Base, "(objectClass=*)", &[ask], 0, "ranged attribute read")
                    .await?;
                if result.rc != 0 {
                    return Err(search_error(result.rc, &result, &entry.dn, "read a large group's members"));
                }
                let next = found.into_iter().next().and_then(|e| {
                    e.attrs.into_iter().find_map(|(k, v)| {
                        let (b, start, end) = ad::parse_range(&k)?;
                        (b.eq_ignore_ascii_case(&base_name) && start == last + 1).then_some((v, end))
                    })
                });
                match next {
                    // The next range must move forward, or the read would never end.
                    Some((more, next_end)) if !more.is_empty() && next_end.is_none_or(|e| e > last) => {
                        values.extend(more);
                        end = next_end;
                    }
                    _ => {
                        tracing::warn!(dn = %entry.dn, attribute = %base_name, after = last, "the server ended a ranged read early; the values may be incomplete");
                        break;
                    }
                }
            }
            entry.attrs.entry(base_name).or_default().extend(values);
        }
        Ok(())
    }

    /// The groups matching a filter, each with its key where groups name their children by key.
    async fn group_search(&self, base: &str, filter: &str) -> Result<Vec<(String, Option<String>)>, Error> {
        let s = self.settings();
        let by_key = s.dialect.member_links().nested_by_key.is_some();
        let attrs = [if by_key { s.id_attribute.clone() } else { "1.1".to_owned() }];
        let (found, result) = self.service_search(base, Scope::Subtree, filter, &attrs, 0, "group search").await?;
        if !matches!(result.rc, 0 | 32) {
            return Err(search_error(result.rc, &result, base, "search groups"));
        }
        Ok(found
            .into_iter()
            .map(|g| {
                let key = if by_key { first_text(&g, &s.id_attribute) } else { None };
                (g.dn, key)
            })
            .collect())
    }
}

pub(crate) fn poisoned() -> Error {
    Error::Unexpected { what: "a group cache".into(), diagnostic: "a lock was poisoned".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect as _;

    fn group(dn: &str, members: &[&str], uids: &[&str]) -> SearchEntry {
        let mut attrs = HashMap::new();
        attrs.insert("member".to_owned(), members.iter().map(|m| m.to_string()).collect());
        attrs.insert("memberUid".to_owned(), uids.iter().map(|m| m.to_string()).collect());
        SearchEntry { dn: dn.to_owned(), attrs, bin_attrs: HashMap::new() }
    }

    #[test]
    fn nesting_is_followed_and_cycles_end() {
        let mut index = GroupIndex::new(10, crate::dialect::Generic.member_links());
        index.add(&group("cn=a,dc=x", &["uid=u,dc=x", "cn=c,dc=x"], &[]));
        index.add(&group("cn=b,dc=x", &["CN=A, DC=X"], &[]));
        index.add(&group("cn=c,dc=x", &["cn=b,dc=x"], &[]));
        index.add(&group("cn=p,dc=x", &[], &["u"]));
        let groups = index.groups_of(("uid=u,dc=x", "u", ""), &[], None);
        assert_eq!(groups, ["cn=a,dc=x", "cn=p,dc=x", "cn=b,dc=x", "cn=c,dc=x"]);
    }

    fn graph_group(dn: &str, parents: &[&str]) -> SearchEntry {
        let mut attrs = HashMap::new();
        attrs.insert("memberOf".to_owned(), parents.iter().map(|m| m.to_string()).collect());
        SearchEntry { dn: dn.to_owned(), attrs, bin_attrs: HashMap::new() }
    }

    #[test]
    fn the_member_of_graph_is_walked_by_meaning() {
        let mut index = GroupIndex::new(10, crate::dialect::Generic.member_links());
        index.member_of = Some("memberOf".into());
        index.add(&graph_group(r"cn=M\C3\BCller\2C J\C3\BCrgen,ou=groups,dc=x", &[r"CN=Sales\, EMEA,OU=Groups,DC=X"]));
        index.add(&graph_group(r"cn=Sales\2c EMEA,ou=groups,dc=x", &["cn=loop,ou=groups,dc=x"]));
        index.add(&graph_group("cn=loop,ou=groups,dc=x", &[r"cn = sales\, emea , ou=groups,dc=x"]));
        // Member lists are not read in this shape: a user is in the groups its memberOf names.
        let groups = index.groups_of(("uid=u,dc=x", "u", ""), &[r"CN=Müller\, Jürgen,OU=Groups,DC=x".into()], None);
        assert_eq!(
            groups,
            [r"CN=Müller\, Jürgen,OU=Groups,DC=x", r"CN=Sales\, EMEA,OU=Groups,DC=X", "cn=loop,ou=groups,dc=x"]
        );
        // Spelled as the listing spelled it (known without normalizing), and twice: the same groups, once each.
        let exact = r"cn=M\C3\BCller\2C J\C3\BCrgen,ou=groups,dc=x".to_owned();
        let groups = index.groups_of(("uid=u,dc=x", "u", ""), &[exact.clone(), exact.clone()], None);
        assert_eq!(groups, [exact.as_str(), r"CN=Sales\, EMEA,OU=Groups,DC=X", "cn=loop,ou=groups,dc=x"]);
        index.depth = 1;
        assert_eq!(
            index
                .groups_of(("uid=u,dc=x", "u", ""), &[r"cn=m\c3\bcller\, j\c3\bcrgen,ou=groups,dc=x".into()], None)
                .len(),
            2
        );
    }

    #[test]
    fn depth_limits_the_walk() {
        let mut index = GroupIndex::new(1, crate::dialect::Generic.member_links());
        index.add(&group("cn=l0,dc=x", &["uid=u,dc=x"], &[]));
        index.add(&group("cn=l1,dc=x", &["cn=l0,dc=x"], &[]));
        index.add(&group("cn=l2,dc=x", &["cn=l1,dc=x"], &[]));
        assert_eq!(index.groups_of(("uid=u,dc=x", "u", ""), &[], None), ["cn=l0,dc=x", "cn=l1,dc=x"]);
    }
}
