//! Worker threads: each pooled connection is used by one dedicated OS thread at a time,
//! fed from one shared queue, so blocking SQLite work (lock waits, fsync, long scans)
//! never runs on the async executor. A transaction pins its worker: the worker serves
//! the transaction's private channel until it commits, rolls back or is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use dbcore::{Error, Result, TxOptions};
use rusqlite::InterruptHandle;
use tokio::sync::oneshot;

use crate::error::map_error;
use crate::exec::{self, Op, Output};
use crate::manager::{Conn, DeadlineGuard, Manager};
use crate::stats::Counters;

pub(crate) type Pool = r2d2::Pool<Manager>;
pub(crate) type Pooled = r2d2::PooledConnection<Manager>;

/// Work for any free worker.
pub(crate) enum Job {
    /// Run one operation on any connection.
    Run {
        op: Op,
        reply: oneshot::Sender<Result<Output>>,
        enqueued: Instant,
    },
    /// Start a transaction and serve it until it ends.
    Begin {
        options: TxOptions,
        reply: oneshot::Sender<Result<TxChannel>>,
        enqueued: Instant,
    },
}

/// The async side's handle on a pinned worker.
pub(crate) struct TxChannel {
    pub(crate) commands: Sender<TxCommand>,
    pub(crate) interrupt: Arc<InterruptHandle>,
}

/// A command for a pinned transaction worker. Commands run in the order sent.
pub(crate) enum TxCommand {
    Run {
        op: Op,
        deadline: Option<Instant>,
        reply: oneshot::Sender<Result<Output>>,
    },
    /// Run SQL that controls the transaction (savepoints), replying when done.
    Control {
        sql: String,
        reply: Option<oneshot::Sender<Result<Output>>>,
    },
    /// End the transaction.
    Finish {
        commit: bool,
        reply: Option<oneshot::Sender<Result<Output>>>,
    },
}

/// Everything a worker thread needs.
pub(crate) struct WorkerContext {
    pub(crate) jobs: Receiver<Job>,
    pub(crate) pool: Pool,
    pub(crate) acquire_timeout: Duration,
    pub(crate) counters: Arc<Counters>,
}

/// Starts `n` worker threads.
pub(crate) fn spawn_workers(
    n: usize,
    ctx: impl Fn() -> WorkerContext,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    (0..n)
        .map(|i| {
            let ctx = ctx();
            std::thread::Builder::new()
                .name(format!("db-sqlite-{i}"))
                .spawn(move || worker_loop(ctx))
        })
        .collect()
}

fn worker_loop(ctx: WorkerContext) {
    while let Ok(job) = ctx.jobs.recv() {
        match job {
            Job::Run {
                op,
                reply,
                enqueued,
            } => {
                if reply.is_closed() {
                    continue; // the caller gave up (cancelled future)
                }
                let result = acquire(&ctx, enqueued).and_then(|mut conn| {
                    let _deadline = DeadlineGuard::set(None);
                    guarded(&mut conn, |c| exec::run(&c.conn, op))
                });
                let _ = reply.send(result);
            }
            Job::Begin {
                options,
                reply,
                enqueued,
            } => {
                if reply.is_closed() {
                    continue;
                }
                match acquire(&ctx, enqueued) {
                    Ok(conn) => serve_transaction(conn, options, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
}

/// Takes a connection for a job that was queued at `enqueued`, honouring the pool
/// timeout from the moment the caller asked.
fn acquire(ctx: &WorkerContext, enqueued: Instant) -> Result<Pooled> {
    let waited = enqueued.elapsed();
    let remaining = ctx.acquire_timeout.saturating_sub(waited);
    if remaining.is_zero() {
        ctx.counters.record_timeout();
        return Err(Error::PoolTimeout(ctx.acquire_timeout));
    }
    match ctx.pool.get_timeout(remaining) {
        Ok(conn) => {
            ctx.counters.record_wait(enqueued.elapsed());
            Ok(conn)
        }
        Err(e) => {
            ctx.counters.record_timeout();
            match e.to_string() {
                // r2d2 reports the last connection error, if creating one failed.
                msg if msg.contains("timed out waiting for connection:") => Err(Error::database(
                    dbcore::DatabaseType::Sqlite,
                    dbcore::ErrorKind::Connect,
                    None,
                    format!("could not open a new connection: {msg}"),
                    None,
                )),
                _ => Err(Error::PoolTimeout(ctx.acquire_timeout)),
            }
        }
    }
}

/// Runs `f`, marking the connection broken if it panics.
fn guarded<T>(conn: &mut Pooled, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
    let c: &mut Conn = conn;
    match catch_unwind(AssertUnwindSafe(|| f(&mut *c))) {
        Ok(r) => r,
        Err(_) => {
            c.broken = true;
            Err(Error::Internal(
                "a panic occurred while running a SQLite operation; the connection was discarded"
                    .into(),
            ))
        }
    }
}

fn begin_sql(options: &TxOptions) -> &'static str {
    // Write transactions take the write lock up front: a deferred read-then-write
    // upgrade fails at once with SQLITE_BUSY, bypassing the busy timeout.
    if options.read_only {
        "BEGIN DEFERRED"
    } else {
        "BEGIN IMMEDIATE"
    }
}

fn serve_transaction(
    mut conn: Pooled,
    options: TxOptions,
    reply: oneshot::Sender<Result<TxChannel>>,
) {
    let deadline = options.timeout.map(|t| Instant::now() + t);
    let started = guarded(&mut conn, |c| {
        let _d = DeadlineGuard::set(deadline);
        c.conn
            .execute_batch(begin_sql(&options))
            .map_err(map_error)?;
        if options.read_only {
            c.query_only = true;
            c.conn
                .execute_batch("PRAGMA query_only = ON")
                .map_err(map_error)?;
        }
        Ok(())
    });
    if let Err(e) = started {
        let _ = finish(&mut conn, false);
        let _ = reply.send(Err(e));
        return;
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let channel = TxChannel {
        commands: tx,
        interrupt: Arc::new(conn.conn.get_interrupt_handle()),
    };
    if reply.send(Ok(channel)).is_err() {
        // The caller was cancelled while BEGIN ran: undo it before the connection is reused.
        let _ = finish(&mut conn, false);
        return;
    }
    loop {
        match rx.recv() {
            Ok(TxCommand::Run {
                op,
                deadline,
                reply,
            }) => {
                let result = guarded(&mut conn, |c| {
                    let _d = DeadlineGuard::set(deadline);
                    exec::run(&c.conn, op)
                });
                let _ = reply.send(result);
            }
            Ok(TxCommand::Control { sql, reply }) => {
                let result = guarded(&mut conn, |c| {
                    c.conn
                        .execute_batch(&sql)
                        .map(|()| Output::Unit)
                        .map_err(map_error)
                });
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                } else if let Err(e) = result {
                    tracing::warn!(target: "db_sqlite", error = %e, "savepoint cleanup failed; the transaction will be rolled back");
                    conn.broken = true;
                }
            }
            Ok(TxCommand::Finish { commit, reply }) => {
                let result = finish(&mut conn, commit);
                if let Some(reply) = reply {
                    let _ = reply.send(result.map(|()| Output::Unit));
                }
                return;
            }
            // Every sender is gone: the transaction was dropped unfinished.
            Err(_) => {
                let _ = finish(&mut conn, false);
                return;
            }
        }
    }
}

/// Ends the transaction on `conn` and restores the connection's clean state. If that
/// cannot be verified the connection is marked broken, so the pool discards it.
fn finish(conn: &mut Pooled, commit: bool) -> Result<()> {
    let c: &mut Conn = conn;
    let result = if c.broken {
        Err(Error::Internal(
            "the transaction's connection failed earlier".into(),
        ))
    } else if commit {
        c.conn.execute_batch("COMMIT").map_err(map_error)
    } else {
        Ok(())
    };
    // After a failed COMMIT (or for a rollback) make sure nothing stays open.
    if !c.conn.is_autocommit() && c.conn.execute_batch("ROLLBACK").is_err() {
        c.broken = true;
    }
    if c.query_only {
        match c.conn.execute_batch("PRAGMA query_only = OFF") {
            Ok(()) => c.query_only = false,
            Err(_) => c.broken = true,
        }
    }
    result
}
