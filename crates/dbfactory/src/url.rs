//! `DATABASE_URL` parsing.
//!
//! Accepted forms (the password is never echoed in an error):
//!
//! - `postgres://user:pass@host:port/name?sslmode=require` (also `postgresql://`)
//! - `mysql://user:pass@host:port/name?charset=utf8mb4&parseTime=true&loc=UTC&sslmode=require`
//!   (also `mariadb://`)
//! - `sqlite://path`, `sqlite:path`, `sqlite::memory:`, `sqlite://:memory:`;
//!   `sqlite:///abs/path` is `/abs/path`, `sqlite://./data/app.db` is `./data/app.db`.

use dbcore::config::SECTION;
use dbcore::{ConfigProblem, DatabaseType};
use serde_json::{Map, Value as Json};

use crate::env::parse_bool;

/// The origin name of values from the URL.
pub(crate) const ORIGIN: &str = "DATABASE_URL";

/// The configuration data a URL sets, as `{"database": {"type": ..., "<section>": {...}}}`.
pub(crate) fn url_data(url: &str) -> Result<Json, Vec<ConfigProblem>> {
    let url = url.trim();
    let problem =
        |path: &str, message: String| vec![ConfigProblem::new(path, message).with_origin(ORIGIN)];
    let Some((scheme, rest)) = url.split_once(':').filter(|(s, _)| is_scheme(s)) else {
        return Err(problem(
            "",
            format!(
                "not a database URL (expected e.g. postgres://user:password@host:5432/name \
                 or sqlite://./data/app.db); accepted schemes are {}",
                accepted_schemes()
            ),
        ));
    };
    let lower = scheme.to_ascii_lowercase();
    let Some(database_type) = DatabaseType::ALL
        .into_iter()
        .find(|t| t.url_schemes().contains(&lower.as_str()))
    else {
        return Err(problem(
            "",
            format!(
                "unsupported URL scheme {scheme:?}: accepted schemes are {}",
                accepted_schemes()
            ),
        ));
    };
    let section = database_type.as_str();
    let mut fields = Map::new();
    match database_type {
        DatabaseType::Sqlite => sqlite(rest, &mut fields)?,
        _ => server(database_type, rest, &mut fields)?,
    }
    let mut db = Map::new();
    db.insert("type".to_owned(), Json::from(section));
    db.insert(section.to_owned(), Json::Object(fields));
    let mut root = Map::new();
    root.insert(SECTION.to_owned(), Json::Object(db));
    Ok(Json::Object(root))
}

fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `postgres://, postgresql://, sqlite://, ...` from [`DatabaseType::url_schemes`].
fn accepted_schemes() -> String {
    DatabaseType::ALL
        .into_iter()
        .flat_map(|t| t.url_schemes().iter())
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn field_path(t: DatabaseType, field: &str) -> String {
    format!("{SECTION}.{t}.{field}")
}

fn sqlite(rest: &str, fields: &mut Map<String, Json>) -> Result<(), Vec<ConfigProblem>> {
    let path_part = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match path_part.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_part, None),
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let name = q.split('&').next().unwrap_or(q);
        let name = name.split_once('=').map_or(name, |(k, _)| k);
        return Err(vec![
            ConfigProblem::new(
                "",
                format!("unknown parameter {name:?} for sqlite: sqlite URLs take no parameters"),
            )
            .with_origin(ORIGIN),
        ]);
    }
    let path_field = field_path(DatabaseType::Sqlite, "filePath");
    let decoded = percent_decode(path).ok_or_else(|| {
        vec![
            ConfigProblem::new(&path_field, "the path is not valid percent-encoding")
                .with_origin(ORIGIN),
        ]
    })?;
    fields.insert("filePath".to_owned(), Json::String(decoded));
    Ok(())
}

fn server(
    t: DatabaseType,
    rest: &str,
    fields: &mut Map<String, Json>,
) -> Result<(), Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let Some(after) = rest.strip_prefix("//") else {
        return Err(vec![
            ConfigProblem::new("", format!("expected {t}://user:password@host:port/name"))
                .with_origin(ORIGIN),
        ]);
    };
    let mut fail = |path: String, message: String| {
        problems.push(ConfigProblem::new(path, message).with_origin(ORIGIN));
    };
    // The user info ends at the last `@`, so that a raw `@` or `/` in a password cannot
    // make part of it be read (and shown in errors) as a host.
    let (userinfo, hostpart) = match after.rfind('@') {
        Some(i) => (Some(&after[..i]), &after[i + 1..]),
        None => (None, after),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        match percent_decode(user) {
            Some(u) if !u.is_empty() => {
                fields.insert("username".to_owned(), Json::String(u));
            }
            Some(_) => {}
            None => fail(
                field_path(t, "username"),
                "the user name is not valid percent-encoding".to_owned(),
            ),
        }
        if let Some(password) = password {
            match percent_decode(password) {
                Some(p) => {
                    fields.insert("password".to_owned(), Json::String(p));
                }
                None => fail(
                    field_path(t, "password"),
                    "the password is not valid percent-encoding".to_owned(),
                ),
            }
        }
    }
    let (before_query, query) = match hostpart.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (hostpart, None),
    };
    let (authority, name) = match before_query.split_once('/') {
        Some((a, n)) => (a, Some(n)),
        None => (before_query, None),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) if p.starts_with(':') => (h, Some(&p[1..])),
            _ => {
                fail(
                    field_path(t, "host"),
                    "invalid IPv6 host: expected [address] or [address]:port".to_owned(),
                );
                ("", None)
            }
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match percent_decode(host) {
        Some(h) if !h.is_empty() => {
            fields.insert("host".to_owned(), Json::String(h));
        }
        Some(_) => {}
        None => fail(
            field_path(t, "host"),
            format!("the host {host:?} is not valid percent-encoding"),
        ),
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        match port.parse::<u64>() {
            // The range is checked when the configuration is extracted, with the same
            // message as for a file.
            Ok(n) => {
                fields.insert("port".to_owned(), Json::from(n));
            }
            Err(_) => fail(
                field_path(t, "port"),
                format!("invalid port {port:?} in the URL: expected a number between 1 and 65535"),
            ),
        }
    }
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        match percent_decode(name) {
            Some(n) => {
                fields.insert("name".to_owned(), Json::String(n));
            }
            None => fail(
                field_path(t, "name"),
                "the database name is not valid percent-encoding".to_owned(),
            ),
        }
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = match pair.split_once('=') {
            Some((k, v)) => (k, v),
            None => (pair, ""),
        };
        let Some(value) = percent_decode(raw) else {
            fail(
                String::new(),
                format!("the value of parameter {key:?} is not valid percent-encoding"),
            );
            continue;
        };
        let accepted: &[(&str, &str)] = match t {
            DatabaseType::Postgres => &[("sslmode", "sslMode")],
            _ => &[
                ("charset", "charset"),
                ("parseTime", "parseTime"),
                ("loc", "loc"),
                ("sslmode", "sslMode"),
            ],
        };
        let Some((_, field)) = accepted.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
            let names: Vec<&str> = accepted.iter().map(|(k, _)| *k).collect();
            fail(
                String::new(),
                format!(
                    "unknown parameter {key:?} for {t}: accepted parameters are {}",
                    names.join(", ")
                ),
            );
            continue;
        };
        if value.is_empty() {
            fail(
                field_path(t, field),
                format!("parameter {key:?} has no value"),
            );
            continue;
        }
        let json = if *field == "parseTime" {
            match parse_bool(&value) {
                Some(b) => Json::from(b),
                None => {
                    fail(
                        field_path(t, field),
                        format!("parameter {key:?}: expected true or false, got {value:?}"),
                    );
                    continue;
                }
            }
        } else {
            Json::String(value)
        };
        fields.insert((*field).to_owned(), json);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use serde_json::json;

    use super::*;

    fn db(url: &str) -> Json {
        url_data(url).unwrap()["database"].clone()
    }

    fn err(url: &str) -> String {
        url_data(url)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn postgres_urls() {
        assert_eq!(
            db("postgres://app:s%40cret@db.example.com:6543/appdb?sslmode=require"),
            json!({"type": "postgres", "postgres": {
                "username": "app", "password": "s@cret", "host": "db.example.com",
                "port": 6543, "name": "appdb", "sslMode": "require"}})
        );
        assert_eq!(
            db("postgresql://localhost"),
            json!({"type": "postgres", "postgres": {"host": "localhost"}})
        );
        assert_eq!(
            db("postgres://u@[::1]:5433/x"),
            json!({"type": "postgres", "postgres": {
                "username": "u", "host": "::1", "port": 5433, "name": "x"}})
        );
        // A raw `@` or `/` in the password still parses.
        assert_eq!(
            db("postgres://u:p@ss/w@h/d")["postgres"],
            json!({"username": "u", "password": "p@ss/w", "host": "h", "name": "d"})
        );
        // The port range is checked later, like a file's.
        assert_eq!(db("postgres://h:70000")["postgres"]["port"], 70000);
    }

    #[test]
    fn mysql_urls() {
        assert_eq!(
            db(
                "mysql://root:pw@127.0.0.1:3307/test?charset=utf8&parseTime=false&loc=Europe%2FBerlin"
            ),
            json!({"type": "mysql", "mysql": {
                "username": "root", "password": "pw", "host": "127.0.0.1", "port": 3307,
                "name": "test", "charset": "utf8", "parseTime": false, "loc": "Europe/Berlin"}})
        );
        assert_eq!(db("mariadb://h/app")["type"], "mysql");
        assert_eq!(db("mysql://h/app?loc=+05:30")["mysql"]["loc"], "+05:30");
        assert_eq!(
            db("mysql://h/app?sslmode=verify-full")["mysql"]["sslMode"],
            "verify-full"
        );
    }

    #[test]
    fn sqlite_urls() {
        let path = |url: &str| db(url)["sqlite"]["filePath"].as_str().unwrap().to_owned();
        assert_eq!(path("sqlite::memory:"), ":memory:");
        assert_eq!(path("sqlite://:memory:"), ":memory:");
        assert_eq!(path("sqlite:///abs/path.db"), "/abs/path.db");
        assert_eq!(path("sqlite://./data/app.db"), "./data/app.db");
        assert_eq!(path("sqlite:data.db"), "data.db");
        assert_eq!(path("sqlite://rel/dir/x.db"), "rel/dir/x.db");
        assert_eq!(path("sqlite3:///tmp/my%20db.sqlite"), "/tmp/my db.sqlite");
        assert_eq!(db("sqlite::memory:")["type"], "sqlite");
        assert!(err("sqlite://x.db?mode=ro").contains("unknown parameter \"mode\""));
    }

    #[test]
    fn bad_urls_never_show_the_password() {
        let msg = err("oracle://scott:tiger-Sentinel@h/db");
        assert!(msg.contains("unsupported URL scheme \"oracle\""), "{msg}");
        assert!(msg.contains("postgres://, postgresql://"), "{msg}");
        assert!(msg.contains("mysql://, mariadb://"), "{msg}");
        assert!(msg.contains("sqlite://"), "{msg}");
        assert!(msg.contains("(from DATABASE_URL)"), "{msg}");
        assert!(!msg.contains("tiger"), "{msg}");

        let msg = err("tiger-Sentinel");
        assert!(msg.contains("not a database URL"), "{msg}");
        assert!(!msg.contains("tiger"), "{msg}");

        let msg = err("postgres://u:tiger-Sentinel@h:abc/db");
        assert!(
            msg.contains("database.postgres.port: invalid port \"abc\""),
            "{msg}"
        );
        assert!(!msg.contains("tiger"), "{msg}");

        let msg = err("postgres://u:tiger%zz@h/db");
        assert!(
            msg.contains("password is not valid percent-encoding"),
            "{msg}"
        );
        assert!(!msg.contains("tiger"), "{msg}");

        let msg = err("postgres://u:tiger-Sentinel@h/db?sslmode=require&application_name=x");
        assert!(
            msg.contains("unknown parameter \"application_name\" for postgres"),
            "{msg}"
        );
        assert!(msg.contains("accepted parameters are sslmode"), "{msg}");
        assert!(!msg.contains("tiger"), "{msg}");

        let msg = err("mysql://h/db?parseTime=maybe&foo=1");
        assert!(msg.contains("database.mysql.parseTime"), "{msg}");
        assert!(msg.contains("\"foo\""), "{msg}");
        assert!(msg.contains("charset, parseTime, loc, sslmode"), "{msg}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2F"), Some("a b/".to_owned()));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
