//! The database servers the PostgreSQL and MySQL conformance suites run against.
//!
//! Before it runs a server driver's suite, `cargo xtask integration` (and so
//! `cargo xtask test`) makes sure a server answers at the driver's test URL
//! (`DB_TEST_POSTGRES_URL` / `DB_TEST_MYSQL_URL`, or the local default):
//!
//! 1. **Probe.** A TCP connection (1 s timeout) to the URL's host and port. If it is
//!    accepted, the suite runs against that server as it is.
//! 2. **Throwaway server.** If nothing answers, the URL's host is local (`localhost`,
//!    `127.0.0.1`, `::1`) and the server binaries are installed, xtask starts a server
//!    of its own: a fresh data directory in `target/xtask-servers/<driver>-<pid>/`, a
//!    free port on 127.0.0.1, a superuser without password (`postgres` / `root`) and
//!    the URL's database (default `test`). The suite gets the server's URL in the
//!    driver's variable. When the suite ends, passed or failed, the server is stopped
//!    and its directory removed. If xtask itself is killed (Ctrl-C), a small watchdog
//!    shell does the same a second or two later.
//!    - PostgreSQL needs `initdb`, `pg_ctl` and `createdb`, looked up in `PATH`, then
//!      `/usr/lib/postgresql/<version>/bin` (newest first), `/usr/pgsql-*/bin` and
//!      `/usr/local/pgsql/bin`. It refuses to run as root, so as root xtask runs it as
//!      the `postgres` user (`runuser -u postgres --`, or `su`).
//!    - MySQL / MariaDB needs `mariadbd` or `mysqld` (`PATH`, `/usr/sbin`,
//!      `/usr/libexec`, `/usr/local/mysql/bin`), and for MariaDB `mariadb-install-db`
//!      or `mysql_install_db`; MySQL 8 initialises with `mysqld --initialize-insecure`.
//!      As root the server runs with `--user=root`.
//! 3. **Otherwise it fails**, naming what to install and which variable to set. A
//!    driver whose suite did not run is never reported as passed.
//!
//! A URL that names another machine is never replaced by a local throwaway server: if
//! it does not answer, that is an error.
//!
//! For xtask's own tests, the hidden variable `XTASK_SERVER_BIN_DIRS` (a `PATH`-like
//! list) replaces every directory searched for server binaries; set it empty to see the
//! "nothing installed" failure on a machine that has the servers.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Cmd, Result, own_process_group, project_root, shell_quote, tail};

/// Overrides the directories searched for server binaries (see the module docs).
pub(crate) const BIN_DIRS_ENV: &str = "XTASK_SERVER_BIN_DIRS";

/// How long the probe waits for a TCP connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a throwaway server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The kind of server a driver's suite needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Mysql => "MySQL/MariaDB",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Kind::Postgres => 5432,
            Kind::Mysql => 3306,
        }
    }

    /// The directory name under `target/xtask-servers/`.
    fn dir_name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Kind::Postgres => {
                "Install PostgreSQL (Debian/Ubuntu: apt install postgresql; Fedora: dnf install \
                 postgresql-server; macOS: brew install postgresql)"
            }
            Kind::Mysql => {
                "Install MariaDB (Debian/Ubuntu: apt install mariadb-server; Fedora: dnf install \
                 mariadb-server; macOS: brew install mariadb) or MySQL"
            }
        }
    }

    /// Where the binaries are looked for, for messages.
    fn searched(self) -> &'static str {
        match self {
            Kind::Postgres => {
                "PATH, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /usr/local/pgsql/bin"
            }
            Kind::Mysql => "PATH, /usr/sbin, /usr/libexec, /usr/local/mysql/bin",
        }
    }
}

/// The test server of a driver: its kind, the variable holding its URL, and the URL
/// used when the variable is unset.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) kind: Kind,
    pub(crate) var: &'static str,
    pub(crate) default_url: &'static str,
}

/// The server a suite runs against.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The value to give the driver's URL variable; `None`: the environment's value.
    url: Option<String>,
    /// The throwaway server, if xtask started one; dropping it stops it.
    throwaway: Option<Throwaway>,
}

impl Prepared {
    /// The value to give the driver's URL variable (no password in it); `None`: keep
    /// the environment's value.
    pub(crate) fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Stops and removes a throwaway server (dropping `self` does the same).
    pub(crate) fn finish(self) {
        if let Some(mut throwaway) = self.throwaway {
            throwaway.stop();
        }
    }
}

/// Makes sure a server answers for `server`'s suite: the one at its URL, or a throwaway
/// server (see the module docs). Fails with what to install or set when neither is
/// possible.
pub(crate) fn prepare(server: &Server) -> Result<Prepared> {
    let var = server.var;
    let label = server.kind.label();
    let (url, from_env) = match env::var(var) {
        Ok(v) if !v.trim().is_empty() => (v, true),
        _ => (server.default_url.to_owned(), false),
    };
    // The variable's value is passed on, never echoed: it may carry a password.
    let set = (!from_env).then(|| server.default_url.to_owned());
    let source = if from_env {
        format!("{var} from the environment")
    } else {
        format!("{var} is not set, local default {}", server.default_url)
    };
    let parts = match parse_url(&url, server.kind.default_port()) {
        Ok(parts) => parts,
        Err(e) => {
            // The suite reads the URL with the real parser and will say what is wrong.
            eprintln!("note: cannot probe the server of {var} ({e}); using it as it is");
            return Ok(Prepared {
                url: set,
                throwaway: None,
            });
        }
    };
    let at = parts.authority();
    if answers(&parts.host, parts.port) {
        eprintln!("note: {label} answers at {at} ({source})");
        return Ok(Prepared {
            url: set,
            throwaway: None,
        });
    }
    eprintln!("note: nothing answers at {at} ({source})");
    if !is_local(&parts.host) {
        return Err(format!(
            "{label} does not answer at {at} ({var}). xtask starts a throwaway server only \
             for a local URL (127.0.0.1 or localhost); start that server, or point {var} at \
             a reachable one, or unset it to use a local server."
        )
        .into());
    }
    if !cfg!(unix) {
        return Err(format!(
            "{label} does not answer at {at}, and throwaway servers are only supported on \
             Unix. Start a server and set {var}=<url>."
        )
        .into());
    }
    let dirs = search_dirs(server.kind, env::var_os(BIN_DIRS_ENV));
    let searched = if env::var_os(BIN_DIRS_ENV).is_some() {
        format!("{BIN_DIRS_ENV}={}", dirs_text(&dirs))
    } else {
        server.kind.searched().to_owned()
    };
    let database = parts.database.as_deref().unwrap_or("test");
    if !is_plain_name(database) {
        return Err(format!(
            "{label} does not answer at {at}, and xtask cannot create the database {database:?} \
             named in {var} on a throwaway server (only letters, digits and _ are supported); \
             use such a name, or point {var} at a reachable server."
        )
        .into());
    }
    let started = match server.kind {
        Kind::Postgres => {
            let bins = find_postgres(&dirs)
                .map_err(|missing| no_binaries(server, &at, &missing, &searched))?;
            Throwaway::start_postgres(&bins, database)
        }
        Kind::Mysql => {
            let bins = find_mysql(&dirs)
                .map_err(|missing| no_binaries(server, &at, &missing, &searched))?;
            Throwaway::start_mysql(&bins, database)
        }
    };
    // A server that failed to start has been stopped and removed already.
    let throwaway = started.map_err(|e| {
        format!(
            "{label} does not answer at {at}, and starting a throwaway server failed (set {var} \
             to a reachable server instead): {e}"
        )
    })?;
    eprintln!(
        "note: throwaway {label} server on 127.0.0.1:{} (data in {}), as {}={}; it is stopped \
         and removed after the suite",
        throwaway.port,
        throwaway.base.display(),
        var,
        throwaway.url
    );
    Ok(Prepared {
        url: Some(throwaway.url.clone()),
        throwaway: Some(throwaway),
    })
}

/// The failure when nothing answers and no server can be started.
fn no_binaries(server: &Server, at: &str, missing: &[&str], searched: &str) -> crate::util::Error {
    format!(
        "{} does not answer at {at} and no server binaries were found to start a throwaway \
         one (missing: {}; searched {searched}). {}, or set {} to a reachable server \
         (e.g. {}).",
        server.kind.label(),
        missing.join(", "),
        server.kind.install_hint(),
        server.var,
        match server.kind {
            Kind::Postgres => "postgres://user:password@host:5432/test",
            Kind::Mysql => "mysql://user:password@host:3306/test",
        }
    )
    .into()
}

/// The parts of a server URL the probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts {
    host: String,
    port: u16,
    database: Option<String>,
}

impl UrlParts {
    /// `host:port` (`[::1]:port` for IPv6), for messages.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Reads `scheme://[user[:password]@]host[:port][/database][?params]` far enough to
/// probe it. As in the project's URL parser, the user info ends at the last `@`. Errors
/// never quote the URL (it may hold a password).
fn parse_url(url: &str, default_port: u16) -> std::result::Result<UrlParts, String> {
    let (scheme, rest) = url
        .trim()
        .split_once("://")
        .ok_or("not a scheme://host URL")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("not a scheme://host URL".to_owned());
    }
    let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostpart = hostpart.split(['?', '#']).next().unwrap_or_default();
    let (authority, database) = match hostpart.split_once('/') {
        Some((a, d)) => (a, (!d.is_empty()).then(|| d.to_owned())),
        None => (hostpart, None),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) if p.starts_with(':') => (h, Some(&p[1..])),
            _ => return Err("invalid IPv6 host".to_owned()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => default_port,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Ok(UrlParts {
        host: host.to_owned(),
        port,
        database,
    })
}

/// Whether `host` is this machine.
fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a database name is safe to create without quoting.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a TCP connection to `host:port` is accepted within [`PROBE_TIMEOUT`].
fn answers(host: &str, port: u16) -> bool {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|addr| TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).is_ok())
}

/// A port on 127.0.0.1 that nobody listens on now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))?
        .port();
    Ok(port)
}

// --- Finding the binaries ---------------------------------------------------------------

/// The directories searched for `kind`'s binaries: `override_dirs` (the value of
/// [`BIN_DIRS_ENV`]) alone if given, else `PATH` and the usual install locations.
fn search_dirs(kind: Kind, override_dirs: Option<OsString>) -> Vec<PathBuf> {
    if let Some(dirs) = override_dirs {
        return env::split_paths(&dirs)
            .filter(|d| !d.as_os_str().is_empty())
            .collect();
    }
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    match kind {
        Kind::Postgres => {
            dirs.extend(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"));
            dirs.extend(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
            dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
        }
        Kind::Mysql => {
            for d in ["/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin"] {
                dirs.push(PathBuf::from(d));
            }
        }
    }
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let new = !seen.contains(d);
        seen.push(d.clone());
        new
    });
    dirs
}

/// `parent/<prefix><version>/<sub>` for every version directory, newest first.
fn versioned_dirs(parent: &Path, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix(prefix)?;
            let key: Vec<u32> = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            Some((key, e.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

fn dirs_text(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        "(nothing)".to_owned()
    } else {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    meta.is_file()
}

/// The first of `names` found in `dirs` (each directory is searched for every name
/// before the next directory).
fn find(names: &[&str], dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| is_executable(p))
}

/// The first of `names` in the directory `binary` really lives in (symbolic links
/// resolved: `/usr/local/bin/initdb` may point into `/usr/lib/postgresql/15/bin`), so
/// that companion tools come from the same installation; else the first in `dirs`.
fn companion(binary: &Path, names: &[&str], dirs: &[PathBuf]) -> Option<PathBuf> {
    fs::canonicalize(binary)
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf))
        .and_then(|home| find(names, &[home]))
        .or_else(|| find(names, dirs))
}

/// PostgreSQL's programs, from one installation.
#[derive(Debug)]
struct PgBins {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    createdb: PathBuf,
}

/// Finds PostgreSQL's programs in `dirs`, or names the missing ones.
fn find_postgres(dirs: &[PathBuf]) -> std::result::Result<PgBins, Vec<&'static str>> {
    let Some(initdb) = find(&["initdb"], dirs) else {
        let mut missing = vec!["initdb"];
        if find(&["pg_ctl"], dirs).is_none() {
            missing.push("pg_ctl");
        }
        return Err(missing);
    };
    let pg_ctl = companion(&initdb, &["pg_ctl"], dirs);
    let createdb = companion(&initdb, &["createdb"], dirs);
    match (pg_ctl, createdb) {
        (Some(pg_ctl), Some(createdb)) => Ok(PgBins {
            initdb,
            pg_ctl,
            createdb,
        }),
        (pg_ctl, createdb) => Err([
            ("pg_ctl", pg_ctl.is_none()),
            ("createdb", createdb.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect()),
    }
}

/// Which server `mysqld` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MariaDb,
    MySql,
}

/// The MySQL or MariaDB server and how to initialise its data directory.
#[derive(Debug)]
struct MyBins {
    server: PathBuf,
    flavor: Flavor,
    /// `mariadb-install-db` / `mysql_install_db` (MariaDB); MySQL initialises itself.
    install_db: Option<PathBuf>,
}

/// Finds the MySQL / MariaDB server in `dirs`, or names the missing programs.
fn find_mysql(dirs: &[PathBuf]) -> std::result::Result<MyBins, Vec<&'static str>> {
    let Some(server) = find(&["mariadbd"], dirs).or_else(|| find(&["mysqld"], dirs)) else {
        return Err(vec!["mariadbd or mysqld", "mariadb-install-db"]);
    };
    let version = Cmd::new(&server.to_string_lossy())
        .arg("--version")
        .output()
        .unwrap_or_default();
    let name = server.file_name().map(|n| n.to_string_lossy().into_owned());
    let flavor = if version.contains("MariaDB") || name.as_deref() == Some("mariadbd") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let install_db = match flavor {
        Flavor::MySql => None,
        Flavor::MariaDb => Some(
            companion(&server, &["mariadb-install-db", "mysql_install_db"], dirs)
                .ok_or_else(|| vec!["mariadb-install-db (or mysql_install_db)"])?,
        ),
    };
    Ok(MyBins {
        server,
        flavor,
        install_db,
    })
}

// --- Running as another user ------------------------------------------------------------

/// The current user's id (`id -u`); `None` if it cannot be told.
fn current_uid() -> Option<u32> {
    Cmd::new("id").arg("-u").output()?.trim().parse().ok()
}

/// How to run a command as another user (root only).
#[derive(Debug, Clone)]
enum AsUser {
    /// Run it directly.
    Me,
    /// `runuser -u USER -- command...`.
    Runuser(String),
    /// `su -s /bin/sh USER -c 'command...'`.
    Su(String),
}

impl AsUser {
    /// `program args...`, run as this user.
    fn cmd(&self, program: &Path, args: &[String]) -> Cmd {
        let program = program.to_string_lossy().into_owned();
        match self {
            AsUser::Me => Cmd::new(&program).args(args.iter().cloned()),
            AsUser::Runuser(user) => Cmd::new("runuser")
                .args(["-u", user, "--"])
                .arg(program)
                .args(args.iter().cloned()),
            AsUser::Su(user) => {
                let line = std::iter::once(program.as_str())
                    .chain(args.iter().map(String::as_str))
                    .map(shell_quote)
                    .collect::<Vec<_>>()
                    .join(" ");
                Cmd::new("su").args(["-s", "/bin/sh", user, "-c"]).arg(line)
            }
        }
    }

    fn user(&self) -> Option<&str> {
        match self {
            AsUser::Me => None,
            AsUser::Runuser(u) | AsUser::Su(u) => Some(u),
        }
    }
}

/// As root: run PostgreSQL as the `postgres` user, which must exist.
fn postgres_user() -> Result<AsUser> {
    if current_uid() != Some(0) {
        return Ok(AsUser::Me);
    }
    let user = "postgres";
    if !Cmd::new("id").args(["-u", user]).probe() {
        return Err(format!(
            "running as root, and PostgreSQL refuses to run as root; there is no `{user}` user \
             to run the throwaway server as. Create one (useradd --system {user}), run xtask as \
             a normal user, or set DB_TEST_POSTGRES_URL to a reachable server."
        )
        .into());
    }
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .any(|p| is_executable(Path::new(p)))
        || Cmd::new("runuser").arg("--version").probe();
    Ok(if runuser {
        AsUser::Runuser(user.to_owned())
    } else {
        AsUser::Su(user.to_owned())
    })
}

// --- The throwaway server ---------------------------------------------------------------

/// The running server process.
#[derive(Debug)]
enum Process {
    /// Stopped with this command (`pg_ctl stop`); `pid` (from `postmaster.pid`) is killed
    /// if it fails.
    Postgres { stop: Cmd, pid: Option<u32> },
    /// The server, a child of xtask.
    Mysql(Child),
}

/// A server started by xtask for one suite run, in `target/xtask-servers/`. Dropping it
/// stops the server and removes its files.
#[derive(Debug)]
pub(crate) struct Throwaway {
    label: &'static str,
    /// The directory holding everything of this server.
    base: PathBuf,
    /// Files outside `base` to remove (a socket when `base` is too long a path for one).
    extra_files: Vec<PathBuf>,
    port: u16,
    url: String,
    process: Option<Process>,
    /// Stops the server if xtask dies before it can.
    watchdog: Option<Child>,
}

impl Throwaway {
    /// A fresh, empty directory for `kind`'s server; nothing started yet.
    fn new(kind: Kind) -> Result<Self> {
        let base = servers_dir().join(format!("{}-{}", kind.dir_name(), std::process::id()));
        let mut this = Throwaway {
            label: kind.label(),
            base,
            extra_files: Vec::new(),
            port: 0,
            url: String::new(),
            process: None,
            watchdog: None,
        };
        this.make_base()?;
        Ok(this)
    }

    fn make_base(&mut self) -> Result {
        // A directory left by an earlier xtask with the same pid.
        let _ = fs::remove_dir_all(&self.base);
        fs::create_dir_all(&self.base)
            .map_err(|e| format!("cannot create {}: {e}", self.base.display()))?;
        Ok(())
    }

    fn setup_log(&self) -> PathBuf {
        self.base.join("setup.log")
    }

    /// The ends of the server's log files `names` (in `base`), for an error message
    /// (the files themselves are removed with the server).
    fn log_tails(&self, names: &[&str]) -> String {
        let tails: Vec<String> = names
            .iter()
            .map(|name| self.base.join(name))
            .filter(|p| fs::metadata(p).is_ok_and(|m| m.len() > 0))
            .map(|p| format!("  the end of {}:\n{}", p.display(), tail(&p, 20)))
            .collect();
        if tails.is_empty() {
            format!("  (no output in {})", names.join(" or "))
        } else {
            tails.join("\n")
        }
    }

    /// Initialises and starts a PostgreSQL server and creates `database` on it.
    fn start_postgres(bins: &PgBins, database: &str) -> Result<Self> {
        let as_user = postgres_user()?;
        let mut this = Throwaway::new(Kind::Postgres)?;
        if let Some(user) = as_user.user() {
            this.hand_over(&as_user, user)?;
        }
        let data = this.base.join("data");
        let log = this.setup_log();
        let path = |p: &Path| p.to_string_lossy().into_owned();

        as_user
            .cmd(
                &bins.initdb,
                &[
                    "-D".to_owned(),
                    path(&data),
                    "-U".to_owned(),
                    "postgres".to_owned(),
                    "--auth=trust".to_owned(),
                    "--encoding=UTF8".to_owned(),
                    "--locale=C".to_owned(),
                    "--no-sync".to_owned(),
                ],
            )
            .run_logged(&log)?;

        let port = free_port()?;
        // A Unix socket path has at most 107 bytes.
        let socket_dir = if this.base.join(".s.PGSQL.65535.lock").as_os_str().len() < 100 {
            this.base.clone()
        } else {
            env::temp_dir()
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            shell_quote(&path(&socket_dir))
        );
        let server_log = this.base.join("server.log");
        let start = as_user
            .cmd(
                &bins.pg_ctl,
                &[
                    "-D".to_owned(),
                    path(&data),
                    "-l".to_owned(),
                    path(&server_log),
                    "-w".to_owned(),
                    "-t".to_owned(),
                    START_TIMEOUT.as_secs().to_string(),
                    "-o".to_owned(),
                    options,
                    "start".to_owned(),
                ],
            )
            .run_logged(&log);
        let stop = as_user.cmd(
            &bins.pg_ctl,
            &[
                "-D".to_owned(),
                path(&data),
                "-m".to_owned(),
                "fast".to_owned(),
                "-w".to_owned(),
                "stop".to_owned(),
            ],
        );
        // From here on, dropping `this` stops the server (also after a timed-out start).
        let pid = fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()));
        this.process = Some(Process::Postgres {
            stop: stop.clone(),
            pid,
        });
        this.port = port;
        this.watchdog = spawn_watchdog(&stop, pid, &this.base, &this.extra_files);
        if let Err(e) = start {
            return Err(format!("{e}\n{}", this.log_tails(&["server.log"])).into());
        }

        if database != "postgres" {
            Cmd::new(&bins.createdb.to_string_lossy())
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .arg(database)
                .run_logged(&log)?;
        }
        this.url = format!("postgres://postgres@127.0.0.1:{port}/{database}");
        Ok(this)
    }

    /// Gives `base` to `user` (as root, for PostgreSQL). If `user` cannot reach it
    /// (a checkout under a private home directory), moves `base` to the temporary
    /// directory.
    fn hand_over(&mut self, as_user: &AsUser, user: &str) -> Result {
        let chown = |base: &Path| {
            Cmd::new("chown")
                .arg(format!("{user}:"))
                .arg(base.to_string_lossy())
                .probe()
        };
        let writable = |base: &Path| {
            as_user
                .cmd(
                    Path::new("test"),
                    &["-w".to_owned(), base.to_string_lossy().into_owned()],
                )
                .probe()
        };
        if chown(&self.base) && writable(&self.base) {
            return Ok(());
        }
        let _ = fs::remove_dir_all(&self.base);
        let name = self
            .base
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        self.base = env::temp_dir().join("xtask-servers").join(name);
        self.make_base()?;
        if chown(&self.base) && writable(&self.base) {
            eprintln!(
                "note: the user {user} cannot write to target/, so the server lives in {}",
                self.base.display()
            );
            Ok(())
        } else {
            Err(format!(
                "cannot give the user {user} a writable directory for the throwaway PostgreSQL \
                 server (tried target/xtask-servers and {}); set DB_TEST_POSTGRES_URL to a \
                 reachable server",
                self.base.display()
            )
            .into())
        }
    }

    /// Initialises and starts a MySQL or MariaDB server.
    fn start_mysql(bins: &MyBins, database: &str) -> Result<Self> {
        let root = current_uid() == Some(0);
        let mut this = Throwaway::new(Kind::Mysql)?;
        let data = this.base.join("data");
        let log = this.setup_log();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let user_arg = root.then(|| "--user=root".to_owned());

        let init = match &bins.install_db {
            Some(install_db) => Cmd::new(&path(install_db))
                .arg("--no-defaults")
                .arg(format!("--datadir={}", path(&data)))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .args(user_arg.clone()),
            None => Cmd::new(&path(&bins.server))
                .arg("--no-defaults")
                .arg("--initialize-insecure")
                .arg(format!("--datadir={}", path(&data)))
                .args(user_arg.clone()),
        };
        init.run_logged(&log)?;

        // Run at start-up, before the server takes connections.
        let init_file = this.base.join("init.sql");
        fs::write(
            &init_file,
            format!(
                "CREATE DATABASE IF NOT EXISTS `{database}`;\n\
                 CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n\
                 GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", init_file.display()))?;

        let port = free_port()?;
        let mut socket = this.base.join("mysqld.sock");
        if socket.as_os_str().len() >= 100 {
            socket =
                env::temp_dir().join(format!("xtask-mysql-{}-{port}.sock", std::process::id()));
            this.extra_files.push(socket.clone());
            this.extra_files
                .push(PathBuf::from(format!("{}.lock", socket.display())));
        }
        let error_log = this.base.join("error.log");
        let mut server = Cmd::new(&path(&bins.server))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path(&data)))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path(&socket)))
            .arg(format!(
                "--pid-file={}",
                path(&this.base.join("mysqld.pid"))
            ))
            .arg(format!("--log-error={}", path(&error_log)))
            .arg(format!("--init-file={}", path(&init_file)))
            .args(["--skip-log-bin", "--innodb-flush-log-at-trx-commit=0"]);
        if bins.flavor == Flavor::MySql {
            // The X protocol's fixed port 33060 may be taken by the system's server.
            server = server.arg("--mysqlx=OFF");
        }
        let server = server.args(user_arg);
        let child = server.spawn_logged(&this.base.join("server.out"))?;
        let pid = child.id();
        this.process = Some(Process::Mysql(child));
        this.port = port;
        let kill = Cmd::new("kill").args(["-KILL", &pid.to_string()]);
        this.watchdog = spawn_watchdog(&kill, Some(pid), &this.base, &this.extra_files);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Process::Mysql(child)) = &mut this.process
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "the server exited during start-up ({status})\n{}",
                    this.log_tails(&["error.log", "server.out"])
                )
                .into());
            }
            if greets(port) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the server did not answer on 127.0.0.1:{port} within {} s\n{}",
                    START_TIMEOUT.as_secs(),
                    this.log_tails(&["error.log", "server.out"])
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        this.url = format!("mysql://root@127.0.0.1:{port}/{database}");
        Ok(this)
    }

    /// Stops the server (if it runs) and removes its files. Idempotent.
    fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        match self.process.take() {
            None => {}
            Some(Process::Postgres { stop, pid }) => {
                eprintln!("==> stopping the throwaway {} server", self.label);
                if let Err(e) = stop.run_logged(&self.setup_log()) {
                    eprintln!("warning: {e}");
                    if let Some(pid) = pid {
                        let _ = Cmd::new("kill").args(["-KILL", &pid.to_string()]).run();
                    }
                }
            }
            Some(Process::Mysql(mut child)) => {
                eprintln!(
                    "==> stopping the throwaway {} server (pid {})",
                    self.label,
                    child.id()
                );
                // A throwaway server: nothing to shut down cleanly.
                if let Err(e) = child.kill() {
                    eprintln!("warning: cannot kill pid {}: {e}", child.id());
                }
                let _ = child.wait();
            }
        }
        if self.base.exists() {
            match fs::remove_dir_all(&self.base) {
                Ok(()) => eprintln!("note: removed {}", self.base.display()),
                Err(e) => eprintln!("warning: cannot remove {}: {e}", self.base.display()),
            }
        }
        for f in self.extra_files.drain(..) {
            let _ = fs::remove_file(f);
        }
        // Only if no other xtask's server is in there.
        if let Some(parent) = self.base.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `target/xtask-servers` (under `CARGO_TARGET_DIR` when that is set).
fn servers_dir() -> PathBuf {
    let root = project_root();
    let target = env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("xtask-servers")
}

/// Whether a MySQL server on 127.0.0.1:`port` sends its greeting (it speaks first).
fn greets(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(1))
}

/// Starts a shell that waits for this xtask process to end and then runs `stop`, waits
/// for `pid` to go and removes `base` and `extra`: the clean-up when xtask is killed
/// (Ctrl-C) before it can stop the server itself. When xtask ends normally, it kills the
/// watchdog first. `None` (with a warning) if no shell can be started.
fn spawn_watchdog(stop: &Cmd, pid: Option<u32>, base: &Path, extra: &[PathBuf]) -> Option<Child> {
    let remove = std::iter::once(base)
        .chain(extra.iter().map(PathBuf::as_path))
        .map(|p| shell_quote(&p.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let wait_for_server = pid.map_or_else(String::new, |pid| {
        format!(
            "n=0; while kill -0 {pid} 2>/dev/null && [ $n -lt 30 ]; do sleep 1; n=$((n+1)); done; "
        )
    });
    let script = format!(
        "while kill -0 {xtask} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; \
         {wait_for_server}rm -rf -- {remove}",
        xtask = std::process::id(),
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    own_process_group(&mut cmd);
    match cmd.spawn() {
        Ok(child) => Some(child),
        Err(e) => {
            eprintln!(
                "warning: cannot start the watchdog shell ({e}); if xtask is interrupted, stop \
                 the server in {} yourself",
                base.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = parse_url("postgres://postgres@127.0.0.1:5432/test", 5432).unwrap();
        assert_eq!(
            p,
            UrlParts {
                host: "127.0.0.1".to_owned(),
                port: 5432,
                database: Some("test".to_owned())
            }
        );
        let p = parse_url("mysql://u:p@ss/w:rd@db.example/app?x=1", 3306).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("db.example", 3306));
        assert_eq!(p.database.as_deref(), Some("app"));
        let p = parse_url("postgresql://[::1]:6543", 5432).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.authority()),
            ("::1", 6543, "[::1]:6543".to_owned())
        );
        assert_eq!(p.database, None);
        let p = parse_url("postgres:///test", 5432).unwrap();
        assert_eq!(p.host, "localhost");
        let err = parse_url("mysql://root:secret@h:x/test", 3306).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert!(parse_url("127.0.0.1:5432", 5432).is_err());
    }

    #[test]
    fn local_hosts() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.0.1.1", "::1"] {
            assert!(is_local(h), "{h}");
        }
        for h in ["db.example", "10.0.0.1", "::2"] {
            assert!(!is_local(h), "{h}");
        }
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name("test"));
        assert!(is_plain_name("app_test2"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name("a`b"));
        assert!(!is_plain_name("a-b"));
    }

    #[test]
    fn probe_sees_a_listener_and_a_free_port() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(answers("127.0.0.1", port));
        drop(listener);
        let port = free_port().unwrap();
        assert!(!answers("127.0.0.1", port));
    }

    #[test]
    fn override_replaces_the_search_path() {
        assert!(search_dirs(Kind::Postgres, Some(OsString::new())).is_empty());
        assert_eq!(
            search_dirs(Kind::Mysql, Some(OsString::from("/a:/b"))),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        let dirs = search_dirs(Kind::Mysql, None);
        assert!(dirs.contains(&PathBuf::from("/usr/sbin")), "{dirs:?}");
    }

    #[test]
    fn nothing_found_names_what_is_missing() {
        assert_eq!(find_postgres(&[]).unwrap_err(), ["initdb", "pg_ctl"]);
        assert!(find_mysql(&[]).unwrap_err()[0].contains("mariadbd"));
        let server = Server {
            kind: Kind::Postgres,
            var: "DB_TEST_POSTGRES_URL",
            default_url: "postgres://postgres@127.0.0.1:5432/test",
        };
        let msg = no_binaries(&server, "127.0.0.1:5432", &["initdb", "pg_ctl"], "PATH").to_string();
        for part in [
            "127.0.0.1:5432",
            "initdb, pg_ctl",
            "apt install postgresql",
            "DB_TEST_POSTGRES_URL",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn finds_postgres_binaries_of_one_installation() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = env::temp_dir().join(format!("xtask-bins-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let (bin, other) = (tmp.join("pg/bin"), tmp.join("other"));
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&other).unwrap();
        for name in ["initdb", "pg_ctl", "createdb"] {
            let p = bin.join(name);
            fs::write(&p, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Not executable: ignored.
        fs::write(other.join("pg_ctl"), "").unwrap();
        let bins = find_postgres(&[other.clone(), bin.clone()]).unwrap();
        assert_eq!(bins.initdb, bin.join("initdb"));
        assert_eq!(bins.pg_ctl, fs::canonicalize(bin.join("pg_ctl")).unwrap());
        assert_eq!(find_postgres(&[other]).unwrap_err(), ["initdb", "pg_ctl"]);
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn su_quotes_the_command() {
        let cmd = AsUser::Su("postgres".to_owned()).cmd(
            Path::new("/usr/bin/pg_ctl"),
            &["-o".to_owned(), "-p 1 -k /x y".to_owned()],
        );
        assert_eq!(
            cmd.to_string(),
            r#"su -s /bin/sh postgres -c '/usr/bin/pg_ctl -o '\''-p 1 -k /x y'\'''"#
        );
        let cmd = AsUser::Runuser("postgres".to_owned()).cmd(Path::new("/bin/initdb"), &[]);
        assert_eq!(cmd.to_string(), "runuser -u postgres -- /bin/initdb");
    }
}
