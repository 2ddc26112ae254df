//! Active Directory's incremental sync: the users and groups whose uSNChanged passed the USN the last pass
//! ended at, on the same domain controller (USNs are per DC: another DC means a full pass), plus the
//! tombstones of deleted users under `CN=Deleted Objects`. A full pass runs at least every
//! `full_sync_interval`, which catches what USNs cannot show (users moved out of scope, members removed
//! from a group).

use std::collections::HashSet;

use abi_stable::std_types::{ROption, RString, RVec};
use dirconn_abi::{ChangeKind, SyncChange, SyncEnd, normalize_dn};
use ldap3::{Ldap, Scope, controls::RawControl};

use crate::{
    ChangeSink, ClosedDuring, Directory, Error, GroupIndex, LdapUrl,
    ad::{self, UsnCookie},
    conn::Query,
    directory::{first_text, raw_values, search_error, unix_now},
    entry::parse_entry,
    escape,
    groups::MATCHING_RULE_IN_CHAIN,
    sync::Reading,
};

/// LDAP_SERVER_SHOW_DELETED_OID: search results include deleted objects (tombstones).
const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

/// What the search of deleted users could see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tombstones {
    /// Every deletion since the last pass.
    Listed,
    /// The server cut the list short: the next pass is a full one.
    Truncated,
    /// The service account may not read `CN=Deleted Objects` (AD's default): the full passes find them.
    Hidden,
}

/// What the rootDSE says about the DC a pass reads from.
pub(crate) struct DcState {
    /// The DC's identity: its dsServiceName and the invocationId of its database (which changes when the DC
    /// is restored from a backup or rebuilt under the same name).
    dc: String,
    /// highestCommittedUSN when the pass began.
    usn: u64,
    /// defaultNamingContext.
    naming_context: String,
}

/// What a pass sent, so that a user changed twice (as a user and through a group) goes once.
struct Sent<'a, S> {
    sink: &'a S,
    batch: usize,
    changes: Vec<SyncChange>,
    keys: HashSet<String>,
}

impl<S: ChangeSink> Sent<'_, S> {
    async fn push(&mut self, change: SyncChange) -> Result<(), Error> {
        if !self.keys.insert(change.key.to_string()) {
            return Ok(());
        }
        self.changes.push(change);
        if self.changes.len() >= self.batch {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        if !self.sink.send(std::mem::take(&mut self.changes)).await {
            return Err(Error::SyncCancelled);
        }
        Ok(())
    }
}

impl Directory {
    /// One AD sync pass: incremental when the cookie names this DC and the last full pass is recent,
    /// else full.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn usn_sync<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        dse: DcState,
        cookie: Option<Vec<u8>>,
        groups: &GroupIndex,
        batch: usize,
        reading: &Reading,
        sink: &S,
    ) -> Result<SyncEnd, Error> {
        let now = unix_now();
        let interval = i64::try_from(self.settings().full_sync_interval.as_secs()).unwrap_or(i64::MAX);
        let previous = cookie.as_deref().map(UsnCookie::decode);
        let full_because = match &previous {
            None => None,
            Some(None) => Some("the stored cookie is not an Active Directory one".to_owned()),
            Some(Some(p)) if p.dc != dse.dc => Some(format!(
                "the last pass read another domain controller, or this one before a restore ({}); USNs are per \
                 DC database",
                p.dc
            )),
            Some(Some(p)) if p.usn > dse.usn => Some(format!(
                "the DC's highestCommittedUSN ({}) is below the last pass's ({}): was it restored?",
                dse.usn, p.usn
            )),
            Some(Some(p)) if now.saturating_sub(p.full_at) >= interval => {
                Some("the last full pass is older than full_sync_interval".to_owned())
            }
            Some(Some(_)) => None,
        };
        if let (Some(Some(p)), None) = (&previous, &full_because) {
            let mut sent = Sent { sink, batch, changes: Vec::with_capacity(batch), keys: HashSet::new() };
            let mut full_at = p.full_at;
            let mut notes = RVec::new();
            self.changed_users(ldap, url, p.usn, groups, reading, &mut sent).await?;
            self.changed_groups(ldap, url, p.usn, groups, reading, &mut sent).await?;
            match self.deleted_users(ldap, url, p.usn, &dse, &mut sent).await? {
                Tombstones::Listed => {}
                Tombstones::Truncated => full_at = 0,
                Tombstones::Hidden => notes.push(RString::from(
                    "the service account cannot read CN=Deleted Objects: deleted users are found by the full pass \
                     (full_sync_interval)",
                )),
            }
            sent.flush().await?;
            tracing::info!(changes = sent.keys.len(), from_usn = p.usn, to_usn = dse.usn, "incremental AD sync");
            let next = UsnCookie { dc: dse.dc, usn: dse.usn, full_at };
            return Ok(SyncEnd { cookie: ROption::RSome(next.encode().into()), complete: false, full: false, notes });
        }
        self.full_pass(ldap, url, groups, batch, reading, sink).await?;
        let notes: RVec<RString> =
            full_because.map(|why| RString::from(format!("full pass: {why}"))).into_iter().collect();
        let next = UsnCookie { dc: dse.dc, usn: dse.usn, full_at: now };
        Ok(SyncEnd { cookie: ROption::RSome(next.encode().into()), complete: true, full: true, notes })
    }

    pub(crate) async fn dc_state(&self, ldap: &mut Ldap, url: &LdapUrl) -> Result<DcState, Error> {
        let attrs = ["dsServiceName".to_owned(), "highestCommittedUSN".to_owned(), "defaultNamingContext".to_owned()];
        let (entries, result) = self.connector.search(ldap, url, &Query::root_dse(&attrs)).await?;
        let root = entries.into_iter().next();
        let get = |name: &str| root.as_ref().and_then(|e| first_text(e, name));
        match (get("dsServiceName"), get("highestCommittedUSN").and_then(|u| u.parse().ok())) {
            (Some(service), Some(usn)) => {
                let ask = ["invocationId".to_owned()];
                let query = Query {
                    base: &service,
                    scope: Scope::Base,
                    filter: "(objectClass=*)",
                    attrs: &ask,
                    size_limit: 1,
                    what: "DC identity read",
                };
                let invocation = match self.connector.search(ldap, url, &query).await?.0.first() {
                    Some(e) => raw_values(e, "invocationId").first().and_then(|b| ad::guid_text(b)).unwrap_or_default(),
                    None => String::new(),
                };
                let dc = format!("{service} invocationId={invocation}");
                Ok(DcState { dc, usn, naming_context: get("defaultNamingContext").unwrap_or_default() })
            }
            _ => Err(Error::Unexpected {
                what: "the rootDSE read".into(),
                diagnostic: format!(
                    "no dsServiceName or highestCommittedUSN: is this an Active Directory domain controller? ({})",
                    crate::error::describe_result(&result)
                ),
            }),
        }
    }

    /// Users whose own entry changed.
    async fn changed_users<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        usn: u64,
        groups: &GroupIndex,
        reading: &Reading,
        sent: &mut Sent<'_, S>,
    ) -> Result<(), Error> {
        let filter = format!("(&{}(uSNChanged>={}))", self.sync_filter(), usn + 1);
        self.send_users(ldap, url, &filter, groups, reading, sent).await
    }

    /// Members of groups that changed: adding a user to a group changes the group's USN, not the user's.
    async fn changed_groups<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        usn: u64,
        groups: &GroupIndex,
        reading: &Reading,
        sent: &mut Sent<'_, S>,
    ) -> Result<(), Error> {
        let s = self.settings();
        let base = s.group_base();
        let filter = format!("(&{}(uSNChanged>={}))", s.group_object_filter, usn + 1);
        let none = ["1.1".to_owned()];
        let mut stream = self.paged(ldap, url, base, Scope::Subtree, &filter, &none).await?;
        let mut changed = Vec::new();
        while let Some(entry) = self.next_entry(&mut stream, url, "changed group listing").await? {
            changed.push(parse_entry(entry)?.dn);
        }
        let result = stream.finish().await;
        if !matches!(result.rc, 0 | 32) {
            return Err(search_error(result.rc, &result, base, "list changed groups"));
        }
        for dn in changed {
            let filter =
                format!("(&{}(memberOf:{MATCHING_RULE_IN_CHAIN}:={}))", self.sync_filter(), escape::filter_value(&dn));
            self.send_users(ldap, url, &filter, groups, reading, sent).await?;
        }
        Ok(())
    }

    async fn send_users<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        filter: &str,
        groups: &GroupIndex,
        reading: &Reading,
        sent: &mut Sent<'_, S>,
    ) -> Result<(), Error> {
        let s = self.settings();
        let mut stream = self.paged(ldap, url, &s.search_base, self.scope(), filter, &reading.attrs).await?;
        while let Some(entry) = self.next_entry(&mut stream, url, "changed user listing").await? {
            let user = self.to_user_entry(parse_entry(entry)?, groups, reading);
            sent.push(SyncChange { kind: ChangeKind::Upsert, key: user.id.clone(), entry: ROption::RSome(user) })
                .await?;
        }
        let result = stream.finish().await;
        if result.rc != 0 {
            return Err(search_error(result.rc, &result, &s.search_base, "list changed users"));
        }
        Ok(())
    }

    /// Tombstones of users deleted since `usn`, with the container itself (whose `isDeleted` shows whether
    /// the service account may read there at all).
    async fn deleted_users<S: ChangeSink>(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        usn: u64,
        dse: &DcState,
        sent: &mut Sent<'_, S>,
    ) -> Result<Tombstones, Error> {
        if !self.settings().id_attribute.eq_ignore_ascii_case("objectGUID") {
            // Tombstones keep their objectGUID, not necessarily the configured key.
            return Ok(Tombstones::Hidden);
        }
        let base = format!("CN=Deleted Objects,{}", dse.naming_context);
        let filter = format!(
            "(|(&(objectClass=container)(cn=Deleted Objects))(&(objectClass=user)(isDeleted=TRUE)(uSNChanged>={})))",
            usn + 1
        );
        let show_deleted = RawControl { ctype: SHOW_DELETED.to_owned(), crit: true, val: None };
        let op = async {
            let ldap3::SearchResult(entries, result) = ldap
                .with_controls(vec![show_deleted])
                .search(&base, Scope::Subtree, &filter, vec!["objectGUID", "isDeleted"])
                .await?;
            Ok((entries, result))
        };
        let (entries, result) = self.connector.run(url, "deleted user listing", ClosedDuring::Operation, op).await?;
        match result.rc {
            0 | 4 => {}
            32 | 50 => return Ok(Tombstones::Hidden),
            rc => return Err(search_error(rc, &result, &base, "list deleted users")),
        }
        let mut readable = false;
        for entry in entries.into_iter().filter(|e| !e.is_ref() && !e.is_intermediate()) {
            let entry = parse_entry(entry)?;
            if normalize_dn(&entry.dn) == normalize_dn(&base) {
                readable = !raw_values(&entry, "isDeleted").is_empty();
                continue;
            }
            if let Some(key) = raw_values(&entry, "objectGUID").first().and_then(|b| ad::guid_text(b)) {
                sent.push(SyncChange { kind: ChangeKind::Delete, key: key.into(), entry: ROption::RNone }).await?;
            }
        }
        if result.rc == 4 {
            tracing::warn!("more deleted users than the server lists at once: the next sync is a full pass");
            return Ok(Tombstones::Truncated);
        }
        if !readable {
            tracing::info!(base = %base, "the service account cannot read the deleted objects");
            return Ok(Tombstones::Hidden);
        }
        Ok(Tombstones::Listed)
    }
}
