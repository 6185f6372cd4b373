//! MySQL / MariaDB settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Checker, GoDuration, SECTION, Secret, SslMode, into_result, setters};
use crate::error::{ConfigProblem, Error};
use crate::retry::RetryPolicy;

/// MySQL / MariaDB settings (the `mysql` section).
///
/// Durations are written as Go-style strings (`"30s"`, `"5m"`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct MySqlConfig {
    /// Server host name or IP address. Default `localhost`.
    pub host: String,
    /// Server port, 1–65535. Default 3306.
    #[serde(deserialize_with = "super::port::deserialize")]
    pub port: u16,
    /// Database (schema) name. Default `app`.
    pub name: String,
    /// User name. Default `root`.
    pub username: String,
    /// Password; empty for none. Never printed.
    pub password: Secret,
    /// TLS mode, with libpq's meanings (see [`SslMode`]). Default `disable`: TLS needs the
    /// driver's TLS support compiled in (db-mysql's `tls` feature, dbfactory's
    /// `mysql-tls`); any other mode in a build without it fails at connect rather than
    /// connecting in plaintext. `prefer` falls back to plaintext only when the server
    /// does not offer TLS at all.
    pub ssl_mode: SslMode,
    /// Connection character set, letters, digits and underscores only. Default `utf8mb4`.
    pub charset: String,
    /// Read `DATE` / `DATETIME` / `TIMESTAMP` columns as date/time values instead of text.
    /// Default `true`.
    pub parse_time: bool,
    /// Time zone for date/time values: `Local`, `UTC`, an IANA name such as
    /// `Europe/Berlin`, or a UTC offset such as `+05:30`. Default `UTC`.
    ///
    /// `UTC` and `Local` are read case-insensitively and stored in this spelling (see
    /// [`canonical_loc`](Self::canonical_loc)). An IANA name is only checked for its
    /// syntax here; whether the server knows it (its time zone tables are loaded with
    /// `mysql_tzinfo_to_sql`) is checked when connecting.
    #[serde(deserialize_with = "deserialize_loc")]
    pub loc: String,
    /// Most connections the pool opens at once. At least 1. Default 25.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_open_conns: u32,
    /// Most idle connections kept in the pool; at most `maxOpenConns`. Default 5.
    /// When it is not set, it follows a lower `maxOpenConns` (as in Go's `database/sql`):
    /// see [`with_max_open_conns`](Self::with_max_open_conns); `dbfactory`'s loader
    /// does the same for values nobody set.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_idle_conns: u32,
    /// A connection older than this is closed instead of reused; `0` means unlimited.
    /// Keep it below the server's `wait_timeout`. Default `5m`.
    #[serde(with = "super::duration")]
    pub conn_max_lifetime: Duration,
    /// A connection idle for longer than this is closed; `0` means unlimited.
    /// Default `1m`.
    #[serde(with = "super::duration")]
    pub conn_max_idle_time: Duration,
    /// Deadline for establishing one connection and for waiting for a free pooled
    /// connection. Must be greater than 0. Default `30s`.
    #[serde(with = "super::duration")]
    pub timeout: Duration,
    /// How often a failed connect is retried (transient failures only); at most 100.
    /// Default 3.
    #[serde(deserialize_with = "super::whole::deserialize")]
    pub max_retries: u32,
    /// Delay before the first connect retry; doubles with each further retry, with jitter.
    /// Must be greater than 0 when `maxRetries` is not 0. Default `1s`.
    #[serde(with = "super::duration")]
    pub retry_delay: Duration,
    /// Interval of the background health check; `0` disables it. Default `30s`.
    #[serde(with = "super::duration")]
    pub health_check_interval: Duration,
}

impl Default for MySqlConfig {
    fn default() -> Self {
        MySqlConfig {
            host: "localhost".to_owned(),
            port: 3306,
            name: "app".to_owned(),
            username: "root".to_owned(),
            password: Secret::default(),
            ssl_mode: SslMode::Disable,
            charset: "utf8mb4".to_owned(),
            parse_time: true,
            loc: "UTC".to_owned(),
            max_open_conns: 25,
            max_idle_conns: 5,
            conn_max_lifetime: Duration::from_secs(5 * 60),
            conn_max_idle_time: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            health_check_interval: Duration::from_secs(30),
        }
    }
}

setters!(MySqlConfig {
    into with_host(host: String),
    set with_port(port: u16),
    into with_name(name: String),
    into with_username(username: String),
    into with_password(password: Secret),
    set with_ssl_mode(ssl_mode: SslMode),
    into with_charset(charset: String),
    set with_parse_time(parse_time: bool),
    max_open with_max_open_conns(max_open_conns: u32),
    set with_max_idle_conns(max_idle_conns: u32),
    set with_conn_max_lifetime(conn_max_lifetime: Duration),
    set with_conn_max_idle_time(conn_max_idle_time: Duration),
    set with_timeout(timeout: Duration),
    set with_max_retries(max_retries: u32),
    set with_retry_delay(retry_delay: Duration),
    set with_health_check_interval(health_check_interval: Duration),
});

impl MySqlConfig {
    /// Sets `loc` (see the field's documentation); `utc` and `local` in any case are
    /// stored as `UTC` and `Local`.
    #[must_use]
    pub fn with_loc(mut self, loc: impl Into<String>) -> Self {
        let loc = loc.into();
        self.loc = canonical_loc(&loc).to_owned();
        self
    }

    /// `loc` with `UTC` and `Local` in their canonical spelling whatever case they were
    /// written in (`utc` → `UTC`, `LOCAL` → `Local`); any other value unchanged. Code that
    /// interprets `loc` should match on this rather than on the field, which a caller
    /// may have assigned directly.
    pub fn canonical_loc(&self) -> &str {
        canonical_loc(&self.loc)
    }

    /// Checks every rule and returns [`Error::Config`] listing every problem, with paths
    /// under `database.mysql`.
    pub fn validate(&self) -> Result<(), Error> {
        into_result(self.problems_at(&format!("{SECTION}.mysql")))
    }

    /// Every invalid value, with field paths under `prefix` (e.g. `database.mysql`).
    pub fn problems_at(&self, prefix: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        self.collect_problems(prefix, &mut problems);
        problems
    }

    pub(crate) fn collect_problems(&self, prefix: &str, problems: &mut Vec<ConfigProblem>) {
        let mut c = Checker::new(prefix, problems);
        c.non_empty("host", &self.host);
        c.port("port", self.port);
        c.non_empty("name", &self.name);
        c.non_empty("username", &self.username);
        if !is_charset_name(&self.charset) {
            c.add(
                "charset",
                format!(
                    "must be a character set name of letters, digits and underscores \
                     (e.g. utf8mb4), got {:?}",
                    self.charset
                ),
            );
        }
        if !is_valid_loc(&self.loc) {
            c.add(
                "loc",
                format!(
                    "must be \"Local\", \"UTC\", an IANA time zone name such as \
                     \"Europe/Berlin\", or a UTC offset such as \"+05:30\", got {:?}",
                    self.loc
                ),
            );
        }
        c.pool(self.max_open_conns, self.max_idle_conns);
        c.timeout(self.timeout);
        c.retries(self.max_retries, self.retry_delay);
    }

    /// What is being connected to, for messages and logs, without secrets:
    /// `mysql at localhost:3306/app`.
    pub fn target(&self) -> String {
        format!(
            "mysql at {}/{}",
            super::host_port(&self.host, self.port),
            self.name
        )
    }

    /// The connect-retry policy from `maxRetries` and `retryDelay` (no total deadline).
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.max_retries, self.retry_delay)
    }

    /// The UTC offset in minutes when `loc` is `UTC` (0) or an offset such as `+05:30`
    /// (330) or `-08:00` (-480); `None` for `Local` and IANA names, which need a time-zone
    /// database to resolve.
    pub fn loc_offset_minutes(&self) -> Option<i32> {
        if self.canonical_loc() == "UTC" {
            return Some(0);
        }
        parse_offset(&self.loc)
    }
}

/// `UTC` / `Local` for any spelling of them, else `loc` unchanged.
fn canonical_loc(loc: &str) -> &str {
    if loc.eq_ignore_ascii_case("UTC") {
        "UTC"
    } else if loc.eq_ignore_ascii_case("Local") {
        "Local"
    } else {
        loc
    }
}

/// Reads `loc`, storing `utc` / `local` (any case) as `UTC` / `Local`.
fn deserialize_loc<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let loc = String::deserialize(deserializer)?;
    Ok(canonical_loc(&loc).to_owned())
}

/// `[A-Za-z0-9_]+`.
fn is_charset_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `+HH:MM` / `-HH:MM` with at most 14 hours, as minutes east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| i32::from(c - b'0'));
    let hours = digit(b[1])? * 10 + digit(b[2])?;
    let minutes = digit(b[4])? * 10 + digit(b[5])?;
    if minutes > 59 || hours * 60 + minutes > 14 * 60 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

/// `Local`, `UTC` (in any case), an IANA-style name (`Europe/Berlin`, `Etc/GMT+5`,
/// `America/Port-au-Prince`, `EST5EDT`) or an offset (`+05:30`).
fn is_valid_loc(s: &str) -> bool {
    let s = canonical_loc(s);
    if s == "Local" || s == "UTC" || parse_offset(s).is_some() {
        return true;
    }
    if s.is_empty() || s.len() > 64 {
        return false;
    }
    s.split('/').all(|part| {
        let mut bytes = part.bytes();
        matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
    })
}

impl fmt::Debug for MySqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("ssl_mode", &self.ssl_mode)
            .field("charset", &self.charset)
            .field("parse_time", &self.parse_time)
            .field("loc", &self.loc)
            .field("max_open_conns", &self.max_open_conns)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("conn_max_lifetime", &GoDuration(self.conn_max_lifetime))
            .field("conn_max_idle_time", &GoDuration(self.conn_max_idle_time))
            .field("timeout", &GoDuration(self.timeout))
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &GoDuration(self.retry_delay))
            .field(
                "health_check_interval",
                &GoDuration(self.health_check_interval),
            )
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn loc_syntax() {
        for ok in [
            "Local",
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "America/Port-au-Prince",
            "Etc/GMT+5",
            "EST5EDT",
            "+05:30",
            "-08:00",
            "+14:00",
            "+00:00",
        ] {
            assert!(is_valid_loc(ok), "{ok}");
        }
        for bad in [
            "",
            "+5:30",
            "+05:60",
            "+15:00",
            "05:30",
            "+05:30:00",
            "Europe//Berlin",
            "/Europe/Berlin",
            "Europe/Berlin/",
            "../etc/passwd",
            "UTC; DROP TABLE x",
            "Europe/Berlin'",
            "5EST",
        ] {
            assert!(!is_valid_loc(bad), "{bad}");
        }
    }

    #[test]
    fn utc_and_local_are_case_insensitive() {
        for (text, canonical) in [
            ("utc", "UTC"),
            ("Utc", "UTC"),
            ("UTC", "UTC"),
            ("local", "Local"),
            ("LOCAL", "Local"),
            ("Europe/Berlin", "Europe/Berlin"),
            ("+05:30", "+05:30"),
        ] {
            let cfg: MySqlConfig =
                serde_json::from_value(serde_json::json!({ "loc": text })).unwrap();
            assert_eq!(cfg.loc, canonical, "{text}");
            assert_eq!(
                MySqlConfig::default().with_loc(text).loc,
                canonical,
                "{text}"
            );
            cfg.validate().unwrap();
        }
        // A field assigned directly keeps its spelling; everything that interprets it
        // goes through canonical_loc.
        let mut cfg = MySqlConfig {
            loc: "utc".to_owned(),
            ..MySqlConfig::default()
        };
        assert_eq!(cfg.canonical_loc(), "UTC");
        assert_eq!(cfg.loc_offset_minutes(), Some(0));
        assert!(is_valid_loc("lOcAl"));
        cfg.loc = "local".to_owned();
        assert_eq!(cfg.canonical_loc(), "Local");
        assert_eq!(cfg.loc_offset_minutes(), None);
    }

    #[test]
    fn loc_offsets() {
        let at = |loc: &str| MySqlConfig::default().with_loc(loc).loc_offset_minutes();
        assert_eq!(at("UTC"), Some(0));
        assert_eq!(at("+05:30"), Some(330));
        assert_eq!(at("-08:00"), Some(-480));
        assert_eq!(at("Local"), None);
        assert_eq!(at("Europe/Berlin"), None);
    }

    #[test]
    fn every_rule_is_reported() {
        let cfg = MySqlConfig::default()
            .with_host("")
            .with_charset("utf8mb4; SET x")
            .with_loc("Mars/Olympus Mons")
            .with_max_idle_conns(30)
            .with_retry_delay(Duration::ZERO);
        let rendered: Vec<String> = cfg
            .problems_at("database.mysql")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(rendered.len(), 5, "{rendered:#?}");
        assert_eq!(rendered[0], "database.mysql.host: must not be empty");
        assert!(rendered[1].starts_with("database.mysql.charset: must be a character set name"));
        assert!(rendered[1].ends_with("got \"utf8mb4; SET x\""));
        assert!(rendered[2].starts_with("database.mysql.loc: must be \"Local\", \"UTC\""));
        assert_eq!(
            rendered[3],
            "database.mysql.maxIdleConns: must not exceed maxOpenConns (25), got 30"
        );
        assert_eq!(
            rendered[4],
            "database.mysql.retryDelay: must be greater than 0 when maxRetries is 3, got 0"
        );
        MySqlConfig::default().validate().unwrap();
        assert!(MySqlConfig::default().with_charset("").validate().is_err());
    }

    #[test]
    fn ssl_mode_defaults_to_disable_and_reads_every_mode() {
        assert_eq!(MySqlConfig::default().ssl_mode, SslMode::Disable);
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("Verify-Full", SslMode::VerifyFull),
        ] {
            let cfg: MySqlConfig =
                serde_json::from_value(serde_json::json!({ "sslMode": text })).unwrap();
            assert_eq!(cfg.ssl_mode, mode, "{text}");
            // Every mode is a valid configuration; whether TLS is compiled in is checked
            // by the driver at connect.
            cfg.validate().unwrap();
        }
        let json =
            serde_json::to_value(MySqlConfig::default().with_ssl_mode(SslMode::VerifyCa)).unwrap();
        assert_eq!(json["sslMode"], "verify-ca");
        assert!(
            serde_json::from_value::<MySqlConfig>(serde_json::json!({ "sslMode": "on" })).is_err()
        );
    }

    #[test]
    fn target_does_not_include_the_password() {
        let cfg = MySqlConfig::default().with_password("hunter2");
        assert_eq!(cfg.target(), "mysql at localhost:3306/app");
        assert_eq!(cfg.retry_policy().max_retries, 3);
    }
}
