//! Implementations under test: the per-implementation operation traits, the generic
//! loops that time them, and the [`Suite`] of one backend.
//!
//! A backend adds a module like [`crate::sqlite`] that implements [`SyncOps`] or
//! [`AsyncOps`] for its raw driver and for our layer, and builds its [`Suite`]: one
//! [`Implementation`] per row group, each able to open itself on a fresh database.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::measure::{BenchResult, Clock, KeyGen, Measurement, Recorder, duration_ns};
use crate::workload::{Settings, TX_UPDATES, TxKeys, Workload};

/// A backend that can be benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Driver {
    /// SQLite: db-sqlite against rusqlite.
    Sqlite,
    /// PostgreSQL: db-postgres against tokio-postgres through deadpool-postgres.
    Postgres,
    /// MySQL / MariaDB: db-mysql against mysql_async.
    Mysql,
}

impl Driver {
    /// Every backend, in report order.
    pub(crate) const ALL: [Driver; 3] = [Driver::Sqlite, Driver::Postgres, Driver::Mysql];

    /// The name in headings.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Driver::Sqlite => "SQLite",
            Driver::Postgres => "PostgreSQL",
            Driver::Mysql => "MySQL / MariaDB",
        }
    }
}

/// Opens an implementation on a fresh database (fresh tables) for one measurement.
pub(crate) type Opener = Box<dyn Fn(&Settings) -> BenchResult<Box<dyn Target>>>;

/// The footer note of a suite with an [`Implementation::aa_control`] row.
pub(crate) const AA_CONTROL_NOTE: &str = "A/A control: the raw row's code measured again as an \
     implementation of its own (own pool, runtime and connections), slices interleaved like \
     every other row. Its × raw is what this run reads between two identical implementations: \
     a row's distance from 1.00 that is no larger than the control's is not told apart from \
     noise. Targets are still judged against the raw row.";

/// One row group of the report: an implementation and how to open it.
pub(crate) struct Implementation {
    /// The label in the table.
    pub(crate) label: &'static str,
    /// The raw driver every other row of the suite is compared with (`× raw`).
    pub(crate) baseline: bool,
    /// The targets of this row per workload (none for the baseline and for rows shown
    /// for reference only).
    pub(crate) targets: &'static [(Workload, Goal)],
    /// Creates fresh tables (or a fresh database) and connects to them.
    pub(crate) open: Opener,
}

/// A performance target of one row on one workload: the highest acceptable `× raw`
/// (baseline rate / this row's rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Goal {
    /// The highest acceptable ratio.
    pub(crate) max_ratio: f64,
    /// How the target was stated (`within 5%`, `≥ 0.9× raw`).
    pub(crate) stated: &'static str,
}

impl Implementation {
    /// The A/A control row: the baseline's code (`open`) measured again as a row of its
    /// own, without targets (see [`AA_CONTROL_NOTE`]).
    pub(crate) fn aa_control(open: Opener) -> Self {
        Implementation {
            label: "the same raw code again (A/A control)",
            baseline: false,
            targets: &[],
            open,
        }
    }

    /// The goal of this row on `workload`, if it has one.
    pub(crate) fn goal(&self, workload: Workload) -> Option<Goal> {
        self.targets
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, t)| *t)
    }
}

impl fmt::Debug for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Implementation")
            .field("label", &self.label)
            .field("baseline", &self.baseline)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

/// Clean-up at the end of a suite (drops the schema or database of the run).
pub(crate) type Cleanup = Box<dyn FnOnce() -> BenchResult<()>>;

/// Everything benchmarked for one backend, and what the report says about it.
pub(crate) struct Suite {
    /// The backend.
    pub(crate) driver: Driver,
    /// The rows, baseline first.
    pub(crate) implementations: Vec<Implementation>,
    /// Lines for the notes under the table: where the databases live, how each
    /// implementation is configured.
    pub(crate) notes: Vec<String>,
    /// Lines for the versions list (server, crates).
    pub(crate) versions: Vec<String>,
    cleanup: Option<Cleanup>,
}

impl Suite {
    /// A suite; `cleanup` runs in [`Suite::finish`] (or when the suite is dropped).
    pub(crate) fn new(
        driver: Driver,
        implementations: Vec<Implementation>,
        notes: Vec<String>,
        versions: Vec<String>,
        cleanup: Option<Cleanup>,
    ) -> Self {
        Suite {
            driver,
            implementations,
            notes,
            versions,
            cleanup,
        }
    }

    /// Runs the clean-up (drops the schema or database of the run).
    pub(crate) fn finish(mut self) -> BenchResult<()> {
        match self.cleanup.take() {
            Some(cleanup) => cleanup(),
            None => Ok(()),
        }
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take()
            && let Err(e) = cleanup()
        {
            eprintln!("[dbbench] {}: clean-up failed: {e}", self.driver.title());
        }
    }
}

impl fmt::Debug for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("driver", &self.driver)
            .field("implementations", &self.implementations)
            .field("notes", &self.notes)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

/// An implementation connected to its own database, ready to run workloads.
pub(crate) trait Target {
    /// Runs `workload` (warm-up, then the timed phase) and measures it.
    fn run(&mut self, workload: Workload, settings: &Settings) -> BenchResult<Measurement>;

    /// Releases connections and threads before the next implementation runs.
    fn close(self: Box<Self>) -> BenchResult<()>;
}

/// The operations of a blocking implementation. The generic loops in [`run_sync`] call
/// them from one thread (W1, W3, W5) or from `settings.tasks` OS threads (W2).
pub(crate) trait SyncOps: Send + Sync + 'static {
    /// Rows prepared for a bulk load, in the implementation's native form.
    type BulkRows: Send + Sync;

    /// Selects row `id` of `bench_items` and decodes it.
    fn point_select(&self, id: i64) -> BenchResult<()>;
    /// Inserts row `id` into `bench_items_w3` in autocommit.
    fn insert(&self, id: i64) -> BenchResult<()>;
    /// W4: one transaction that updates `keys.updates` and inserts `keys.insert`.
    fn transaction(&self, keys: TxKeys) -> BenchResult<()>;
    /// Builds rows `1..=n` for [`SyncOps::bulk_load`] (untimed).
    fn bulk_rows(&self, n: usize) -> Self::BulkRows;
    /// Empties the bulk table (untimed).
    fn bulk_reset(&self) -> BenchResult<()>;
    /// Inserts `rows` into the bulk table in one transaction.
    fn bulk_load(&self, rows: Self::BulkRows) -> BenchResult<()>;
}

/// The operations of an async implementation; the loops in [`run_async`] run inside a
/// task spawned on a multi-thread runtime, the way a request handler does.
pub(crate) trait AsyncOps: Send + Sync + 'static {
    /// Rows prepared for a bulk load, in the implementation's native form.
    type BulkRows: Send + Sync;

    /// Selects row `id` of `bench_items` and decodes it.
    fn point_select(&self, id: i64) -> impl Future<Output = BenchResult<()>> + Send;
    /// Inserts row `id` into `bench_items_w3` in autocommit.
    fn insert(&self, id: i64) -> impl Future<Output = BenchResult<()>> + Send;
    /// W4: one transaction that updates `keys.updates` and inserts `keys.insert`.
    fn transaction(&self, keys: TxKeys) -> impl Future<Output = BenchResult<()>> + Send;
    /// Builds rows `1..=n` for [`AsyncOps::bulk_load`] (untimed).
    fn bulk_rows(&self, n: usize) -> Self::BulkRows;
    /// Empties the bulk table (untimed).
    fn bulk_reset(&self) -> impl Future<Output = BenchResult<()>> + Send;
    /// Inserts `rows` into the bulk table in one transaction. The rows are moved in
    /// (APIs such as `Executor::insert_many` take ownership), so each load gets freshly
    /// built rows, outside the timed section.
    fn bulk_load(&self, rows: Self::BulkRows) -> impl Future<Output = BenchResult<()>> + Send;
    /// Closes the pool gracefully.
    fn close(&self) -> impl Future<Output = BenchResult<()>> + Send {
        async { Ok(()) }
    }
}

/// The tokio runtime every async implementation uses: multi-thread, 2 workers.
pub(crate) fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Warm-up operations per task when `settings.warmup_ops` are shared by `tasks`.
fn warmup_per_task(settings: &Settings, tasks: usize) -> u64 {
    settings.warmup_ops.div_ceil(tasks.max(1) as u64)
}

/// Operations of the least-served task divided by the mean per task.
fn min_share(per_task: &[usize]) -> Option<f64> {
    let total: usize = per_task.iter().sum();
    let min = per_task.iter().min()?;
    (total > 0).then(|| *min as f64 * per_task.len() as f64 / total as f64)
}

/// The keys of W4 transaction number `n` (1-based): updates of pseudo-random rows
/// (distinct within the transaction), and the insert of row `n`.
/// Keys one W3 / W4 run may insert (more than its warm-up and timed operations).
const INSERT_ID_BLOCK: i64 = 1 << 40;

/// The key before the first one a W3 / W4 run inserts: every run takes a block of its
/// own, so runs on the same table (the slices of an interleaved round, which share
/// one table) never insert the same key.
fn first_insert_id() -> i64 {
    static RUNS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * INSERT_ID_BLOCK
}

fn tx_keys(keys: &mut KeyGen, n: i64) -> TxKeys {
    let mut updates = [0; TX_UPDATES];
    let mut i = 0;
    while i < TX_UPDATES {
        let key = keys.next_key();
        if !updates[..i].contains(&key) {
            updates[i] = key;
            i += 1;
        }
    }
    TxKeys { updates, insert: n }
}

/// Bookkeeping for W5: repeated loads until the time budget is used.
#[derive(Debug)]
struct BulkRun {
    began: Instant,
    rows_per_load: u64,
    wall: Duration,
    cpu: Option<Duration>,
    loads_ns: Vec<u64>,
}

impl BulkRun {
    fn new(rows_per_load: usize) -> Self {
        BulkRun {
            began: Instant::now(),
            rows_per_load: rows_per_load as u64,
            wall: Duration::ZERO,
            cpu: Some(Duration::ZERO),
            loads_ns: Vec::new(),
        }
    }

    fn add(&mut self, (wall, cpu): (Duration, Option<Duration>)) {
        self.wall += wall;
        self.cpu = self.cpu.zip(cpu).map(|(a, b)| a + b);
        self.loads_ns.push(duration_ns(wall));
    }

    fn more(&self, settings: &Settings) -> bool {
        self.loads_ns.len() < settings.max_bulk_loads.max(1)
            && self.began.elapsed() < settings.duration
    }

    fn finish(self) -> Measurement {
        let rows = self.rows_per_load * self.loads_ns.len() as u64;
        Measurement::new(rows, self.wall, self.cpu, self.loads_ns)
    }
}

/// Runs `workload` against a blocking implementation.
pub(crate) fn run_sync<O: SyncOps>(
    ops: &Arc<O>,
    workload: Workload,
    s: &Settings,
) -> BenchResult<Measurement> {
    match workload {
        Workload::W1 => {
            let mut keys = KeyGen::new(1, s.table_rows);
            for _ in 0..s.warmup_ops {
                ops.point_select(keys.next_key())?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                let id = keys.next_key();
                let t0 = Instant::now();
                ops.point_select(id)?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W2 => {
            let tasks = s.tasks.max(1);
            let barrier = Arc::new(Barrier::new(tasks + 1));
            let per_task_max = (s.max_ops / tasks as u64).max(1);
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let (ops, barrier, s) = (Arc::clone(ops), Arc::clone(&barrier), s.clone());
                    std::thread::spawn(move || -> BenchResult<Vec<u64>> {
                        let mut keys = KeyGen::new(t as u64 + 1, s.table_rows);
                        let warm = (0..warmup_per_task(&s, tasks))
                            .try_for_each(|_| ops.point_select(keys.next_key()));
                        barrier.wait();
                        warm?;
                        let mut rec = Recorder::new(Instant::now(), s.duration, per_task_max);
                        while rec.more() {
                            let id = keys.next_key();
                            let t0 = Instant::now();
                            ops.point_select(id)?;
                            rec.record(t0);
                        }
                        Ok(rec.into_latencies())
                    })
                })
                .collect();
            barrier.wait();
            let clock = Clock::start();
            let mut per_task = Vec::with_capacity(tasks);
            let mut all = Vec::new();
            let mut first_err = None;
            for h in handles {
                match h.join() {
                    Ok(Ok(lat)) => {
                        per_task.push(lat.len());
                        all.extend(lat);
                    }
                    Ok(Err(e)) => first_err = first_err.or(Some(e)),
                    Err(_) => first_err = first_err.or(Some("a W2 thread panicked".into())),
                }
            }
            let (wall, cpu) = clock.stop();
            if let Some(e) = first_err {
                return Err(e);
            }
            let mut m = Measurement::new(all.len() as u64, wall, cpu, all);
            m.min_share = min_share(&per_task);
            Ok(m)
        }
        Workload::W3 => {
            let mut next_id = first_insert_id();
            for _ in 0..s.warmup_ops {
                next_id += 1;
                ops.insert(next_id)?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                next_id += 1;
                let t0 = Instant::now();
                ops.insert(next_id)?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W4 => {
            let mut keys = KeyGen::new(4, s.table_rows);
            let mut next_id = first_insert_id();
            for _ in 0..s.warmup_ops {
                next_id += 1;
                ops.transaction(tx_keys(&mut keys, next_id))?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                next_id += 1;
                let tx = tx_keys(&mut keys, next_id);
                let t0 = Instant::now();
                ops.transaction(tx)?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W5 => {
            ops.bulk_reset()?;
            ops.bulk_load(ops.bulk_rows(s.warmup_ops as usize))?;
            let mut run = BulkRun::new(s.bulk_rows);
            while run.more(s) {
                ops.bulk_reset()?;
                let rows = ops.bulk_rows(s.bulk_rows);
                let clock = Clock::start();
                ops.bulk_load(rows)?;
                run.add(clock.stop());
            }
            Ok(run.finish())
        }
    }
}

/// Runs `workload` against an async implementation; call it inside a spawned task.
pub(crate) async fn run_async<O: AsyncOps>(
    ops: Arc<O>,
    workload: Workload,
    s: Settings,
) -> BenchResult<Measurement> {
    match workload {
        Workload::W1 => {
            let mut keys = KeyGen::new(1, s.table_rows);
            for _ in 0..s.warmup_ops {
                ops.point_select(keys.next_key()).await?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                let id = keys.next_key();
                let t0 = Instant::now();
                ops.point_select(id).await?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W2 => {
            let tasks = s.tasks.max(1);
            let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
            let per_task_max = (s.max_ops / tasks as u64).max(1);
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let (ops, barrier, s) = (Arc::clone(&ops), Arc::clone(&barrier), s.clone());
                    tokio::spawn(async move {
                        let mut keys = KeyGen::new(t as u64 + 1, s.table_rows);
                        let mut warm = Ok(());
                        for _ in 0..warmup_per_task(&s, tasks) {
                            warm = ops.point_select(keys.next_key()).await;
                            if warm.is_err() {
                                break;
                            }
                        }
                        barrier.wait().await;
                        warm?;
                        let mut rec = Recorder::new(Instant::now(), s.duration, per_task_max);
                        while rec.more() {
                            let id = keys.next_key();
                            let t0 = Instant::now();
                            ops.point_select(id).await?;
                            rec.record(t0);
                        }
                        BenchResult::Ok(rec.into_latencies())
                    })
                })
                .collect();
            barrier.wait().await;
            let clock = Clock::start();
            let mut per_task = Vec::with_capacity(tasks);
            let mut all = Vec::new();
            let mut first_err = None;
            for h in handles {
                match h.await {
                    Ok(Ok(lat)) => {
                        per_task.push(lat.len());
                        all.extend(lat);
                    }
                    Ok(Err(e)) => first_err = first_err.or(Some(e)),
                    Err(e) => first_err = first_err.or(Some(e.into())),
                }
            }
            let (wall, cpu) = clock.stop();
            if let Some(e) = first_err {
                return Err(e);
            }
            let mut m = Measurement::new(all.len() as u64, wall, cpu, all);
            m.min_share = min_share(&per_task);
            Ok(m)
        }
        Workload::W3 => {
            let mut next_id = first_insert_id();
            for _ in 0..s.warmup_ops {
                next_id += 1;
                ops.insert(next_id).await?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                next_id += 1;
                let t0 = Instant::now();
                ops.insert(next_id).await?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W4 => {
            let mut keys = KeyGen::new(4, s.table_rows);
            let mut next_id = first_insert_id();
            for _ in 0..s.warmup_ops {
                next_id += 1;
                ops.transaction(tx_keys(&mut keys, next_id)).await?;
            }
            let clock = Clock::start();
            let mut rec = Recorder::new(clock.started(), s.duration, s.max_ops);
            while rec.more() {
                next_id += 1;
                let tx = tx_keys(&mut keys, next_id);
                let t0 = Instant::now();
                ops.transaction(tx).await?;
                rec.record(t0);
            }
            let (wall, cpu) = clock.stop();
            let lat = rec.into_latencies();
            Ok(Measurement::new(lat.len() as u64, wall, cpu, lat))
        }
        Workload::W5 => {
            ops.bulk_reset().await?;
            ops.bulk_load(ops.bulk_rows(s.warmup_ops as usize)).await?;
            let mut run = BulkRun::new(s.bulk_rows);
            while run.more(&s) {
                ops.bulk_reset().await?;
                let rows = ops.bulk_rows(s.bulk_rows);
                let clock = Clock::start();
                ops.bulk_load(rows).await?;
                run.add(clock.stop());
            }
            Ok(run.finish())
        }
    }
}

/// A [`Target`] for a blocking implementation.
#[derive(Debug)]
pub(crate) struct SyncTarget<O>(pub(crate) Arc<O>);

impl<O: SyncOps> Target for SyncTarget<O> {
    fn run(&mut self, workload: Workload, settings: &Settings) -> BenchResult<Measurement> {
        run_sync(&self.0, workload, settings)
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        Ok(())
    }
}

/// A [`Target`] for an async implementation, with its own runtime.
#[derive(Debug)]
pub(crate) struct AsyncTarget<O> {
    // Declared before `rt`, so the pool is dropped while the runtime still exists.
    ops: Arc<O>,
    rt: tokio::runtime::Runtime,
}

impl<O: AsyncOps> AsyncTarget<O> {
    /// Connects with `connect` inside a task on a fresh runtime.
    pub(crate) fn open<F>(connect: F) -> BenchResult<Box<dyn Target>>
    where
        F: Future<Output = BenchResult<O>> + Send + 'static,
    {
        let rt = runtime()?;
        let ops = rt.block_on(rt.spawn(connect))??;
        Ok(Box::new(AsyncTarget {
            ops: Arc::new(ops),
            rt,
        }))
    }
}

impl<O: AsyncOps> Target for AsyncTarget<O> {
    fn run(&mut self, workload: Workload, settings: &Settings) -> BenchResult<Measurement> {
        let task = self
            .rt
            .spawn(run_async(Arc::clone(&self.ops), workload, settings.clone()));
        self.rt.block_on(task)?
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        let ops = Arc::clone(&self.ops);
        let result = self
            .rt
            .block_on(self.rt.spawn(async move { ops.close().await }));
        let AsyncTarget { ops, rt } = *self;
        drop(ops);
        rt.shutdown_timeout(Duration::from_secs(10));
        result?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fairness_share() {
        assert_eq!(min_share(&[10, 10]), Some(1.0));
        assert_eq!(min_share(&[0, 20]), Some(0.0));
        assert_eq!(min_share(&[]), None);
    }

    #[test]
    fn transaction_keys_are_distinct() {
        let mut keys = KeyGen::new(4, 5);
        for n in 1..200 {
            let tx = tx_keys(&mut keys, n);
            assert_eq!(tx.insert, n);
            for (i, k) in tx.updates.iter().enumerate() {
                assert!((1..=5).contains(k));
                assert!(!tx.updates[..i].contains(k), "{tx:?}");
            }
        }
    }
}
