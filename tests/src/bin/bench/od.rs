//! `bench auth --connector open-directory`: logins through the host and the `open-directory` plugin vs raw
//! ldap3 doing the same work by hand (the user search, a bind as the user, then the groups by GUID and
//! `memberUid` and their parents by `apple-group-nestedgroup`, level by level), on one slapd with Apple's
//! schema and generated OD users: each in a team, the team in a department, the department in the
//! organisation, all by GUID.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use dirconn_abi::{ClientContext, normalize_dn};
use dirconn_tests::{DomainSpec, TestHost, open_directory, slapd::ssha};
use ldap3::{Ldap, Scope, SearchEntry};

use super::{DEPTH, PARENT_CHUNK, Reference, SERVER_PID, Shape, compare, drive, reference_runtime};

const TEAMS: usize = 50;
const DEPTS: usize = 5;

fn uid(n: usize) -> String {
    format!("od{n:05}")
}
fn password(n: usize) -> String {
    format!("od-pass-{n}")
}
fn guid(kind: u32, n: usize) -> String {
    format!("0D{kind:06X}-0000-4000-8000-{n:012X}")
}

/// Adds the users and the three levels of groups, as the admin over one connection.
async fn populate(slapd: &dirconn_tests::Slapd, users: usize) {
    let mut ldap = Reference::connect(&slapd.ldap_url()).await;
    ldap.simple_bind(slapd.admin_dn(), slapd.admin_password()).await.unwrap().success().unwrap();
    for n in 1..=users {
        let (uid, guid, hash, mail) = (uid(n), guid(1, n), ssha(&password(n)), format!("{}@example.org", uid(n)));
        let dn = format!("uid={uid},{}", open_directory::USERS_DN);
        let number = (5000 + n).to_string();
        let attrs = vec![
            ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount", "apple-user", "extensibleObject"])),
            ("uid", HashSet::from([uid.as_str()])),
            ("cn", HashSet::from([uid.as_str()])),
            ("sn", HashSet::from([uid.as_str()])),
            ("uidNumber", HashSet::from([number.as_str()])),
            ("gidNumber", HashSet::from(["20"])),
            ("homeDirectory", HashSet::from(["/Users/x"])),
            ("apple-generateduid", HashSet::from([guid.as_str()])),
            ("mail", HashSet::from([mail.as_str()])),
            ("userPassword", HashSet::from([hash.as_str()])),
        ];
        ldap.add(&dn, attrs).await.unwrap().success().unwrap_or_else(|e| panic!("add {dn}: {e}"));
    }
    let mut add = async |cn: String, guid: String, members: Vec<String>, uids: Vec<String>, nested: Vec<String>| {
        let dn = format!("cn={cn},{}", open_directory::GROUPS_DN);
        let number = (7000 + guid.len() + cn.len()).to_string();
        let mut attrs = vec![
            ("objectClass", HashSet::from(["posixGroup", "apple-group", "extensibleObject"])),
            ("cn", HashSet::from([cn.as_str()])),
            ("gidNumber", HashSet::from([number.as_str()])),
            ("apple-generateduid", HashSet::from([guid.as_str()])),
        ];
        for (name, values) in
            [("apple-group-memberguid", &members), ("memberUid", &uids), ("apple-group-nestedgroup", &nested)]
        {
            if !values.is_empty() {
                attrs.push((name, values.iter().map(String::as_str).collect()));
            }
        }
        ldap.add(&dn, attrs).await.unwrap().success().unwrap_or_else(|e| panic!("add {dn}: {e}"));
    };
    for t in 0..TEAMS {
        let of_team: Vec<usize> = (1..=users).filter(|n| n % TEAMS == t).collect();
        add(
            format!("team-{t}"),
            guid(2, t),
            of_team.iter().map(|&n| guid(1, n)).collect(),
            of_team.iter().map(|&n| uid(n)).collect(),
            Vec::new(),
        )
        .await;
    }
    for d in 0..DEPTS {
        let nested = (0..TEAMS).filter(|t| t % DEPTS == d).map(|t| guid(2, t)).collect();
        add(format!("dept-{d}"), guid(3, d), Vec::new(), Vec::new(), nested).await;
    }
    add("org".into(), guid(4, 0), Vec::new(), Vec::new(), (0..DEPTS).map(|d| guid(3, d)).collect()).await;
    let _ = ldap.unbind().await;
}

/// The reference: the user search, the bind, then the groups by hand.
struct OdReference {
    url: String,
    service: Vec<Ldap>,
    next: AtomicUsize,
}

impl OdReference {
    async fn login(self: &Arc<Self>, login: &str, password: &str) -> Option<Vec<String>> {
        let (me, login, password) = (Arc::clone(self), login.to_owned(), password.to_owned());
        reference_runtime().spawn(async move { me.login_here(&login, &password).await }).await.ok()?
    }

    async fn login_here(&self, login: &str, password: &str) -> Option<Vec<String>> {
        let mut svc = self.service[self.next.fetch_add(1, Ordering::Relaxed) % self.service.len()].clone();
        let l = ldap3::ldap_escape(login);
        let filter = format!("(&(objectClass=apple-user)(|(uid={l})(mail={l})(mail={l}@example.org)))");
        let attrs = vec!["*", "apple-generateduid", "authAuthority", "pwdAccountLockedTime"];
        let (entries, _) =
            svc.search(open_directory::USERS_DN, Scope::Subtree, &filter, attrs).await.ok()?.success().ok()?;
        let entry = entries.into_iter().map(SearchEntry::construct).next()?;
        let mut user = Reference::connect(&self.url).await;
        let ok = user.simple_bind(&entry.dn, password).await.map(|r| r.rc == 0).unwrap_or(false);
        let _ = user.unbind().await;
        if !ok {
            return None;
        }
        let key = entry.attrs.get("apple-generateduid")?.first()?.clone();
        let (mut out, mut seen) = (Vec::new(), HashSet::new());
        let direct = format!(
            "(&(objectClass=apple-group)(|(memberUid={l})(apple-group-memberguid={})))",
            ldap3::ldap_escape(&key)
        );
        let mut frontier = groups(&mut svc, &direct).await?;
        frontier.retain(|(dn, _)| seen.insert(normalize_dn(dn)));
        out.extend(frontier.iter().map(|(dn, _)| dn.clone()));
        for _ in 0..DEPTH {
            let mut next = Vec::new();
            for chunk in frontier.chunks(PARENT_CHUNK) {
                let any: String = chunk
                    .iter()
                    .filter_map(|(_, k)| k.as_ref())
                    .map(|k| format!("(apple-group-nestedgroup={})", ldap3::ldap_escape(k)))
                    .collect();
                for (dn, k) in groups(&mut svc, &format!("(&(objectClass=apple-group)(|{any}))")).await? {
                    if seen.insert(normalize_dn(&dn)) {
                        out.push(dn.clone());
                        next.push((dn, k));
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        Some(out)
    }
}

async fn groups(svc: &mut Ldap, filter: &str) -> Option<Vec<(String, Option<String>)>> {
    let (entries, _) = svc
        .search(open_directory::GROUPS_DN, Scope::Subtree, filter, vec!["apple-generateduid"])
        .await
        .ok()?
        .success()
        .ok()?;
    Some(
        entries
            .into_iter()
            .map(SearchEntry::construct)
            .map(|e| {
                let key = e.attrs.get("apple-generateduid").and_then(|v| v.first().cloned());
                (e.dn, key)
            })
            .collect(),
    )
}

pub async fn run(plugin_dir: &std::path::Path, users: usize, clients: usize, logins: usize, rounds: usize) {
    println!("bench auth --connector open-directory: starting slapd with Apple's schema…");
    let server = open_directory::start();
    let started = Instant::now();
    populate(&server, users).await;
    println!(
        "{users} OD users, {TEAMS} teams < {DEPTS} departments < 1 organisation (by GUID) added in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    SERVER_PID.store(server.pid(), Ordering::Relaxed);
    let pool = 8;
    let spec =
        DomainSpec::open_directory(&server).raw("pool_size", &pool.to_string()).raw("operation_timeout", "\"10s\"");
    let plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-open-directory"));
    let host = Arc::new(TestHost::start(&[plugin], &[spec]).expect("host"));
    // The service connections as the other auth benchmarks make them (on the reference's runtime).
    let (url, base) = (server.ldap_url(), open_directory::USERS_DN.to_owned());
    let service =
        Reference::new(&url, server.service_dn(), server.service_password(), base, "", Vec::new(), pool).await.service;
    let reference = Arc::new(OdReference { url, service, next: AtomicUsize::new(0) });
    for n in [1, users / 2, users] {
        let theirs = reference.login(&uid(n), &password(n)).await.expect("the reference logs in");
        let (_, user) = host
            .host
            .login(&format!("{}@example.org", uid(n)), &password(n), ClientContext::default())
            .await
            .expect("ours logs in");
        let set = |g: Vec<String>| g.iter().map(|d| normalize_dn(d)).collect::<std::collections::BTreeSet<_>>();
        let ours: Vec<String> = user.groups.iter().map(|g| g.to_string()).collect();
        assert_eq!(set(ours.clone()), set(theirs), "the groups of {}", uid(n));
        assert_eq!(ours.len(), 3, "a team, a department and the organisation: {ours:?}");
    }
    let ours_login = {
        let host = Arc::clone(&host);
        move |n: usize| {
            let host = Arc::clone(&host);
            async move {
                let login = format!("{}@example.org", uid(n));
                host.host.login(&login, &password(n), ClientContext::default()).await.is_ok()
            }
        }
    };
    let ref_login = {
        let reference = Arc::clone(&reference);
        move |n: usize| {
            let reference = Arc::clone(&reference);
            async move { reference.login(&uid(n), &password(n)).await.is_some() }
        }
    };
    println!("warming up…");
    drive(clients, 300, users, ref_login.clone()).await;
    drive(clients, 300, users, ours_login.clone()).await;
    let shape = Shape { name: "auth-od", clients, logins, users, rounds, pool };
    compare(&shape, ref_login, ours_login).await;
}
