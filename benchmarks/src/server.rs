//! Database servers for the PostgreSQL and MySQL suites: where they are (a URL) and a
//! small runtime for the set-up and clean-up done outside any measurement.

use std::future::Future;
use std::time::Duration;

use crate::measure::BenchResult;

/// How long the first contact with a server may take before its suite is skipped.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `scheme://user[:password]@host[:port][/database]`, without percent-decoding (the
/// bench servers need none); query parameters are ignored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    /// User name.
    pub(crate) user: String,
    /// Password (empty: none).
    pub(crate) password: String,
    /// Host name or IP address.
    pub(crate) host: String,
    /// TCP port.
    pub(crate) port: u16,
    /// Database name.
    pub(crate) database: String,
}

impl ServerUrl {
    /// Parses `url`, which must start with one of `schemes` (`postgres://`); the port and
    /// the database default to `default_port` and `default_database`, the user to
    /// `default_user`.
    pub(crate) fn parse(
        url: &str,
        schemes: &[&str],
        default_port: u16,
        default_user: &str,
        default_database: &str,
    ) -> Result<Self, String> {
        let rest = schemes
            .iter()
            .find_map(|s| url.strip_prefix(s))
            .ok_or_else(|| format!("the URL must start with {}", schemes.join(" or ")))?;
        let rest = rest.split('?').next().unwrap_or(rest);
        let (userinfo, hostpart) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (user, pw),
                None => (u, ""),
            },
            None => (default_user, ""),
        };
        let (hostport, database) = match hostpart.split_once('/') {
            Some((h, d)) if !d.is_empty() => (h, d),
            Some((h, _)) => (h, default_database),
            None => (hostpart, default_database),
        };
        let parse_port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("invalid port {p:?} in the URL"))
        };
        let (host, port) = match hostport.strip_prefix('[') {
            // An IPv6 literal: [::1] or [::1]:5432.
            Some(inner) => {
                let (h, after) = inner
                    .split_once(']')
                    .ok_or_else(|| "unclosed [ in the URL host".to_owned())?;
                match after.strip_prefix(':') {
                    Some(p) => (h, parse_port(p)?),
                    None => (h, default_port),
                }
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p)?),
                None => (hostport, default_port),
            },
        };
        if host.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        Ok(ServerUrl {
            user: if user.is_empty() { default_user } else { user }.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port,
            database: database.to_owned(),
        })
    }

    /// `user@host:port/database`, never the password.
    pub(crate) fn display(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Runs `fut` to completion on a fresh single-thread runtime (set-up and clean-up
/// outside the measurements).
pub(crate) fn block_on<T>(fut: impl Future<Output = BenchResult<T>>) -> BenchResult<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// `fut`, failing with "timed out" after `limit`.
pub(crate) async fn within<T, E: Into<crate::measure::BenchError>>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> BenchResult<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(format!("{what} timed out after {} s", limit.as_secs_f64()).into()),
    }
}

/// `error` with its chain of sources (`error connecting to server: Connection refused`),
/// skipping a source whose text the message already contains.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

/// The name of this run's schema (PostgreSQL) or database (MySQL).
pub(crate) fn run_namespace() -> String {
    format!("dbl_bench_{}", std::process::id())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    fn pg(url: &str) -> Result<ServerUrl, String> {
        ServerUrl::parse(
            url,
            &["postgres://", "postgresql://"],
            5432,
            "postgres",
            "test",
        )
    }

    #[test]
    fn error_chains() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer: crate::measure::BenchError = Box::new(io);
        assert_eq!(describe(&*outer), "refused");
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error connecting to server")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let w = Wrap(std::io::Error::other("Connection refused"));
        assert_eq!(
            describe(&w),
            "error connecting to server: Connection refused"
        );
    }

    #[test]
    fn urls() {
        let u = pg("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(u.display(), "postgres@127.0.0.1:5432/test");
        assert_eq!(u.password, "");
        let u = pg("postgresql://me:s3cret@db.example.com/app?sslmode=disable").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_str(), u.port),
            ("me", "s3cret", 5432)
        );
        assert_eq!(u.database, "app");
        assert!(!format!("{u:?}").contains("s3cret"));
        let u = pg("postgres://[::1]:6543").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 6543));
        assert_eq!(u.user, "postgres");
        assert_eq!(u.database, "test");
        let u = pg("postgres://u@[::1]/x").unwrap();
        assert_eq!(
            (
                u.user.as_str(),
                u.host.as_str(),
                u.port,
                u.database.as_str()
            ),
            ("u", "::1", 5432, "x")
        );
        assert!(pg("mysql://root@h/db").is_err());
        assert!(pg("postgres://h:99999/db").is_err());
        assert!(pg("postgres:///db").is_err());
    }
}
