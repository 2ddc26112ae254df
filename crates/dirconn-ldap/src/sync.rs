//! Sync: the domain's users streamed to the host in batches. A full pass is a paged search (memory stays
//! flat: the next page is asked for only when the host has taken the last one); an incremental pass is an
//! RFC 4533 syncrepl refreshOnly search with the cookie of the previous sync. A full pass also fetches a
//! cookie, first, so that the next pass can be incremental; where the server has no syncprov, every pass is
//! a full one.

use std::{
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
};

use abi_stable::std_types::{ROption, RString, RVec};
use dirconn_abi::{ChangeKind, SyncChange, SyncEnd};
use ldap3::{
    Ldap, LdapResult, ResultEntry, Scope, SearchStream,
    adapters::{Adapter, EntriesOnly, PagedResults},
    controls::{
        Control, ControlType, EntryState, MakeCritical, RefreshMode, SyncDone, SyncInfo, SyncRequest, SyncState,
        parse_syncinfo,
    },
};

use crate::{
    ClosedDuring, Directory, Error, GroupIndex, GroupMembership, LdapUrl,
    dialect::Incremental,
    directory::{first_text, search_error},
    entry::parse_entry,
};

/// Where a sync's batches go: the plugin's channel to the host.
pub trait ChangeSink: Send + Sync {
    /// Sends one batch; false when the host has gone (the sync then stops).
    fn send(&self, changes: Vec<SyncChange>) -> impl Future<Output = bool> + Send;
}

/// A filter no entry matches, to fetch a syncrepl cookie without entries.
const MATCH_NOTHING: &str = "(&(objectClass=*)(!(objectClass=*)))";

/// LDAP result codes of a refresh that cannot go on incrementally.
const RC_UNAVAILABLE_CRITICAL_EXTENSION: u32 = 12;
const RC_SYNC_REFRESH_REQUIRED: u32 = 4096;

/// Why an incremental pass gave way to a full one.
enum Refresh {
    Done(SyncEnd),
    FullNeeded(String),
}

impl Directory {
    /// The attributes a sync reads: the ones every user entry needs and the host's mapped ones; every user
    /// attribute when the host maps none. Reading only these keeps a large sync cheap for both sides.
    pub fn sync_attributes(&self, mapped: &[String]) -> Vec<String> {
        if mapped.is_empty() {
            return self.user_attributes();
        }
        let s = self.settings();
        let mut attrs: Vec<String> = [
            &s.id_attribute,
            &s.login_attribute,
            &s.email_attribute,
            &s.display_name_attribute,
            &s.member_of_attribute,
        ]
        .into_iter()
        .cloned()
        .chain(["cn".to_owned()])
        .chain(self.state_attributes().iter().map(|a| (*a).to_owned()))
        .chain(s.attributes.iter().cloned())
        .chain(mapped.iter().cloned())
        .chain(self.uuid_mapped().then(|| "entryUUID".to_owned()))
        .collect();
        let mut seen = std::collections::HashSet::new();
        attrs.retain(|a| seen.insert(a.to_ascii_lowercase()));
        attrs
    }

    /// What a sync pass reads of each user and what its entries carry to the host.
    fn reading(&self, mapped: &[String]) -> Reading {
        Reading { attrs: self.sync_attributes(mapped), sent: mapped.to_vec() }
    }

    /// Whether content syncs name entries by an entryUUID that is not the key (Open Directory's GUIDs):
    /// the engine then keeps entryUUID → key for the entries it has seen since its last full pass.
    fn uuid_mapped(&self) -> bool {
        !self.settings().id_attribute.eq_ignore_ascii_case("entryUUID")
    }

    /// The key of the entry a content sync names by entryUUID; None when it is not known.
    fn key_of_uuid(&self, uuid: &str) -> Option<String> {
        if !self.uuid_mapped() {
            return Some(uuid.to_owned());
        }
        self.sync_keys.lock().ok()?.get(uuid).cloned()
    }

    /// Remembers an entry's key under its entryUUID (when keys are not entryUUIDs).
    fn remember_uuid(&self, uuid: Option<String>, key: &str) {
        if let (true, Some(uuid), Ok(mut keys)) = (self.uuid_mapped(), uuid, self.sync_keys.lock()) {
            keys.insert(uuid, key.to_owned());
        }
    }

    /// The filter a sync lists users with.
    pub fn sync_filter(&self) -> String {
        self.settings().sync_filter.clone().unwrap_or_else(|| self.filter_matching_any_user())
    }

    /// Streams the domain's users to `sink`: changes since `cookie` when the server can, else all of them.
    pub async fn sync<S: ChangeSink>(
        &self,
        cookie: Option<Vec<u8>>,
        batch: usize,
        mapped: &[String],
        sink: &S,
    ) -> Result<SyncEnd, Error> {
        let reading = self.reading(mapped);
        let s = self.settings();
        let mut ldap = self.connector.open_service().await?;
        let url = self.connector.preferred_url().clone();
        // AD: the DC's USN is read before the groups, so that a change made while they load is seen again
        // by the next pass rather than lost between the two.
        let dse = match s.dialect.incremental() {
            Incremental::UsnChanged => Some(self.dc_state(&mut ldap, &url).await?),
            Incremental::Syncrepl => None,
        };
        let groups = match s.group_membership {
            GroupMembership::Search | GroupMembership::Chain | GroupMembership::NestedMemberOf => {
                self.load_group_index(&mut ldap, &url).await?
            }
            GroupMembership::MemberOf => GroupIndex::new(0, s.dialect.member_links()),
        };
        let batch = batch.clamp(1, 10_000);
        if let Some(dse) = dse {
            let end = self.usn_sync(&mut ldap, &url, dse, cookie, &groups, batch, &reading, sink).await;
            let _ = ldap.unbind().await;
            return end;
        }
        let mut notes: Vec<RString> = groups
            .dangling()
            .into_iter()
            .map(|(group, key)| RString::from(format!("the nested group {key} of {group} is not in the directory")))
            .collect();
        let known_keys = !self.uuid_mapped() || self.sync_keys.lock().is_ok_and(|k| !k.is_empty());
        if let Some(cookie) = cookie {
            if known_keys {
                match self.refresh(&mut ldap, &url, cookie, &groups, batch, &reading, sink).await? {
                    Refresh::Done(end) => {
                        let _ = ldap.unbind().await;
                        return Ok(end);
                    }
                    Refresh::FullNeeded(why) => notes.push(RString::from(format!("full pass: {why}"))),
                }
            } else {
                notes.push(RString::from(format!(
                    "full pass: the entries' {} keys are learned by a full pass after the service starts \
                     (content sync names entries by entryUUID)",
                    s.id_attribute
                )));
            }
        }
        let cookie = self.fresh_cookie(&mut ldap, &url, &mut notes).await?;
        self.full_pass(&mut ldap, &url, &groups, batch, &reading, sink).await?;
        let _ = ldap.unbind().await;
        Ok(SyncEnd { cookie: cookie.map(RVec::from).into(), complete: true, full: true, notes: notes.into() })
    }

    async fn load_group_index(&self, ldap: &mut Ldap, url: &LdapUrl) -> Result<GroupIndex, Error> {
        let s = self.settings();
        let base = s.group_base();
        let mut index = GroupIndex::for_settings(s);
        let attrs = index.attributes(s);
        let mut stream = self.paged(ldap, url, base, Scope::Subtree, &s.group_object_filter, &attrs).await?;
        while let Some(entry) = self.next_entry(&mut stream, url, "group listing").await? {
            let mut entry = parse_entry(entry)?;
            self.complete_ranges(&mut entry).await?;
            index.add(&entry);
        }
        let result = stream.finish().await;
        // A group base that does not exist means no groups, not a failed sync.
        if !matches!(result.rc, 0 | 32) {
            return Err(search_error(result.rc, &result, base, "list groups"));
        }
        tracing::debug!(groups = index.len(), base = %base, "group index loaded");
        Ok(index)
    }

    pub(crate) async fn paged<'a>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &'a [String],
    ) -> Result<SearchStream<'a, &'a str, Vec<&'a str>>, Error> {
        let page = i32::try_from(self.settings().page_size).unwrap_or(500);
        let adapters: Vec<Box<dyn Adapter<'a, &'a str, Vec<&'a str>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(page))];
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let op = ldap.streaming_search_with(adapters, base, scope, filter, attrs);
        self.connector.run(url, "paged search", ClosedDuring::Operation, op).await
    }

    pub(crate) async fn next_entry<'a, S, A>(
        &self,
        stream: &mut SearchStream<'a, S, A>,
        url: &LdapUrl,
        what: &str,
    ) -> Result<Option<ResultEntry>, Error>
    where
        S: AsRef<str> + Send + Sync + 'a,
        A: AsRef<[S]> + Send + Sync + 'a,
    {
        self.connector.run(url, what, ClosedDuring::Operation, stream.next()).await
    }

    /// A cookie naming the directory's state now, from a refresh that matches no entry; None (with a note)
    /// when the server has no syncprov.
    async fn fresh_cookie(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        notes: &mut Vec<RString>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let s = self.settings();
        let control = SyncRequest { mode: RefreshMode::RefreshOnly, cookie: None, reload_hint: false };
        let op = ldap.with_controls(control.critical()).streaming_search(
            &s.search_base,
            Scope::Base,
            MATCH_NOTHING,
            vec!["1.1"],
        );
        let mut stream = self.connector.run(url, "sync cookie request", ClosedDuring::Operation, op).await?;
        while self.next_entry(&mut stream, url, "sync cookie request").await?.is_some() {}
        let result = stream.finish().await;
        match result.rc {
            0 => {
                let cookie = sync_done(&result).and_then(|d| d.cookie);
                if cookie.is_none() {
                    notes.push("the server sent no sync cookie: the next pass will be full too".into());
                }
                Ok(cookie)
            }
            RC_UNAVAILABLE_CRITICAL_EXTENSION | 53 | 50 => {
                notes.push(
                    format!(
                        "the server offers no content sync (syncprov) to the service account ({}): every pass is full",
                        crate::error::describe_result(&result)
                    )
                    .into(),
                );
                Ok(None)
            }
            rc => Err(search_error(rc, &result, &s.search_base, "request a sync cookie")),
        }
    }

    pub(crate) async fn full_pass<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        groups: &GroupIndex,
        batch: usize,
        reading: &Reading,
        sink: &S,
    ) -> Result<(), Error> {
        let s = self.settings();
        let filter = self.sync_filter();
        let mut stream = self.paged(ldap, url, &s.search_base, self.scope(), &filter, &reading.attrs).await?;
        if self.uuid_mapped()
            && let Ok(mut keys) = self.sync_keys.lock()
        {
            keys.clear();
        }
        // Two halves, run side by side: one takes the entries off the connection as they come, so that the
        // next page is asked for as soon as a page ends; the other turns them into user entries and hands
        // them to the host. In turn, the server waited for every page to be converted before it could start
        // on the next one (a paged search has one page in flight).
        let page = usize::try_from(self.settings().page_size).unwrap_or(500).clamp(100, 5_000);
        let (entries, mut received) = tokio::sync::mpsc::channel::<ResultEntry>(2 * page);
        let take = async move {
            while let Some(entry) = self.next_entry(&mut stream, url, "user listing").await? {
                if entries.send(entry).await.is_err() {
                    // The other half stopped: the host has gone.
                    return Ok(None);
                }
            }
            drop(entries);
            Ok::<_, Error>(Some(stream.finish().await))
        };
        // Moved in, so that the receiver goes when this half stops and the other half's send fails.
        let convert = async move {
            let mut changes = Vec::with_capacity(batch);
            while let Some(entry) = received.recv().await {
                let entry = parse_entry(entry)?;
                let uuid = self.uuid_mapped().then(|| first_text(&entry, "entryUUID")).flatten();
                let user = self.to_user_entry(entry, groups, reading);
                self.remember_uuid(uuid, &user.id);
                changes.push(SyncChange {
                    kind: ChangeKind::Upsert,
                    key: user.id.clone(),
                    entry: ROption::RSome(user),
                });
                if changes.len() >= batch
                    && !sink.send(std::mem::replace(&mut changes, Vec::with_capacity(batch))).await
                {
                    return Ok(None);
                }
            }
            Ok::<_, Error>(Some(changes))
        };
        let (taken, converted) = tokio::join!(take, convert);
        // A malformed entry stops the converting half, and so the taking half: the conversion's error is
        // the one to report then.
        let (Some(result), Some(changes)) = (taken?, converted?) else {
            return Err(Error::SyncCancelled);
        };
        if result.rc != 0 {
            return Err(search_error(result.rc, &result, &s.search_base, "list users"));
        }
        if !sink.send(changes).await {
            return Err(Error::SyncCancelled);
        }
        Ok(())
    }

    /// An incremental pass: syncrepl refreshOnly with the stored cookie.
    #[allow(clippy::too_many_arguments)]
    async fn refresh<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        cookie: Vec<u8>,
        groups: &GroupIndex,
        batch: usize,
        reading: &Reading,
        sink: &S,
    ) -> Result<Refresh, Error> {
        let s = self.settings();
        let filter = self.sync_filter();
        let control_cookie = cookie.clone();
        let control = SyncRequest { mode: RefreshMode::RefreshOnly, cookie: Some(cookie), reload_hint: false };
        let attr_refs: Vec<&str> = reading.attrs.iter().map(String::as_str).collect();
        let op =
            ldap.with_controls(control.critical()).streaming_search(&s.search_base, self.scope(), &filter, attr_refs);
        let mut stream = self.connector.run(url, "incremental sync", ClosedDuring::Operation, op).await?;
        let previous = control_cookie.clone();
        let mut changes = Vec::with_capacity(batch);
        // Whether the server listed the unchanged entries (present phase) rather than the deleted ones.
        let mut present_phase = false;
        while let Some(item) = self.next_entry(&mut stream, url, "incremental sync").await? {
            let mut produced = Vec::new();
            if item.is_intermediate() {
                let info = catch_unwind(AssertUnwindSafe(|| parse_syncinfo(item))).map_err(|_| Error::Unexpected {
                    what: "the incremental sync".into(),
                    diagnostic: "a malformed syncInfo message".into(),
                })?;
                match info {
                    SyncInfo::SyncIdSet { refresh_deletes, sync_uuids, .. } => {
                        let kind = if refresh_deletes { ChangeKind::Delete } else { ChangeKind::Present };
                        present_phase |= !refresh_deletes;
                        for u in &sync_uuids {
                            let Some(key) = self.key_of_uuid(&uuid_text(u)) else {
                                return Ok(Refresh::FullNeeded(unknown_uuid(u)));
                            };
                            produced.push(SyncChange { kind, key: key.into(), entry: ROption::RNone });
                        }
                    }
                    SyncInfo::RefreshPresent { .. } => present_phase = true,
                    SyncInfo::RefreshDelete { .. } | SyncInfo::NewCookie(_) => {}
                }
            } else if !item.is_ref() {
                let state = sync_state(&item.1);
                let entry = parse_entry(item)?;
                match state {
                    Some(SyncState {
                        state: state @ (EntryState::Delete | EntryState::Present), entry_uuid, ..
                    }) => {
                        let Some(key) = self.key_of_uuid(&uuid_text(&entry_uuid)) else {
                            return Ok(Refresh::FullNeeded(unknown_uuid(&entry_uuid)));
                        };
                        let kind = if matches!(state, EntryState::Delete) {
                            ChangeKind::Delete
                        } else {
                            present_phase = true;
                            ChangeKind::Present
                        };
                        produced.push(SyncChange { kind, key: key.into(), entry: ROption::RNone });
                    }
                    other => {
                        let user = self.to_user_entry(entry, groups, reading);
                        self.remember_uuid(other.map(|s| uuid_text(&s.entry_uuid)), &user.id);
                        produced.push(SyncChange {
                            kind: ChangeKind::Upsert,
                            key: user.id.clone(),
                            entry: ROption::RSome(user),
                        });
                    }
                }
            }
            for change in produced {
                changes.push(change);
                if changes.len() >= batch
                    && !sink.send(std::mem::replace(&mut changes, Vec::with_capacity(batch))).await
                {
                    return Err(Error::SyncCancelled);
                }
            }
        }
        let result = stream.finish().await;
        match result.rc {
            0 => {}
            RC_SYNC_REFRESH_REQUIRED => return Ok(Refresh::FullNeeded("the server asked for a full reload".into())),
            RC_UNAVAILABLE_CRITICAL_EXTENSION | 53 => {
                return Ok(Refresh::FullNeeded(format!(
                    "the server refused content sync ({})",
                    crate::error::describe_result(&result)
                )));
            }
            rc => return Err(search_error(rc, &result, &s.search_base, "sync users incrementally")),
        }
        if !sink.send(changes).await {
            return Err(Error::SyncCancelled);
        }
        let done = sync_done(&result);
        let refresh_deletes = done.as_ref().is_some_and(|d| d.refresh_deletes);
        // slapd answers an up-to-date cookie with no new one: the old one stays valid.
        let cookie = done.and_then(|d| d.cookie).or(Some(previous));
        Ok(Refresh::Done(SyncEnd {
            cookie: cookie.map(RVec::from).into(),
            complete: present_phase || !refresh_deletes,
            full: false,
            notes: RVec::new(),
        }))
    }
}

/// What a sync pass reads of each user and what its entries carry to the host.
pub(crate) struct Reading {
    /// The attributes asked of the server ([`Directory::sync_attributes`]).
    pub(crate) attrs: Vec<String>,
    /// The attributes the host maps: a user entry carries these only (the others are read for the key,
    /// login, email, display name, groups and state, which have fields of their own); every one when the
    /// host maps none.
    sent: Vec<String>,
}

impl Reading {
    /// Whether entries carry the attribute `name`.
    pub(crate) fn sends(&self, name: &str) -> bool {
        self.sent.is_empty() || self.sent.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Why a refresh that names an entry by an unknown entryUUID gives way to a full pass.
fn unknown_uuid(uuid: &[u8]) -> String {
    format!("the entry {} was not seen by a full pass of this service (its key is not known)", uuid_text(uuid))
}

fn sync_state(controls: &[Control]) -> Option<SyncState> {
    controls.iter().find_map(|c| match c {
        Control(Some(ControlType::SyncState), raw) => catch_unwind(AssertUnwindSafe(|| raw.parse::<SyncState>())).ok(),
        _ => None,
    })
}

fn sync_done(result: &LdapResult) -> Option<SyncDone> {
    result.ctrls.iter().find_map(|c| match c {
        Control(Some(ControlType::SyncDone), raw) => catch_unwind(AssertUnwindSafe(|| raw.parse::<SyncDone>())).ok(),
        _ => None,
    })
}

/// An entryUUID's 16 bytes in the text form the attribute shows (`8-4-4-4-12` lowercase hex).
fn uuid_text(bytes: &[u8]) -> String {
    if bytes.len() != 16 {
        return bytes.iter().map(|b| format!("{b:02x}")).collect();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_uuids_print_like_the_attribute() {
        let bytes = [0x5f, 0x8b, 0x6e, 0x2a, 0x1c, 0x3d, 0x10, 0x3f, 0x8a, 0x1b, 0x2d, 0x45, 0xa0, 0x3e, 0x77, 0x01];
        assert_eq!(uuid_text(&bytes), "5f8b6e2a-1c3d-103f-8a1b-2d45a03e7701");
    }

    #[test]
    fn entries_carry_the_mapped_attributes_or_all_when_none_is_mapped() {
        let mapped = Reading { attrs: Vec::new(), sent: vec!["givenName".into(), "mail".into()] };
        assert!(mapped.sends("givenname") && mapped.sends("MAIL"));
        assert!(!mapped.sends("uid") && !mapped.sends("memberOf"));
        let none = Reading { attrs: Vec::new(), sent: Vec::new() };
        assert!(none.sends("uid") && none.sends("anything"));
    }
}
