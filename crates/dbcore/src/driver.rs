//! [`Driver`]: how `dbfactory` creates a [`Database`] for a configured type.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::{Database, DatabaseConfig, DatabaseType, Result, RetryEvent};

/// Called before each connect retry, e.g. to show progress.
pub type RetryHook = Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// Options for [`Driver::connect`] beyond the configuration.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Called before each retry of a failed connection attempt.
    pub on_retry: Option<RetryHook>,
}

impl ConnectOptions {
    /// No hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the retry hook.
    pub fn on_retry(mut self, hook: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(hook));
        self
    }

    /// Reports a retry to the hook, if there is one.
    pub fn report_retry(&self, event: &RetryEvent<'_>) {
        if let Some(hook) = &self.on_retry {
            hook(event);
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("on_retry", &self.on_retry.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// A database driver: creates connected [`Database`]s for one [`DatabaseType`].
///
/// Each driver crate exports a unit struct constant implementing it
/// (`db_sqlite::DRIVER`); `dbfactory` keeps a registry of them. Implement it to plug in
/// a driver of your own.
pub trait Driver: Send + Sync + 'static {
    /// The type this driver serves.
    fn database_type(&self) -> DatabaseType;

    /// A short name for messages (`sqlite (rusqlite 0.40)`).
    fn name(&self) -> &'static str;

    /// Connects using the section of `config` for this driver's type (with retry, as
    /// configured), returning a ready pool.
    fn connect<'a>(
        &'a self,
        config: &'a DatabaseConfig,
        options: &'a ConnectOptions,
    ) -> BoxFuture<'a, Result<Box<dyn Database>>>;
}

impl fmt::Debug for dyn Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Driver({})", self.name())
    }
}
