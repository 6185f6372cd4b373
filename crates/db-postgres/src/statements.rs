//! The prepared statements of one SQL text, per connection, kept with the SQL itself
//! ([`PreparedSql::driver_state`]).
//!
//! deadpool's `prepare_cached` finds a connection's statement by hashing the SQL text
//! (SipHash) under the connection cache's lock, then clones two reference counts: about
//! 700 instructions per statement, a twentieth of a point select's client work. The
//! layer has already found the SQL's [`PreparedSql`] (from the calling thread's own
//! cache), so the statement is looked up there instead: a short list of the connections
//! this copy of the SQL has run on, searched by the connection's identity. A miss goes
//! through `prepare_cached`, so both caches hold the same server-side statement.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use dbcore::PreparedSql;
use deadpool_postgres::{ClientWrapper, StatementCache};
use tokio_postgres::Statement;

/// Connections remembered per SQL copy; more are dropped (the pool is usually smaller).
const MAX_CONNECTIONS: usize = 64;

/// One SQL's prepared statements, one per connection it ran on.
#[derive(Default)]
pub(crate) struct Statements {
    entries: Mutex<Vec<Entry>>,
}

/// A connection's statement. The connection is identified by its deadpool statement
/// cache: unique per connection, and a weak reference keeps the address from being
/// reused by a later connection while the entry lives.
struct Entry {
    connection: Weak<StatementCache>,
    statement: Statement,
}

impl Statements {
    /// `sql`'s table (none when the SQL was not from a cache and holds another type,
    /// which does not happen in this driver).
    pub(crate) fn of(sql: &PreparedSql) -> Option<&Statements> {
        sql.driver_state::<Statements>()
    }

    /// The statement prepared on `client`'s connection, if this SQL copy has one.
    pub(crate) fn get(&self, client: &ClientWrapper) -> Option<Statement> {
        let key = Arc::as_ptr(&client.statement_cache);
        self.lock()
            .iter()
            .find(|e| e.connection.as_ptr() == key)
            .map(|e| e.statement.clone())
    }

    /// Remembers `statement` for `client`'s connection, forgetting closed connections.
    pub(crate) fn insert(&self, client: &ClientWrapper, statement: Statement) {
        let key = Arc::as_ptr(&client.statement_cache);
        let mut entries = self.lock();
        entries.retain(|e| e.connection.strong_count() > 0 && e.connection.as_ptr() != key);
        if entries.len() >= MAX_CONNECTIONS {
            entries.remove(0);
        }
        entries.push(Entry {
            connection: Arc::downgrade(&client.statement_cache),
            statement,
        });
    }

    /// Forgets `client`'s statement (the server no longer has it, or its plan is stale).
    pub(crate) fn remove(&self, client: &ClientWrapper) {
        let key = Arc::as_ptr(&client.statement_cache);
        self.lock().retain(|e| e.connection.as_ptr() != key);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
