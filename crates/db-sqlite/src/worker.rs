//! Worker threads: each pooled connection is used by one dedicated OS thread at a time,
//! fed from one shared queue, so blocking SQLite work (lock waits, fsync, long scans)
//! never runs on the async executor. A transaction pins its worker: the worker serves
//! the transaction's private channel until it commits, rolls back or is dropped.
//!
//! Cancellation: a job whose caller stopped waiting before a worker took it is skipped;
//! one already running is interrupted by the connection's progress handler, which
//! watches that job's caller ([`CallerGuard`]) and nothing else, so a late cancellation
//! cannot hit the next job on the connection. The interrupted statement's effects are
//! undone by SQLite; a connection left inside a transaction is discarded by the pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use dbcore::{Error, Result, TxOptions};
use rusqlite::InterruptHandle;

use crate::error::map_error;
use crate::exec::{self, Op, Output};
use crate::manager::{CallerGuard, Conn, DeadlineGuard, Manager};
use crate::reply::Reply;
use crate::stats::Counters;

pub(crate) type Pool = r2d2::Pool<Manager>;
pub(crate) type Pooled = r2d2::PooledConnection<Manager>;

/// The pool and the job queue while the database is open; `None` once closed.
pub(crate) type Live = Arc<RwLock<Option<LiveParts>>>;

/// What exists only while the database is open.
pub(crate) struct LiveParts {
    pub(crate) pool: Pool,
    pub(crate) jobs: Sender<Job>,
}

/// Work for any free worker. Jobs queue in one shared MPMC queue, so a busy worker
/// goes straight on to the next job without sleeping.
pub(crate) enum Job {
    /// Run one operation on any connection.
    Run {
        op: Op,
        reply: Reply<Result<Output>>,
        ticket: Ticket,
    },
    /// Start a transaction and serve it until it ends.
    Begin {
        options: TxOptions,
        reply: Reply<Result<TxChannel>>,
        ticket: Ticket,
    },
}

/// Queueing facts about a job.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// When the job was queued, if no worker was idle then: it waits for a connection
    /// (counted in the pool's wait statistics).
    pub(crate) waits_since: Option<Instant>,
}

/// The async side's handle on a pinned worker.
///
/// A statement whose caller stops waiting is skipped if it has not started, and
/// interrupted if it runs (the async side then rolls the transaction back).
pub(crate) struct TxChannel {
    pub(crate) commands: Sender<TxCommand>,
    pub(crate) interrupt: Arc<InterruptHandle>,
}

/// A command for a pinned transaction worker. Commands run in the order sent.
pub(crate) enum TxCommand {
    Run {
        op: Op,
        deadline: Option<Instant>,
        reply: Reply<Result<Output>>,
    },
    /// Run SQL that controls the transaction (savepoints), replying when done.
    Control {
        sql: String,
        reply: Option<Reply<Result<Output>>>,
    },
    /// End the transaction.
    Finish {
        commit: bool,
        reply: Option<Reply<Result<Output>>>,
    },
}

/// Everything a worker thread needs.
pub(crate) struct WorkerContext {
    pub(crate) jobs: Receiver<Job>,
    pub(crate) live: Live,
    pub(crate) acquire_timeout: Duration,
    /// `connMaxLifetime`, also applied to a connection a busy worker keeps.
    pub(crate) max_lifetime: Option<Duration>,
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

/// Whether the worker should run a job: its caller still waits and has not given up.
fn start<T>(ctx: &WorkerContext, ticket: &Ticket, reply: &Reply<T>) -> bool {
    if !reply.start() {
        return false;
    }
    if let Some(since) = ticket.waits_since {
        ctx.counters.record_wait(since.elapsed());
    }
    true
}

fn worker_loop(ctx: WorkerContext) {
    // While jobs keep coming, a worker keeps its connection instead of returning it to
    // the pool between jobs; it gives it back before it sleeps.
    let mut held: Option<Pooled> = None;
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => {
                drop(held.take());
                ctx.counters.worker_idle(true);
                let job = ctx.jobs.recv();
                ctx.counters.worker_idle(false);
                match job {
                    Ok(job) => job,
                    Err(_) => return, // the database was closed or dropped
                }
            }
        };
        match job {
            Job::Run { op, reply, ticket } => {
                if !start(&ctx, &ticket, &reply) {
                    continue;
                }
                let conn = match held.take() {
                    Some(conn) => Ok(conn),
                    None => acquire(&ctx),
                };
                match conn {
                    Ok(mut conn) => {
                        let result = {
                            let _deadline = DeadlineGuard::set(None);
                            // Interrupted if the caller's future is dropped meanwhile.
                            let _caller = CallerGuard::set(reply.caller());
                            guarded(&mut conn, |c| exec::run(&c.conn, op))
                        };
                        // Keep the connection only for a job already waiting; otherwise
                        // return it before answering, so that a caller who looks at the
                        // pool next sees it back.
                        next = ctx.jobs.try_recv().ok();
                        if next.is_some() && is_clean(&ctx, &conn) {
                            held = Some(conn);
                        } else {
                            drop(conn);
                        }
                        let _ = reply.send(result);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Job::Begin {
                options,
                reply,
                ticket,
            } => {
                if !start(&ctx, &ticket, &reply) {
                    continue;
                }
                let conn = match held.take() {
                    Some(conn) => Ok(conn),
                    None => acquire(&ctx),
                };
                match conn {
                    Ok(conn) => serve_transaction(conn, options, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
}

/// Whether a connection may be reused for the next job without going through the pool.
fn is_clean(ctx: &WorkerContext, conn: &Pooled) -> bool {
    !conn.broken
        && !conn.query_only
        && conn.conn.is_autocommit()
        && ctx
            .max_lifetime
            .is_none_or(|max| conn.created.elapsed() < max)
}

/// Takes a connection for a job from the pool. There are as many workers as
/// connections, so one is normally idle; the wait covers a connection being opened or
/// briefly used by an inline read.
fn acquire(ctx: &WorkerContext) -> Result<Pooled> {
    let pool = {
        let live = ctx.live.read().map_err(|_| Error::PoolClosed)?;
        live.as_ref().ok_or(Error::PoolClosed)?.pool.clone()
    };
    pool.get_timeout(ctx.acquire_timeout).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("timed out waiting for connection:") {
            // r2d2 reports the last error from opening a connection.
            Error::database(
                dbcore::DatabaseType::Sqlite,
                dbcore::ErrorKind::Connect,
                None,
                format!("could not open a new connection: {msg}"),
                None,
            )
        } else {
            Error::PoolTimeout(ctx.acquire_timeout)
        }
    })
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

fn serve_transaction(mut conn: Pooled, options: TxOptions, reply: Reply<Result<TxChannel>>) {
    let span = dbcore::observe::transaction_span(dbcore::DatabaseType::Sqlite, &options);
    let _entered = span.enter();
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
    if !reply.send(Ok(channel)) {
        // The caller was cancelled while BEGIN ran: undo it before the connection is reused.
        let _ = finish(&mut conn, false);
        return;
    }
    loop {
        match next_command(&rx) {
            Ok(TxCommand::Run {
                op,
                deadline,
                reply,
            }) => {
                if !reply.start() {
                    continue; // cancelled before it started
                }
                if conn.conn.is_autocommit() {
                    let _ = reply.send(Err(ended_underneath()));
                    continue;
                }
                let result = guarded(&mut conn, |c| {
                    let _d = DeadlineGuard::set(deadline);
                    let _caller = CallerGuard::set(reply.caller());
                    exec::run(&c.conn, op)
                });
                let _ = reply.send(result);
            }
            Ok(TxCommand::Control { sql, reply }) => {
                if conn.conn.is_autocommit() {
                    // Nothing to release or roll back to; SAVEPOINT would open a new
                    // transaction outside this one.
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(ended_underneath()));
                    }
                    continue;
                }
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
                dbcore::observe::record_end(&span, commit, &result);
                drop(conn); // back to the pool before the caller hears the outcome
                if let Some(reply) = reply {
                    let _ = reply.send(result.map(|()| Output::Unit));
                }
                return;
            }
            // Every sender is gone: the transaction was dropped unfinished.
            Err(_) => {
                dbcore::observe::record_outcome(&span, "dropped");
                let _ = finish(&mut conn, false);
                return;
            }
        }
    }
}

/// The transaction is no longer open on its connection although it was not finished:
/// SQLite rolled it back itself, as it does when a write statement is interrupted (a
/// cancelled future, a deadline) or fails with a full disk or an I/O error. Running the
/// command would run it outside any transaction, committed at once.
fn ended_underneath() -> Error {
    Error::database(
        dbcore::DatabaseType::Sqlite,
        dbcore::ErrorKind::Other,
        None,
        "the transaction is no longer open: SQLite rolled it back after an interrupted or \
         failed statement (or SQL run in it ended it); nothing more runs in it",
        None,
    )
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

/// How long a transaction's worker keeps looking for the next statement before it
/// sleeps. Statements of one transaction usually follow each other within microseconds;
/// waking a sleeping thread costs 5–20 µs on small VMs, per statement. The transaction
/// holds SQLite's write lock meanwhile, so finishing it sooner also helps every writer.
const TX_SPIN: Duration = Duration::from_micros(50);

/// The transaction's next command: looked for (yielding the CPU between looks) for up
/// to [`TX_SPIN`], then waited for.
fn next_command(
    rx: &Receiver<TxCommand>,
) -> std::result::Result<TxCommand, crossbeam_channel::RecvError> {
    let started = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(command) => return Ok(command),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return Err(crossbeam_channel::RecvError);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if started.elapsed() >= TX_SPIN {
            return rx.recv();
        }
        std::thread::yield_now();
    }
}
