//! Mapping rusqlite errors onto the portable [`dbcore::Error`]. Nothing else in this
//! crate looks at native error types.

use dbcore::{DatabaseType, Error, ErrorKind};
use rusqlite::ffi;

/// Converts a rusqlite error into a [`dbcore::Error`] with its portable kind and the
/// SQLite extended result code.
pub(crate) fn map_error(err: rusqlite::Error) -> Error {
    match err {
        rusqlite::Error::SqliteFailure(native, message) => {
            let kind = classify(native.extended_code, message.as_deref());
            let text = message.unwrap_or_else(|| native.to_string());
            Error::database(
                DatabaseType::Sqlite,
                kind,
                Some(native.extended_code.to_string()),
                text,
                Some(Box::new(native)),
            )
        }
        rusqlite::Error::MultipleStatement => Error::MultipleStatements,
        rusqlite::Error::InvalidParameterCount(given, expected) => Error::Parameter {
            position: "count".into(),
            message: format!("the statement takes {expected} parameter(s), {given} given"),
        },
        rusqlite::Error::InvalidParameterName(name) => Error::Parameter {
            position: name,
            message: "unknown parameter name".into(),
        },
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => Error::database(
            DatabaseType::Sqlite,
            ErrorKind::Syntax,
            Some(error.extended_code.to_string()),
            format!("{msg} (at byte {offset})"),
            None,
        ),
        rusqlite::Error::Utf8Error(_, e) => Error::Decode {
            column: "?".into(),
            message: format!("text is not valid UTF-8: {e}"),
        },
        other => Error::database(
            DatabaseType::Sqlite,
            ErrorKind::Other,
            None,
            other.to_string(),
            Some(Box::new(other)),
        ),
    }
}

fn classify(extended: i32, message: Option<&str>) -> ErrorKind {
    match extended {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            ErrorKind::UniqueViolation
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
        ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
        ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
        _ => match extended & 0xff {
            ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => ErrorKind::Busy,
            ffi::SQLITE_READONLY => ErrorKind::ReadOnlyViolation,
            ffi::SQLITE_INTERRUPT => ErrorKind::Timeout,
            ffi::SQLITE_CANTOPEN | ffi::SQLITE_NOTADB => ErrorKind::UnknownDatabase,
            ffi::SQLITE_AUTH | ffi::SQLITE_PERM => ErrorKind::Authentication,
            ffi::SQLITE_RANGE | ffi::SQLITE_MISMATCH => ErrorKind::Parameter,
            ffi::SQLITE_ERROR if is_syntax(message) => ErrorKind::Syntax,
            _ => ErrorKind::Other,
        },
    }
}

fn is_syntax(message: Option<&str>) -> bool {
    let Some(m) = message else { return false };
    [
        "syntax error",
        "no such table",
        "no such column",
        "no such function",
        "incomplete input",
        "unrecognized token",
        "near \"",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_codes_classify() {
        assert_eq!(classify(2067, None), ErrorKind::UniqueViolation);
        assert_eq!(classify(1555, None), ErrorKind::UniqueViolation);
        assert_eq!(classify(787, None), ErrorKind::ForeignKeyViolation);
        assert_eq!(classify(1299, None), ErrorKind::NotNullViolation);
        assert_eq!(classify(275, None), ErrorKind::CheckViolation);
        assert_eq!(classify(5, None), ErrorKind::Busy);
        assert_eq!(classify(517, None), ErrorKind::Busy); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(classify(8, None), ErrorKind::ReadOnlyViolation);
        assert_eq!(
            classify(1, Some("near \"SELEC\": syntax error")),
            ErrorKind::Syntax
        );
        assert_eq!(classify(1, Some("something else")), ErrorKind::Other);
    }
}
