//! The `addresses` table (migrations 0005, 0008): every account's mail addresses but its canonical one,
//! written with the account, and the lookup by address that Postfix's tables make (indexed reads, no
//! directory). The canonical address `login@domain` is not a row: it follows from the account's columns, and
//! the lookup finds it there (configured domains hold no `@`, so an address splits at its last one).

use sqlx::{AnyConnection, Row};

use crate::{Account, Error, query::insert_rows};

/// An active account that holds an address, as a lookup by address finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressOwner {
    /// The account's domain.
    pub domain: String,
    /// The account's login.
    pub login: String,
    /// Where the address stands among the account's: 0 the canonical `login@domain`, 1 the primary, then
    /// the aliases.
    pub position: i64,
    /// When the account was created (the older account wins a tie).
    pub created_at: i64,
}

/// Writes the address rows of accounts: [`Account::all_addresses`] but the canonical first one (position 0,
/// not stored), at positions 1 and on.
pub(crate) async fn insert_of(conn: &mut AnyConnection, accounts: &[Account]) -> Result<(), Error> {
    let rows: Vec<(&str, String, i64)> = accounts
        .iter()
        .flat_map(|a| {
            a.all_addresses().into_iter().zip(0i64..).skip(1).map(move |(address, i)| (a.id.as_str(), address, i))
        })
        .collect();
    let head = "INSERT INTO addresses (account_id, address, position) VALUES ";
    insert_rows(conn, head, 3, &rows, |q, (id, address, i)| q.bind(*id).bind(address.as_str()).bind(*i), WRITE).await
}

const WRITE: &str = "write mail addresses";

/// Removes an account's address rows.
pub(crate) async fn delete_of(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM addresses WHERE account_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(Error::query(WRITE))?;
    Ok(())
}

/// The active accounts holding `address` (lowercase), best claim first: the lowest position, then the
/// oldest account.
pub(crate) async fn owners(conn: &mut AnyConnection, address: &str) -> Result<Vec<AddressOwner>, Error> {
    const WHAT: &str = "look up a mail address";
    // The canonical address `login@domain` (position 0) from the account's columns; without an `@`, none.
    let (login, domain) = address.rsplit_once('@').unwrap_or(("", ""));
    let rows = sqlx::query(
        "SELECT a.domain, a.login, x.position, a.created_at FROM addresses x JOIN accounts a ON a.id = x.account_id \
         WHERE x.address = $1 AND a.active = 1 \
         UNION ALL SELECT domain, login, 0, created_at FROM accounts WHERE domain = $2 AND login = $3 AND active = 1",
    )
    .bind(address)
    .bind(domain)
    .bind(login)
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::query(WHAT))?;
    let mut owners = rows
        .iter()
        .map(|row| {
            Ok(AddressOwner {
                domain: row.try_get(0)?,
                login: row.try_get(1)?,
                position: row.try_get(2)?,
                created_at: row.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(Error::query(WHAT))?;
    owners.sort_by(|a, b| (a.position, a.created_at, &a.login).cmp(&(b.position, b.created_at, &b.login)));
    Ok(owners)
}
