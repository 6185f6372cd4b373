//! Mapping mysql_async errors onto the portable [`dbcore::Error`]. Nothing else in this
//! crate looks at native error types.

use dbcore::{DatabaseType, Error, ErrorKind};
use mysql_async::{DriverError, IoError, LocalInfileError};

/// MySQL / MariaDB error numbers the layer reacts to.
pub(crate) mod code {
    /// `ER_UNSUPPORTED_PS`: the statement cannot be prepared (binary protocol).
    pub(crate) const UNSUPPORTED_PS: u16 = 1295;
    /// `ER_UNKNOWN_TIME_ZONE`.
    pub(crate) const UNKNOWN_TIME_ZONE: u16 = 1298;
    /// `ER_UNKNOWN_CHARACTER_SET`.
    pub(crate) const UNKNOWN_CHARACTER_SET: u16 = 1115;
    /// `ER_UNKNOWN_COLLATION`.
    pub(crate) const UNKNOWN_COLLATION: u16 = 1273;
}

/// Converts a mysql_async error raised on an established connection into a
/// [`dbcore::Error`] with its portable kind and the MySQL error number as code.
pub(crate) fn map_error(err: mysql_async::Error) -> Error {
    match err {
        mysql_async::Error::Server(server) => {
            let kind = classify(server.code);
            Error::database(
                DatabaseType::Mysql,
                kind,
                Some(server.code.to_string()),
                format!("{} (SQLSTATE {})", server.message, server.state),
                Some(Box::new(server)),
            )
        }
        mysql_async::Error::Io(io) => lost(io_message(&io), Box::new(io)),
        mysql_async::Error::Driver(driver) => map_driver(driver),
        mysql_async::Error::Url(url) => Error::config("database.mysql", url.to_string()),
        other => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Other,
            None,
            other.to_string(),
            Some(Box::new(other)),
        ),
    }
}

/// Like [`map_error`], for a failure while opening a connection: I/O failures are
/// [`ErrorKind::Connect`] (refused, reset, DNS: worth retrying) rather than
/// [`ErrorKind::ConnectionLost`], and an unknown `loc` time zone is a configuration error.
pub(crate) fn map_connect_error(err: mysql_async::Error) -> Error {
    match err {
        mysql_async::Error::Io(io) if is_tls_failure(&io) => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Tls,
            None,
            tls_failure_message(&io),
            Some(Box::new(io)),
        ),
        mysql_async::Error::Io(io) if is_not_mysql(&io) => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Connect,
            None,
            format!(
                "the reply does not follow the MySQL protocol ({}): is a MySQL or MariaDB \
                 server listening on this port? check database.mysql.host and \
                 database.mysql.port",
                io_cause(&io)
            ),
            Some(Box::new(io)),
        ),
        mysql_async::Error::Io(io) => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Connect,
            None,
            io_message(&io),
            Some(Box::new(io)),
        ),
        mysql_async::Error::Server(server) if server.code == code::UNKNOWN_TIME_ZONE => {
            Error::config(
                "database.mysql.loc",
                format!(
                    "the server does not know this time zone ({}); load its time zone tables \
                     (mysql_tzinfo_to_sql) or use \"UTC\", \"Local\" or an offset such as \"+02:00\"",
                    server.message
                ),
            )
        }
        mysql_async::Error::Server(server)
            if matches!(
                server.code,
                code::UNKNOWN_CHARACTER_SET | code::UNKNOWN_COLLATION
            ) =>
        {
            Error::config(
                "database.mysql.charset",
                format!(
                    "the server does not know this character set ({}); use one that \
                     SHOW CHARACTER SET lists, such as \"utf8mb4\" (the default)",
                    server.message
                ),
            )
        }
        mysql_async::Error::Driver(DriverError::ConnectionClosed) => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Connect,
            None,
            "the server closed the connection during the handshake",
            None,
        ),
        mysql_async::Error::Driver(
            driver @ (DriverError::PacketOutOfOrder | DriverError::UnexpectedPacket { .. }),
        ) => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Connect,
            None,
            format!(
                "the reply does not follow the MySQL protocol ({driver}): is a MySQL or \
                 MariaDB server listening on this port? check database.mysql.host and \
                 database.mysql.port"
            ),
            Some(Box::new(driver)),
        ),
        other => map_error(other),
    }
}

fn io_message(io: &IoError) -> String {
    format!("I/O error: {}", io_cause(io))
}

/// What an I/O error says, without mysql_async's own "Input/output error: " prefix (the
/// layer's messages already say "I/O error").
fn io_cause(io: &IoError) -> String {
    match io {
        IoError::Io(e) => e.to_string(),
        // The TLS variant exists with the `tls` feature only.
        #[allow(unreachable_patterns)]
        other => other.to_string(),
    }
}

/// Whether an I/O error while connecting says that the peer does not speak the MySQL
/// protocol: its first bytes, read as a packet header, announce a packet larger than
/// any handshake (an HTTP server, say, answers `HTTP/1.1 ...`).
fn is_not_mysql(io: &IoError) -> bool {
    matches!(io, IoError::Io(e) if e.to_string().contains("max_allowed_packet"))
}

/// Whether an I/O error during connect is a failed TLS handshake (a rejected certificate,
/// an alert from the server, no common protocol version): not worth retrying.
fn is_tls_failure(io: &IoError) -> bool {
    #[cfg(feature = "tls")]
    {
        matches!(io, IoError::Tls(_)) || rustls_error(io).is_some()
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = io;
        false
    }
}

/// The rustls error inside an I/O error of the TLS handshake.
#[cfg(feature = "tls")]
fn rustls_error(io: &IoError) -> Option<&rustls::Error> {
    match io {
        IoError::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>(),
        IoError::Tls(_) => None,
    }
}

/// What failed in the TLS handshake, and what to change for a rejected certificate.
fn tls_failure_message(io: &IoError) -> String {
    #[cfg(feature = "tls")]
    if let Some(e) = rustls_error(io) {
        use rustls::CertificateError;
        let hint = match e {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => {
                "; sslMode verify-full needs a certificate issued for database.mysql.host \
                 (verify-ca checks the chain only)"
            }
            rustls::Error::InvalidCertificate(_) => {
                "; sslMode verify-ca and verify-full trust the operating system's root \
                 certificates: install the server's CA there, or point SSL_CERT_FILE at it"
            }
            _ => "",
        };
        return format!("the TLS handshake with the server failed: {e}{hint}");
    }
    format!("the TLS handshake with the server failed: {io}")
}

/// Whether `e` says the server does not offer TLS at all (its handshake lacks the SSL
/// capability), the one case in which `sslMode: prefer` continues in plaintext.
pub(crate) fn is_server_without_tls(e: &Error) -> bool {
    let e = match e {
        Error::Connect { source, .. } => source.as_ref(),
        other => other,
    };
    e.as_database_error()
        .and_then(|db| db.source.as_deref())
        .and_then(|source| source.downcast_ref::<DriverError>())
        .is_some_and(|d| matches!(d, DriverError::NoClientSslFlagFromServer))
}

fn lost(message: String, source: dbcore::BoxError) -> Error {
    Error::database(
        DatabaseType::Mysql,
        ErrorKind::ConnectionLost,
        None,
        message,
        Some(source),
    )
}

fn map_driver(driver: DriverError) -> Error {
    match driver {
        DriverError::ConnectionClosed => lost(
            "the connection to the server is closed".into(),
            Box::new(driver),
        ),
        DriverError::PoolDisconnected => Error::PoolClosed,
        DriverError::LocalInfile(LocalInfileError::NoHandler) => Error::Unsupported(
            "LOAD DATA LOCAL INFILE is refused: this driver never sends client files to the \
             server; load the data with insert_many or a server-side LOAD DATA INFILE"
                .into(),
        ),
        DriverError::StmtParamsMismatch { required, supplied } => Error::Parameter {
            position: "count".into(),
            message: format!("the statement takes {required} parameter(s), {supplied} given"),
        },
        DriverError::StmtParamsNumberExceedsLimit { supplied } => Error::Parameter {
            position: "count".into(),
            message: format!("{supplied} parameters exceed MySQL's limit of 65535"),
        },
        DriverError::PacketTooLarge => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Parameter,
            None,
            "the statement is larger than max_allowed_packet",
            Some(Box::new(driver)),
        ),
        DriverError::NoClientSslFlagFromServer => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Tls,
            None,
            "sslMode requires TLS, but the server does not offer it (have_ssl is not YES), \
             so the connection was closed before any credentials were sent; enable TLS on \
             the server (ssl_cert, ssl_key), or lower database.mysql.sslMode where plaintext \
             is acceptable",
            Some(Box::new(driver)),
        ),
        DriverError::PacketOutOfOrder | DriverError::UnexpectedPacket { .. } => {
            lost(driver.to_string(), Box::new(driver))
        }
        other => Error::database(
            DatabaseType::Mysql,
            ErrorKind::Other,
            None,
            other.to_string(),
            Some(Box::new(other)),
        ),
    }
}

/// The portable kind of a MySQL / MariaDB error number.
pub(crate) fn classify(code: u16) -> ErrorKind {
    match code {
        // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME, ER_DUP_UNIQUE, ER_DUP_KEY
        1062 | 1586 | 1169 | 1022 => ErrorKind::UniqueViolation,
        // ER_ROW_IS_REFERENCED(_2), ER_NO_REFERENCED_ROW(_2)
        1451 | 1452 | 1216 | 1217 => ErrorKind::ForeignKeyViolation,
        // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD
        1048 | 1364 => ErrorKind::NotNullViolation,
        // MySQL ER_CHECK_CONSTRAINT_VIOLATED, MariaDB ER_CONSTRAINT_FAILED
        3819 | 4025 => ErrorKind::CheckViolation,
        // ER_LOCK_DEADLOCK
        1213 => ErrorKind::Deadlock,
        // ER_LOCK_WAIT_TIMEOUT, MySQL ER_LOCK_NOWAIT
        1205 | 3572 => ErrorKind::Busy,
        // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_OPTION_PREVENTS_STATEMENT (read_only)
        1792 | 1290 => ErrorKind::ReadOnlyViolation,
        // ER_QUERY_INTERRUPTED, MySQL max_execution_time, MariaDB max_statement_time
        1317 | 3024 | 1969 => ErrorKind::Timeout,
        // CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED,
        // ER_NET_READ_ERROR..., ER_NEW_ABORTING_CONNECTION
        2006 | 2013 | 1053 | 1927 | 1158..=1161 | 1184 => ErrorKind::ConnectionLost,
        // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
        1045 | 1044 | 1698 => ErrorKind::Authentication,
        // ER_BAD_DB_ERROR
        1049 => ErrorKind::UnknownDatabase,
        // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_HOST_IS_BLOCKED
        1040 | 1203 | 1129 => ErrorKind::Connect,
        // ER_PARSE_ERROR, ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR, ER_EMPTY_QUERY,
        // ER_BAD_TABLE_ERROR, ER_SP_DOES_NOT_EXIST, ER_SYNTAX_ERROR, ER_NON_UNIQ_ERROR,
        // ER_TABLE_EXISTS_ERROR, ER_WRONG_VALUE_COUNT_ON_ROW, ER_FIELD_SPECIFIED_TWICE
        1064 | 1146 | 1054 | 1065 | 1051 | 1305 | 1149 | 1052 | 1050 | 1136 | 1110 => {
            ErrorKind::Syntax
        }
        // ER_WRONG_ARGUMENTS (to EXECUTE), ER_WRONG_PARAMCOUNT_TO_PROCEDURE
        1210 | 1318 => ErrorKind::Parameter,
        // ER_UNSUPPORTED_PS
        1295 => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn error_numbers_classify() {
        for (code, kind) in [
            (1062, ErrorKind::UniqueViolation),
            (1451, ErrorKind::ForeignKeyViolation),
            (1452, ErrorKind::ForeignKeyViolation),
            (1048, ErrorKind::NotNullViolation),
            (3819, ErrorKind::CheckViolation),
            (4025, ErrorKind::CheckViolation),
            (1213, ErrorKind::Deadlock),
            (1205, ErrorKind::Busy),
            (1792, ErrorKind::ReadOnlyViolation),
            (2006, ErrorKind::ConnectionLost),
            (2013, ErrorKind::ConnectionLost),
            (1064, ErrorKind::Syntax),
            (1146, ErrorKind::Syntax),
            (1054, ErrorKind::Syntax),
            (1317, ErrorKind::Timeout),
            (1045, ErrorKind::Authentication),
            (1049, ErrorKind::UnknownDatabase),
            (1366, ErrorKind::Other),
        ] {
            assert_eq!(classify(code), kind, "error {code}");
        }
    }

    #[test]
    fn server_errors_keep_their_number_and_retryability() {
        let e = map_error(server(1213, "Deadlock found when trying to get lock"));
        assert_eq!(e.kind(), ErrorKind::Deadlock);
        assert_eq!(e.code(), Some("1213"));
        assert!(e.is_retryable());
        let e = map_error(server(1205, "Lock wait timeout exceeded"));
        assert!(e.is_retryable());
        let e = map_error(server(1062, "Duplicate entry '1' for key 'PRIMARY'"));
        assert_eq!(e.kind(), ErrorKind::UniqueViolation);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("Duplicate entry"), "{e}");
    }

    #[test]
    fn connect_errors() {
        let io = mysql_async::Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let e = map_connect_error(io);
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(e.kind().is_transient_connect());
        let e = map_connect_error(server(1045, "Access denied for user 'root'@'localhost'"));
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(!e.kind().is_transient_connect());
        let e = map_connect_error(server(1049, "Unknown database 'nope'"));
        assert_eq!(e.kind(), ErrorKind::UnknownDatabase);
        let e = map_connect_error(server(1298, "Unknown or incorrect time zone: 'Mars/Base'"));
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("database.mysql.loc"), "{e}");
        let e = map_connect_error(server(1115, "Unknown character set: 'klingon'"));
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("database.mysql.charset"), "{e}");
        assert!(e.to_string().contains("klingon"), "{e}");
        let io = mysql_async::Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::UnexpectedEof,
        )));
        assert_eq!(map_error(io).kind(), ErrorKind::ConnectionLost);
    }

    #[test]
    fn io_errors_say_io_error_once() {
        let refused = || {
            mysql_async::Error::Io(IoError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused (os error 111)",
            )))
        };
        for e in [map_connect_error(refused()), map_error(refused())] {
            assert_eq!(
                e.to_string(),
                "mysql error (connect): I/O error: Connection refused (os error 111)"
                    .replace("(connect)", &format!("({})", e.kind().as_str())),
            );
        }
    }

    #[test]
    fn a_peer_that_is_not_a_mysql_server_is_named_as_such() {
        // What mysql_async reports when the first bytes are `HTTP/1.1 400 ...`.
        let e = map_connect_error(mysql_async::Error::Io(IoError::Io(std::io::Error::other(
            "Packet is larger than max_allowed_packet",
        ))));
        assert_eq!(e.kind(), ErrorKind::Connect);
        let message = e.to_string();
        assert!(
            message.contains("does not follow the MySQL protocol"),
            "{message}"
        );
        assert!(message.contains("database.mysql.port"), "{message}");
        let e = map_connect_error(mysql_async::Error::Driver(DriverError::PacketOutOfOrder));
        assert!(
            e.to_string().contains("does not follow the MySQL protocol"),
            "{e}"
        );
    }

    #[test]
    fn a_server_without_tls_is_a_tls_error_prefer_can_recognise() {
        let e = map_connect_error(mysql_async::Error::Driver(
            DriverError::NoClientSslFlagFromServer,
        ));
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(!e.kind().is_transient_connect());
        assert!(e.to_string().contains("does not offer it"), "{e}");
        assert!(is_server_without_tls(&e));
        let wrapped = Error::Connect {
            target: "mysql at h:3306/db".into(),
            attempts: 1,
            source: Box::new(e),
        };
        assert!(is_server_without_tls(&wrapped));
        // Other failures are not.
        let e = map_connect_error(server(1045, "Access denied"));
        assert!(!is_server_without_tls(&e));
        let io = mysql_async::Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(!is_server_without_tls(&map_connect_error(io)));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rejected_certificates_are_tls_errors_with_a_hint() {
        use rustls::CertificateError;
        let handshake = |e: rustls::Error| {
            map_connect_error(mysql_async::Error::Io(IoError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e,
            ))))
        };
        let e = handshake(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(!e.kind().is_transient_connect());
        assert!(e.to_string().contains("SSL_CERT_FILE"), "{e}");
        let e = handshake(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert_eq!(e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("database.mysql.host"), "{e}");
        let e = handshake(rustls::Error::AlertReceived(
            rustls::AlertDescription::ProtocolVersion,
        ));
        assert_eq!(e.kind(), ErrorKind::Tls);
        // An I/O error without rustls inside stays a (retryable) connect error.
        let io = mysql_async::Error::Io(IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(map_connect_error(io).kind(), ErrorKind::Connect);
    }

    #[test]
    fn local_infile_refusal_is_clear() {
        let e = map_error(mysql_async::Error::Driver(DriverError::LocalInfile(
            LocalInfileError::NoHandler,
        )));
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("LOAD DATA LOCAL INFILE"), "{e}");
    }
}
