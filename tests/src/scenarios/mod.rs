//! The scenarios, grouped by area. Each is an `async fn` over the `dbcore` traits that
//! panics with a message saying what went wrong; each creates its own uniquely named
//! tables and drops them, so scenarios can share a database and run concurrently.

pub mod bulk;
pub mod crud;
pub mod errors;
pub mod faults;
pub mod observe;
pub mod placeholders;
pub mod pool;
pub mod safety;
pub mod transactions;
pub mod typed;
