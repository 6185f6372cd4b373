//! [`Secret`]: a password that never shows up in `Debug` or `Display` output.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string, such as a database password.
///
/// It serializes and deserializes as a plain string (so configuration files round-trip), but
/// its `Debug` and `Display` output is `***` (or `(empty)` when no secret is set), so it
/// cannot leak through logs, error messages or `{:?}` of a configuration. Use
/// [`Secret::expose`] where the real value is needed, e.g. when handing it to a driver's typed
/// password setter.
///
/// ```
/// use dbcore::config::Secret;
///
/// let s = Secret::from("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "*** ***");
/// assert_eq!(s.expose(), "hunter2");
/// assert_eq!(Secret::default().to_string(), "(empty)");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the secret value.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Whether no secret is set (the empty string).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What `Debug` and `Display` print: `***`, or `(empty)` for an empty secret.
    pub fn redacted(&self) -> &'static str {
        if self.0.is_empty() { "(empty)" } else { "***" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::from("s3cr3t-sentinel");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert_eq!(s.to_string(), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(format!("{:?}", Secret::default()), "(empty)");
        assert!(Secret::default().is_empty());
        assert!(!s.is_empty());
        assert_eq!(s.expose(), "s3cr3t-sentinel");
        assert_eq!(s.clone().into_inner(), "s3cr3t-sentinel");
        assert_eq!(Secret::new(String::from("x")), Secret::from("x"));
    }

    #[test]
    fn serde_is_a_plain_string() {
        let s: Secret = serde_json::from_str(r#""0123""#).unwrap();
        assert_eq!(s.expose(), "0123");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""0123""#);
        assert!(serde_json::from_str::<Secret>("123").is_err());
    }
}
