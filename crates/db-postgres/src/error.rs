//! Mapping tokio-postgres and deadpool errors onto the portable [`dbcore::Error`].
//! Nothing else in this crate looks at native error types.

use std::time::Duration;

use dbcore::{DatabaseType, Error, ErrorKind};
use deadpool_postgres::{PoolError, TimeoutType};

/// The portable kind of a SQLSTATE.
pub(crate) fn classify_sqlstate(code: &str) -> ErrorKind {
    match code {
        "23505" => ErrorKind::UniqueViolation,
        "23503" => ErrorKind::ForeignKeyViolation,
        "23502" => ErrorKind::NotNullViolation,
        "23514" => ErrorKind::CheckViolation,
        "40001" => ErrorKind::SerializationFailure,
        "40P01" => ErrorKind::Deadlock,
        "25006" => ErrorKind::ReadOnlyViolation,
        // query_canceled: a statement_timeout, or our own cancel when a deadline passed.
        "57014" => ErrorKind::Timeout,
        "55P03" => ErrorKind::Busy, // lock_not_available (NOWAIT, lock_timeout)
        "28P01" | "28000" => ErrorKind::Authentication,
        "3D000" => ErrorKind::UnknownDatabase,
        // cannot_connect_now (starting up), too_many_connections: may heal.
        "57P03" | "53300" => ErrorKind::Connect,
        // admin_shutdown, crash_shutdown, idle_session_timeout: the session is gone.
        "57P01" | "57P02" | "57P05" => ErrorKind::ConnectionLost,
        "0A000" => ErrorKind::Unsupported,
        "42501" => ErrorKind::Other, // insufficient_privilege is not a syntax problem
        // indeterminate_datatype (a `$N` the statement never uses, so the server cannot
        // type it) and ambiguous_parameter: the parameters, not the SQL's syntax.
        "42P18" | "42P08" => ErrorKind::Parameter,
        c if c.starts_with("08") => ErrorKind::ConnectionLost,
        c if c.starts_with("42") => ErrorKind::Syntax,
        _ => ErrorKind::Other,
    }
}

/// Converts a tokio-postgres error into a [`dbcore::Error`] with its portable kind and,
/// for server errors, the SQLSTATE as `code()`.
pub(crate) fn map_error(err: tokio_postgres::Error) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code().to_owned();
        let kind = classify_sqlstate(&code);
        let mut message = db.message().to_owned();
        if let Some(detail) = db.detail() {
            message.push_str(" (");
            message.push_str(detail);
            message.push(')');
        }
        if let Some(hint) = db.hint() {
            message.push_str("; hint: ");
            message.push_str(hint);
        }
        return Error::database(
            DatabaseType::Postgres,
            kind,
            Some(code),
            message,
            Some(Box::new(err)),
        );
    }
    // tokio-postgres's Display leaves the cause out ("error connecting to server").
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    let kind = if err.is_closed() {
        ErrorKind::ConnectionLost
    } else {
        match classify_text(&text) {
            // The connection broke during the handshake (a server going down as the
            // pool connects): worth retrying, unlike a TLS disagreement.
            ErrorKind::Tls if broken_transport(&err) => ErrorKind::Connect,
            kind => kind,
        }
    };
    if let Some(index) = serialized_parameter(&text) {
        return Error::parameter(index + 1, text);
    }
    Error::database(
        DatabaseType::Postgres,
        kind,
        None,
        text,
        Some(Box::new(err)),
    )
}

/// Classifies a non-server error by tokio-postgres's message (its error kind is private).
fn classify_text(text: &str) -> ErrorKind {
    let starts = |p: &str| text.starts_with(p);
    if starts("error performing TLS handshake") {
        ErrorKind::Tls
    } else if starts("error connecting to server") || starts("timeout waiting for server") {
        ErrorKind::Connect
    } else if starts("connection closed") || starts("error communicating with the server") {
        ErrorKind::ConnectionLost
    } else if starts("authentication error") {
        ErrorKind::Authentication
    } else if starts("invalid configuration") || starts("invalid connection string") {
        ErrorKind::Config
    } else if starts("error deserializing column") {
        ErrorKind::Decode
    } else if starts("error serializing parameter") {
        ErrorKind::Parameter
    } else {
        ErrorKind::Other
    }
}

/// Whether an I/O error in `err`'s causes says the connection itself broke (reset,
/// aborted, closed mid-handshake) rather than that the peers disagreed.
fn broken_transport(err: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as Io;
    let mut cause = err.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                Io::ConnectionReset
                    | Io::ConnectionAborted
                    | Io::UnexpectedEof
                    | Io::BrokenPipe
                    | Io::NotConnected
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The 0-based parameter index of an "error serializing parameter N" message.
fn serialized_parameter(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("error serializing parameter ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Converts a pool error. `timeout` is the configured pool deadline.
pub(crate) fn map_pool_error(err: PoolError, timeout: Duration) -> Error {
    match err {
        PoolError::Timeout(TimeoutType::Wait | TimeoutType::Recycle) => Error::PoolTimeout(timeout),
        PoolError::Timeout(TimeoutType::Create) => Error::database(
            DatabaseType::Postgres,
            ErrorKind::Connect,
            None,
            format!("no connection was established within {timeout:?}"),
            None,
        ),
        PoolError::Backend(e) => map_error(e),
        PoolError::Closed => Error::PoolClosed,
        PoolError::PostCreateHook(e) => Error::Internal(format!("connection set-up failed: {e}")),
        PoolError::NoRuntimeSpecified => {
            Error::Internal("the connection pool has no async runtime".into())
        }
    }
}

/// A clear error for an `sslMode` of `require` or stricter against a server that
/// refused TLS, or a TLS failure.
pub(crate) fn describe_tls(err: Error, ssl_mode: dbcore::SslMode) -> Error {
    if err.kind() != ErrorKind::Tls {
        return err;
    }
    let Error::Database(db) = err else {
        return err;
    };
    let mut message = db.message.clone();
    if message.contains("server does not support TLS") {
        message = format!(
            "the server does not support TLS, but sslMode is `{}`, which never falls back \
             to plaintext (enable ssl on the server, or set sslMode to `prefer` or `disable`)",
            ssl_mode.as_str()
        );
    }
    Error::database(
        DatabaseType::Postgres,
        ErrorKind::Tls,
        None,
        message,
        db.source,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_classify() {
        for (code, kind) in [
            ("23505", ErrorKind::UniqueViolation),
            ("23503", ErrorKind::ForeignKeyViolation),
            ("23502", ErrorKind::NotNullViolation),
            ("23514", ErrorKind::CheckViolation),
            ("40001", ErrorKind::SerializationFailure),
            ("40P01", ErrorKind::Deadlock),
            ("25006", ErrorKind::ReadOnlyViolation),
            ("57014", ErrorKind::Timeout),
            ("08006", ErrorKind::ConnectionLost),
            ("08003", ErrorKind::ConnectionLost),
            ("57P01", ErrorKind::ConnectionLost),
            ("57P03", ErrorKind::Connect),
            ("28P01", ErrorKind::Authentication),
            ("28000", ErrorKind::Authentication),
            ("3D000", ErrorKind::UnknownDatabase),
            ("42601", ErrorKind::Syntax),
            ("42P01", ErrorKind::Syntax),
            ("42703", ErrorKind::Syntax),
            ("42501", ErrorKind::Other),
            ("42P18", ErrorKind::Parameter),
            ("55P03", ErrorKind::Busy),
            ("22012", ErrorKind::Other),
        ] {
            assert_eq!(classify_sqlstate(code), kind, "{code}");
        }
        assert!(classify_sqlstate("40001").is_retryable());
        assert!(classify_sqlstate("40P01").is_retryable());
        assert!(!classify_sqlstate("23505").is_retryable());
        // Permanent connect failures are not retried; transient ones are.
        assert!(!classify_sqlstate("28P01").is_transient_connect());
        assert!(!classify_sqlstate("3D000").is_transient_connect());
        assert!(classify_sqlstate("57P03").is_transient_connect());
    }

    #[test]
    fn client_errors_classify_by_message() {
        assert_eq!(
            classify_text("error performing TLS handshake: server does not support TLS"),
            ErrorKind::Tls
        );
        assert_eq!(
            classify_text("error connecting to server: Connection refused (os error 111)"),
            ErrorKind::Connect
        );
        assert_eq!(
            classify_text("connection closed"),
            ErrorKind::ConnectionLost
        );
        assert_eq!(
            classify_text("error communicating with the server: broken pipe"),
            ErrorKind::ConnectionLost
        );
        assert_eq!(
            classify_text("authentication error: password missing"),
            ErrorKind::Authentication
        );
        assert_eq!(
            serialized_parameter("error serializing parameter 2: x"),
            Some(2)
        );
        assert_eq!(serialized_parameter("connection closed"), None);
    }

    #[test]
    fn broken_connections_are_told_from_tls_failures() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error performing TLS handshake")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let reset = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(broken_transport(&reset));
        let eof = Wrapper(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert!(broken_transport(&eof));
        let bad_cert = Wrapper(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate",
        ));
        assert!(!broken_transport(&bad_cert));
    }

    #[test]
    fn pool_errors_map() {
        let t = Duration::from_millis(300);
        let e = map_pool_error(PoolError::Timeout(TimeoutType::Wait), t);
        assert_eq!(e.kind(), ErrorKind::PoolTimeout);
        let e = map_pool_error(PoolError::Timeout(TimeoutType::Create), t);
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(e.kind().is_transient_connect());
        assert_eq!(
            map_pool_error(PoolError::Closed, t).kind(),
            ErrorKind::PoolClosed
        );
    }

    #[test]
    fn tls_refusal_is_explained() {
        let e = Error::database(
            DatabaseType::Postgres,
            ErrorKind::Tls,
            None,
            "error performing TLS handshake: server does not support TLS",
            None,
        );
        let e = describe_tls(e, dbcore::SslMode::Require);
        assert_eq!(e.kind(), ErrorKind::Tls);
        let msg = e.to_string();
        assert!(msg.contains("sslMode is `require`"), "{msg}");
        assert!(msg.contains("never falls back to plaintext"), "{msg}");
    }
}
