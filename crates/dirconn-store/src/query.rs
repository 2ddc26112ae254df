//! The store's SQL, written once for SQLite and PostgreSQL (`$n` parameters, portable types).

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::{Account, Error, Field, Fields, Value, error::is_unique_violation};

const COLUMNS: &str = "id, domain, login, auth_name, source, directory_key, dn, active, admin, first_name, last_name, \
     email, phone, organization, notes, city, state, country, photo, custom1, custom2, custom3, password_hash, \
     cached_hash, cached_at, created_at, updated_at, last_login, deactivated_at, sync_digest, directory_disabled";

/// The number of columns in [`COLUMNS`].
const NCOLUMNS: usize = 31;

/// Parameters per statement; both databases accept far more, this keeps statements small.
const CHUNK: usize = 500;

/// Parameter markers of one statement, in text order: `$1, $2, …` on PostgreSQL, `?` on SQLite. SQLite finds
/// a numbered marker's name by a linear scan, so a statement of n `$k` markers costs O(n²) to bind: that was
/// 61% of a sync's time with 5,800 markers per INSERT (measured). Anonymous `?` markers bind in O(1).
pub(crate) struct Marks {
    numbered: bool,
    next: usize,
}

impl Marks {
    pub(crate) fn new(conn: &AnyConnection) -> Marks {
        Marks { numbered: conn.backend_name() != "SQLite", next: 1 }
    }

    pub(crate) fn one(&mut self) -> String {
        let mut out = String::with_capacity(6);
        self.push(&mut out);
        out
    }

    /// Appends the next marker to `out`.
    fn push(&mut self, out: &mut String) {
        if self.numbered {
            use std::fmt::Write as _;
            let _ = write!(out, "${}", self.next);
        } else {
            out.push('?');
        }
        self.next += 1;
    }

    /// `n` markers separated by commas, built in one buffer (statements of thousands of markers are built
    /// for every batch of a sync).
    pub(crate) fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 7);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            self.push(&mut out);
        }
        out
    }
}

fn decode(row: &AnyRow) -> Result<Account, sqlx::Error> {
    let mut fields = Fields::default();
    for field in Field::ALL {
        let value = if field == Field::Photo {
            row.try_get::<Option<Vec<u8>>, _>(field.name())?.map(Value::Bytes)
        } else {
            row.try_get::<Option<String>, _>(field.name())?.map(Value::Text)
        };
        fields.set(field, value);
    }
    let source: String = row.try_get("source")?;
    Ok(Account {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        login: row.try_get("login")?,
        auth_name: row.try_get("auth_name")?,
        source: source.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        directory_key: row.try_get("directory_key")?,
        dn: row.try_get("dn")?,
        active: row.try_get::<i64, _>("active")? != 0,
        admin: row.try_get::<i64, _>("admin")? != 0,
        fields,
        groups: BTreeSet::new(),
        app_groups: BTreeSet::new(),
        addresses: Vec::new(),
        password_hash: row.try_get("password_hash")?,
        cached_hash: row.try_get("cached_hash")?,
        cached_at: row.try_get("cached_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_login: row.try_get("last_login")?,
        deactivated_at: row.try_get("deactivated_at")?,
        sync_digest: row.try_get("sync_digest")?,
        directory_disabled: row.try_get::<i64, _>("directory_disabled")? != 0,
    })
}

fn decode_all(rows: &[AnyRow]) -> Result<Vec<Account>, Error> {
    rows.iter().map(decode).collect::<Result<_, _>>().map_err(|e| Error::Corrupt { what: e.to_string() })
}

/// Fills in the memberships and addresses of loaded accounts: one statement per chunk of ids reads both.
async fn with_memberships(conn: &mut AnyConnection, mut accounts: Vec<Account>) -> Result<Vec<Account>, Error> {
    if accounts.is_empty() {
        return Ok(accounts);
    }
    let mut index: HashMap<String, usize> = HashMap::with_capacity(accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        index.insert(a.id.clone(), i);
    }
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let what = "read group memberships and addresses";
    let mut addresses: Vec<(usize, i64, String)> = Vec::new();
    // As many ids per statement as before the addresses were read with them: each is bound twice.
    for chunk in ids.chunks(CHUNK) {
        let mut marks = Marks::new(conn);
        let (first, second) = (marks.list(chunk.len()), marks.list(chunk.len()));
        let sql = format!(
            "SELECT account_id, kind, name, 0 FROM memberships WHERE account_id IN ({first}) \
             UNION ALL SELECT account_id, 'address', address, position FROM addresses \
             WHERE account_id IN ({second}) AND position > 0"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk.iter().chain(chunk) {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(&mut *conn).await.map_err(Error::query(what))?;
        for row in rows {
            let read = || -> Result<(String, String, String, i64), sqlx::Error> {
                Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
            };
            let (id, kind, name, position) = read().map_err(Error::query(what))?;
            if let Some(&i) = index.get(&id) {
                match kind.as_str() {
                    "directory" => drop(accounts[i].groups.insert(name)),
                    "address" => addresses.push((i, position, name)),
                    _ => drop(accounts[i].app_groups.insert(name)),
                };
            }
        }
    }
    addresses.sort_unstable();
    for (i, _, address) in addresses {
        accounts[i].addresses.push(address);
    }
    Ok(accounts)
}

/// The rows of `select` (`SELECT … FROM accounts`) for a domain whose `column` is one of `values`, a
/// chunk of values per statement (`column` and `select` are ours, never input).
async fn select_in(
    conn: &mut AnyConnection,
    select: &str,
    domain: &str,
    column: &str,
    values: &[String],
    what: &'static str,
) -> Result<Vec<AnyRow>, Error> {
    let mut rows = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let mut marks = Marks::new(conn);
        let sql = format!("{select} WHERE domain = {} AND {column} IN ({})", marks.one(), marks.list(chunk.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(domain);
        for v in chunk {
            q = q.bind(v.as_str());
        }
        rows.extend(q.fetch_all(&mut *conn).await.map_err(Error::query(what))?);
    }
    Ok(rows)
}

/// Accounts of a domain whose `column` is one of `values` (`column` is one of ours, never input).
pub(crate) async fn by_column(
    conn: &mut AnyConnection,
    domain: &str,
    column: &'static str,
    values: &[String],
) -> Result<Vec<Account>, Error> {
    let select = format!("SELECT {COLUMNS} FROM accounts");
    let rows = select_in(conn, &select, domain, column, values, "read accounts").await?;
    let accounts = decode_all(&rows)?;
    with_memberships(conn, accounts).await
}

/// The sync digests of a domain's accounts by directory key: key → (digest, active).
pub(crate) async fn digests(
    conn: &mut AnyConnection,
    domain: &str,
    keys: &[String],
) -> Result<HashMap<String, (Option<String>, bool)>, Error> {
    let select = "SELECT directory_key, sync_digest, active FROM accounts";
    let rows = select_in(conn, select, domain, "directory_key", keys, "read sync digests").await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let read = || -> Result<_, sqlx::Error> {
            Ok((row.try_get::<String, _>(0)?, row.try_get::<Option<String>, _>(1)?, row.try_get::<i64, _>(2)? != 0))
        };
        let (key, digest, active) = read().map_err(Error::query("read sync digests"))?;
        out.insert(key, (digest, active));
    }
    Ok(out)
}

/// Every account of a domain, or of all domains.
pub(crate) async fn all(conn: &mut AnyConnection, domain: Option<&str>) -> Result<Vec<Account>, Error> {
    let rows = match domain {
        Some(d) => {
            sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM accounts WHERE domain = $1 ORDER BY login")))
                .bind(d)
                .fetch_all(&mut *conn)
                .await
        }
        None => {
            sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM accounts ORDER BY domain, login")))
                .fetch_all(&mut *conn)
                .await
        }
    }
    .map_err(Error::query("list accounts"))?;
    let accounts = decode_all(&rows)?;
    with_memberships(conn, accounts).await
}

pub(crate) async fn logins_starting_with(
    conn: &mut AnyConnection,
    domain: &str,
    base: &str,
) -> Result<BTreeSet<String>, Error> {
    // A range scan on the (domain, login) index instead of LIKE, which needs escaping and differs by database.
    let rows = sqlx::query("SELECT login FROM accounts WHERE domain = $1 AND login >= $2 AND login < $3")
        .bind(domain)
        .bind(base)
        .bind(format!("{base}\u{10FFFF}"))
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::query("read account names"))?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0))
        .filter(|r| r.as_ref().map_or(true, |l| l.starts_with(base)))
        .collect::<Result<_, _>>()
        .map_err(Error::query("read account names"))
}

/// One value of an account's row, typed so that a NULL is bound with its column's type.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Text(Option<&'a str>),
    Bytes(Option<&'a [u8]>),
    Int(Option<i64>),
}

impl Cell<'_> {
    fn is_null(self) -> bool {
        matches!(self, Cell::Text(None) | Cell::Bytes(None) | Cell::Int(None))
    }
}

/// [`cells`] gives 9 columns, the fields, then 9 more: every column once.
const _: () = assert!(9 + Field::ALL.len() + 9 == NCOLUMNS);

/// An account's row, in the order of [`COLUMNS`].
fn cells(a: &Account) -> [Cell<'_>; NCOLUMNS] {
    let text = Cell::Text;
    let mut row = [Cell::Int(None); NCOLUMNS];
    let head = [
        text(Some(&a.id)),
        text(Some(&a.domain)),
        text(Some(&a.login)),
        text(Some(&a.auth_name)),
        text(Some(a.source.name())),
        text(a.directory_key.as_deref()),
        text(a.dn.as_deref()),
        Cell::Int(Some(i64::from(a.active))),
        Cell::Int(Some(i64::from(a.admin))),
    ];
    let fields = Field::ALL.map(|field| match (field, a.fields.get(field)) {
        (Field::Photo, Some(Value::Bytes(b))) => Cell::Bytes(Some(b.as_slice())),
        (Field::Photo, _) => Cell::Bytes(None),
        (_, Some(Value::Text(t))) => text(Some(t)),
        (_, _) => text(None),
    });
    let tail = [
        text(a.password_hash.as_deref()),
        text(a.cached_hash.as_deref()),
        Cell::Int(a.cached_at),
        Cell::Int(Some(a.created_at)),
        Cell::Int(Some(a.updated_at)),
        Cell::Int(a.last_login),
        Cell::Int(a.deactivated_at),
        text(a.sync_digest.as_deref()),
        Cell::Int(Some(i64::from(a.directory_disabled))),
    ];
    for (slot, cell) in row.iter_mut().zip(head.into_iter().chain(fields).chain(tail)) {
        *slot = cell;
    }
    row
}

fn bind_cell<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    cell: Cell<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match cell {
        Cell::Text(v) => q.bind(v),
        Cell::Bytes(v) => q.bind(v),
        Cell::Int(v) => q.bind(v),
    }
}

fn bind_account<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &'q Account,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    cells(a).into_iter().fold(q, bind_cell)
}

fn conflict(a: &Account) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |err| {
        if is_unique_violation(&err) {
            Error::Conflict { domain: a.domain.clone(), login: a.login.clone() }
        } else {
            Error::Query { what: "write an account", source: err }
        }
    }
}

/// Inserts one account: [`insert_many`] of one.
pub(crate) async fn insert(conn: &mut AnyConnection, a: &Account) -> Result<(), Error> {
    insert_many(conn, std::slice::from_ref(a)).await
}

/// Accounts per multi-row INSERT (at most 31 parameters each: well under both databases' limits).
const ROWS_PER_INSERT: usize = 200;

/// Inserts accounts with few statements; any failure fails the whole call (the caller then retries one by
/// one to find the culprit).
pub(crate) async fn insert_many(conn: &mut AnyConnection, accounts: &[Account]) -> Result<(), Error> {
    let names: Vec<&str> = COLUMNS.split(", ").collect();
    for chunk in accounts.chunks(ROWS_PER_INSERT) {
        // A column that is NULL in every row is left out (it has no default but NULL): a sync's new accounts
        // leave most of them empty (the unmapped fields, the password hashes, the times of logins), and
        // every value bound costs CPU in sqlx and SQLite.
        let mut used = [false; NCOLUMNS];
        for a in chunk {
            for (used, cell) in used.iter_mut().zip(cells(a)) {
                *used |= !cell.is_null();
            }
        }
        let columns: Vec<usize> = (0..NCOLUMNS).filter(|&i| used[i]).collect();
        let listed: Vec<&str> = columns.iter().map(|&i| names[i]).collect();
        let mut marks = Marks::new(conn);
        let mut sql = format!("INSERT INTO accounts ({}) VALUES ", listed.join(", "));
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&marks.list(columns.len()));
            sql.push(')');
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in chunk {
            let row = cells(a);
            for &i in &columns {
                q = bind_cell(q, row[i]);
            }
        }
        q.execute(&mut *conn).await.map_err(|e| conflict(&chunk[0])(e))?;
    }
    insert_memberships_of(conn, accounts).await
}

/// Writes the memberships and the addresses of new accounts.
async fn insert_memberships_of(conn: &mut AnyConnection, accounts: &[Account]) -> Result<(), Error> {
    insert_groups_of(conn, accounts).await?;
    crate::addresses::insert_of(conn, accounts).await
}

/// Writes the group memberships of accounts.
async fn insert_groups_of(conn: &mut AnyConnection, accounts: &[Account]) -> Result<(), Error> {
    let rows: Vec<(&str, &str, &str)> = accounts
        .iter()
        .flat_map(|a| {
            a.groups
                .iter()
                .map(|g| (a.id.as_str(), "directory", g.as_str()))
                .chain(a.app_groups.iter().map(|g| (a.id.as_str(), "app", g.as_str())))
        })
        .collect();
    let head = "INSERT INTO memberships (account_id, kind, name) VALUES ";
    insert_rows(
        conn,
        head,
        3,
        &rows,
        |q, (id, kind, name)| q.bind(*id).bind(*kind).bind(*name),
        "write group memberships",
    )
    .await
}

/// Inserts `rows` of `width` columns with multi-row INSERTs that start with `head` (ours, never input).
pub(crate) async fn insert_rows<'r, R>(
    conn: &mut AnyConnection,
    head: &str,
    width: usize,
    rows: &'r [R],
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        &'q R,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    what: &'static str,
) -> Result<(), Error> {
    // 2,000 rows per statement, as the memberships were always written (6,000 parameters at width 3).
    for chunk in rows.chunks(CHUNK * 4) {
        let mut marks = Marks::new(conn);
        let mut sql = head.to_owned();
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&marks.list(width));
            sql.push(')');
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            q = bind(q, row);
        }
        q.execute(&mut *conn).await.map_err(Error::query(what))?;
    }
    Ok(())
}

pub(crate) async fn update(conn: &mut AnyConnection, a: &Account, before: &Account) -> Result<(), Error> {
    let sets: Vec<String> = COLUMNS.split(", ").enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    let sql = format!("UPDATE accounts SET {} WHERE id = $1", sets.join(", "));
    bind_account(sqlx::query(AssertSqlSafe(sql)), a).execute(&mut *conn).await.map_err(conflict(a))?;
    if a.groups != before.groups || a.app_groups != before.app_groups {
        sqlx::query("DELETE FROM memberships WHERE account_id = $1")
            .bind(a.id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(Error::query("write group memberships"))?;
        insert_groups_of(conn, std::slice::from_ref(a)).await?;
    }
    if a.all_addresses() != before.all_addresses() {
        crate::addresses::delete_of(conn, &a.id).await?;
        crate::addresses::insert_of(conn, std::slice::from_ref(a)).await?;
    }
    Ok(())
}

pub(crate) async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool, Error> {
    crate::addresses::delete_of(conn, id).await?;
    sqlx::query("DELETE FROM memberships WHERE account_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(Error::query("delete an account"))?;
    let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(Error::query("delete an account"))?;
    Ok(done.rows_affected() > 0)
}

/// Streams a domain's active directory accounts and keeps those `listed` rejects, as (id, login); returns
/// them with the number of accounts read. Rows are not collected: memory stays flat with millions.
pub(crate) async fn unlisted_active_directory(
    conn: &mut AnyConnection,
    domain: &str,
    listed: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(Vec<(String, String)>, u64), Error> {
    use futures::TryStreamExt;
    let mut rows = sqlx::query(
        "SELECT id, directory_key, login FROM accounts \
         WHERE domain = $1 AND source = 'directory' AND active = 1 AND directory_key IS NOT NULL",
    )
    .bind(domain)
    .fetch(&mut *conn);
    let (mut out, mut total) = (Vec::new(), 0u64);
    while let Some(row) = rows.try_next().await.map_err(Error::query("read active directory accounts"))? {
        total += 1;
        let key: String = row.try_get(1).map_err(Error::query("read active directory accounts"))?;
        if !listed(&key) {
            let id = row.try_get(0).map_err(Error::query("read active directory accounts"))?;
            let login = row.try_get(2).map_err(Error::query("read active directory accounts"))?;
            out.push((id, login));
        }
    }
    Ok((out, total))
}

/// Accounts per page of [`sync_index`] on SQLite (about 120 bytes each in the page's text).
const INDEX_PAGE: i64 = 5000;

/// Streams what a sync needs of each account of a domain to `each`; returns how many were read. Rows are
/// not collected: memory stays flat with millions. On SQLite the accounts come packed, a page of
/// [`INDEX_PAGE`] in one text value: sqlx hands the rows of a statement over one by one from its worker
/// thread (~12 µs each, measured: 1.2 s for 100,000 accounts), a page costs the same as a row.
pub(crate) async fn sync_index(
    conn: &mut AnyConnection,
    domain: &str,
    each: &mut (dyn FnMut(crate::SyncRow<'_>) + Send),
) -> Result<u64, Error> {
    if conn.backend_name() == "SQLite" {
        return sync_index_packed(conn, domain, each).await;
    }
    use futures::TryStreamExt;
    const WHAT: &str = "read the accounts' sync state";
    let mut rows = sqlx::query(
        "SELECT directory_key, sync_digest, active, login, auth_name, source, directory_disabled FROM accounts \
         WHERE domain = $1",
    )
    .bind(domain)
    .fetch(&mut *conn);
    let mut total = 0u64;
    while let Some(row) = rows.try_next().await.map_err(Error::query(WHAT))? {
        total += 1;
        let read = || -> Result<_, sqlx::Error> {
            Ok((
                row.try_get::<Option<String>, _>(0)?,
                row.try_get::<Option<String>, _>(1)?,
                row.try_get::<i64, _>(2)? != 0,
                row.try_get::<String, _>(3)?,
                row.try_get::<String, _>(4)?,
                row.try_get::<String, _>(5)?,
                row.try_get::<i64, _>(6)? != 0,
            ))
        };
        let (key, digest, active, login, auth_name, source, disabled) = read().map_err(Error::query(WHAT))?;
        let claimable = crate::account::claimable(source == "directory", key.is_some(), active, disabled);
        each(crate::SyncRow {
            key: key.as_deref(),
            digest: digest.as_deref(),
            active,
            login: &login,
            auth_name: &auth_name,
            claimable,
        });
    }
    Ok(total)
}

/// [`sync_index`] on SQLite: pages of accounts in rowid order, each packed into one text value of fields
/// written `<bytes>:<text>` (`~` for NULL) and three flags (active, from the directory, disabled).
async fn sync_index_packed(
    conn: &mut AnyConnection,
    domain: &str,
    each: &mut (dyn FnMut(crate::SyncRow<'_>) + Send),
) -> Result<u64, Error> {
    const WHAT: &str = "read the accounts' sync state";
    fn field(column: &str) -> String {
        format!("CASE WHEN {column} IS NULL THEN '~' ELSE length(CAST({column} AS BLOB)) || ':' || {column} END")
    }
    let packed = [field("directory_key"), field("sync_digest"), field("login"), field("auth_name")].join(" || ");
    // Pages in rowid order, the table's own: a scan, no index (`+domain` keeps the planner off the
    // (domain, login) index, which made each page sort the whole domain: 0.7 s for 100,000 accounts).
    let sql = format!(
        "SELECT group_concat({packed} || (active <> 0) || (source = 'directory') || (directory_disabled <> 0), ''), \
         max(r), count(*) FROM (SELECT rowid AS r, * FROM accounts WHERE rowid > ? AND +domain = ? ORDER BY rowid \
         LIMIT {INDEX_PAGE})"
    );
    let (mut after, mut total) = (0i64, 0u64);
    loop {
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(after)
            .bind(domain)
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::query(WHAT))?;
        let read = || -> Result<_, sqlx::Error> {
            Ok((row.try_get::<Option<String>, _>(0)?, row.try_get::<Option<i64>, _>(1)?, row.try_get::<i64, _>(2)?))
        };
        let (text, last, count) = read().map_err(Error::query(WHAT))?;
        let (Some(text), Some(last)) = (text, last) else { break };
        let read = unpack(&text, each).ok_or_else(|| Error::Corrupt { what: "a packed page of accounts".into() })?;
        if read != count as u64 {
            return Err(Error::Corrupt { what: format!("a packed page of {count} accounts held {read}") });
        }
        total += read;
        if count < INDEX_PAGE {
            break;
        }
        after = last;
    }
    Ok(total)
}

/// Hands `each` the accounts of one packed page; returns how many, None when the text is malformed.
fn unpack(text: &str, each: &mut (dyn FnMut(crate::SyncRow<'_>) + Send)) -> Option<u64> {
    fn field<'t>(rest: &mut &'t str) -> Option<Option<&'t str>> {
        if let Some(after) = rest.strip_prefix('~') {
            *rest = after;
            return Some(None);
        }
        let (len, after) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let value = after.get(..len)?;
        *rest = &after[len..];
        Some(Some(value))
    }
    fn flag(rest: &mut &str) -> Option<bool> {
        let value = match rest.as_bytes().first()? {
            b'0' => false,
            b'1' => true,
            _ => return None,
        };
        *rest = &rest[1..];
        Some(value)
    }
    let (mut rest, mut n) = (text, 0u64);
    while !rest.is_empty() {
        let (key, digest) = (field(&mut rest)?, field(&mut rest)?);
        let (login, auth_name) = (field(&mut rest)??, field(&mut rest)??);
        let (active, directory, disabled) = (flag(&mut rest)?, flag(&mut rest)?, flag(&mut rest)?);
        let claimable = crate::account::claimable(directory, key.is_some(), active, disabled);
        each(crate::SyncRow { key, digest, active, login, auth_name, claimable });
        n += 1;
    }
    Some(n)
}

pub(crate) async fn count_active_directory(conn: &mut AnyConnection, domain: &str) -> Result<u64, Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM accounts \
         WHERE domain = $1 AND source = 'directory' AND active = 1 AND directory_key IS NOT NULL",
    )
    .bind(domain)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::query("count active directory accounts"))?;
    let n: i64 = row.try_get(0).map_err(Error::query("count active directory accounts"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Flags the accounts of these directory keys as disabled in the directory (and so inactive).
pub(crate) async fn mark_directory_disabled(
    conn: &mut AnyConnection,
    domain: &str,
    keys: &[String],
) -> Result<(), Error> {
    for chunk in keys.chunks(CHUNK) {
        let mut marks = Marks::new(conn);
        let sql = format!(
            "UPDATE accounts SET directory_disabled = 1 WHERE active = 0 AND domain = {} AND directory_key IN ({})",
            marks.one(),
            marks.list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(domain);
        for key in chunk {
            q = q.bind(key.as_str());
        }
        q.execute(&mut *conn).await.map_err(Error::query("flag accounts disabled in the directory"))?;
    }
    Ok(())
}

pub(crate) async fn deactivate(conn: &mut AnyConnection, ids: &[String], now: i64) -> Result<u64, Error> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut marks = Marks::new(conn);
        let sql = format!(
            "UPDATE accounts SET active = 0, deactivated_at = {}, updated_at = {} WHERE active = 1 AND id IN ({})",
            marks.one(),
            marks.one(),
            marks.list(chunk.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(now);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        n += q.execute(&mut *conn).await.map_err(Error::query("deactivate accounts"))?.rows_affected();
    }
    Ok(n)
}

pub(crate) async fn cookie(conn: &mut AnyConnection, domain: &str) -> Result<Option<Vec<u8>>, Error> {
    let row = sqlx::query("SELECT cookie FROM sync_state WHERE domain = $1")
        .bind(domain)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::query("read the sync state"))?;
    match row {
        Some(r) => r.try_get::<Option<Vec<u8>>, _>(0).map_err(Error::query("read the sync state")),
        None => Ok(None),
    }
}

pub(crate) async fn set_cookie(
    conn: &mut AnyConnection,
    domain: &str,
    cookie: Option<&[u8]>,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sync_state (domain, cookie, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (domain) DO UPDATE SET cookie = excluded.cookie, updated_at = excluded.updated_at",
    )
    .bind(domain)
    .bind(cookie)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(Error::query("write the sync state"))?;
    Ok(())
}
