//! Go-style duration strings (`500ms`, `30s`, `5m`, `1h30m`, `1.5s`, `0`) for configuration.
//!
//! Use the module with serde's `with` attribute on a [`Duration`] field:
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Settings {
//!     #[serde(with = "dbcore::config::duration")]
//!     timeout: Duration,
//! }
//!
//! let s: Settings = serde_json::from_str(r#"{ "timeout": "1m30s" }"#).unwrap();
//! assert_eq!(s.timeout, Duration::from_secs(90));
//! assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"timeout":"1m30s"}"#);
//! ```
//!
//! Only strings are accepted: a bare number such as `5` is ambiguous (seconds? milliseconds?)
//! and is rejected with a message that says what to write instead.

use std::fmt;
use std::time::Duration;

use serde::{Deserializer, Serializer, de};

const NANOS_PER_SEC: u128 = 1_000_000_000;
const EXPECTED: &str =
    "expected a number followed by a unit (ns, us, ms, s, m, h), e.g. 500ms, 30s, 5m";

/// Parses a Go-style duration: a sequence of decimal numbers, each with an optional fraction
/// and a unit, such as `300ms`, `1.5s`, `2h45m` or `0`.
///
/// Units are `ns`, `us` (also `µs`), `ms`, `s`, `m` and `h`. Surrounding whitespace is
/// ignored. Negative durations, bare numbers other than `0`, and unknown units (`1d`) are
/// rejected with a message that says what to write.
///
/// ```
/// use std::time::Duration;
/// use dbcore::config::duration::parse_duration;
///
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("5 minutes").unwrap_err().contains("e.g. 500ms, 30s, 5m"));
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let fail = |reason: &str| format!("invalid duration {input:?}: {reason}{EXPECTED}");
    let s = input.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(fail("durations cannot be negative; "));
    }
    if s.is_empty() {
        return Err(fail(""));
    }

    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        // Integer part.
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &s[int_start..i];
        // Fraction.
        let mut frac_digits = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &s[frac_start..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(fail(""));
        }
        // Unit: everything up to the next digit or dot.
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && bytes[i] != b'.' {
            i += 1;
        }
        let unit = &s[unit_start..i];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "" => return Err(fail("missing unit; ")),
            other => return Err(fail(&format!("unknown unit {other:?}; "))),
        };

        let too_large = || fail("value too large; ");
        let mut value: u128 = 0;
        for d in int_digits.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(d - b'0')))
                .ok_or_else(too_large)?;
        }
        value = value.checked_mul(unit_nanos).ok_or_else(too_large)?;
        // Fraction: digits beyond nanosecond precision cannot matter; keeping at most 20
        // also keeps `frac * unit_nanos` far from overflowing.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_digits.bytes().take(20) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value = value
            .checked_add(frac * unit_nanos / scale)
            .ok_or_else(too_large)?;
        total = total.checked_add(value).ok_or_else(too_large)?;
    }

    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| fail("value too large; "))?;
    // The remainder is below one billion, so it always fits.
    let nanos = u32::try_from(total % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration in the shortest Go-style form that [`parse_duration`] reads back
/// exactly: `0`, `500ms`, `1.5s`, `30s`, `5m`, `1h30m`, `250us`.
///
/// ```
/// use std::time::Duration;
/// use dbcore::config::duration::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(300)), "5m");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::ZERO), "0");
/// ```
pub fn format_duration(d: Duration) -> String {
    let total_secs = d.as_secs();
    let sub_nanos = u64::from(d.subsec_nanos());
    if total_secs == 0 {
        return match sub_nanos {
            0 => "0".to_owned(),
            n if n >= 1_000_000 => with_fraction(n / 1_000_000, n % 1_000_000, 6, "ms"),
            n if n >= 1_000 => with_fraction(n / 1_000, n % 1_000, 3, "us"),
            n => format!("{n}ns"),
        };
    }
    let hours = total_secs / 3600;
    let minutes = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || sub_nanos > 0 {
        out.push_str(&with_fraction(secs, sub_nanos, 9, "s"));
    }
    out
}

/// `whole.frac` + unit, where `frac` has `width` digits, trailing zeros removed.
fn with_fraction(whole: u64, frac: u64, width: usize, unit: &str) -> String {
    if frac == 0 {
        return format!("{whole}{unit}");
    }
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
}

/// Serializes a [`Duration`] as a Go-style string (see [`format_duration`]).
///
/// For `#[serde(with = "dbcore::config::duration")]`.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*d))
}

/// Deserializes a [`Duration`] from a Go-style string (see [`parse_duration`]).
///
/// For `#[serde(with = "dbcore::config::duration")]`. Numbers are rejected: write `"30s"`,
/// not `30`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_str(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string with a unit, e.g. \"500ms\", \"30s\", \"5m\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may panic on failure
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_durations() {
        let table = [
            ("0", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("250μs", Duration::from_micros(250)),
            ("10ns", Duration::from_nanos(10)),
            ("0s", Duration::ZERO),
            ("0.000000001s", Duration::from_nanos(1)),
            ("1.0000000019s", Duration::new(1, 1)),
            (" 30s ", Duration::from_secs(30)),
            ("1m1m", Duration::from_secs(120)),
        ];
        for (input, expected) in table {
            assert_eq!(parse_duration(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn rejects_everything_else_with_a_helpful_message() {
        for input in [
            "5 minutes",
            "5",
            "-1s",
            "",
            "1d",
            "s",
            ".s",
            "1.5",
            "1s 2m",
            "+1s",
            "1e3s",
            "30S",
            "1h-1m",
        ] {
            let err = parse_duration(input).expect_err(input);
            assert!(
                err.starts_with(&format!("invalid duration {input:?}: ")),
                "{err}"
            );
            assert!(err.ends_with(EXPECTED), "{err}");
        }
        assert_eq!(
            parse_duration("5 minutes").unwrap_err(),
            "invalid duration \"5 minutes\": unknown unit \" minutes\"; expected a number \
             followed by a unit (ns, us, ms, s, m, h), e.g. 500ms, 30s, 5m"
        );
        assert!(
            parse_duration("1d")
                .unwrap_err()
                .contains("unknown unit \"d\"")
        );
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
    }

    #[test]
    fn rejects_overflow() {
        let err = parse_duration("99999999999999999999999999999999999999999h").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        let err = parse_duration("9999999999999999999h").unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn formats_shortest_form() {
        let table = [
            (Duration::ZERO, "0"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(3601), "1h1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_001), "1.001us"),
            (Duration::new(61, 1), "1m1.000000001s"),
        ];
        for (d, expected) in table {
            assert_eq!(format_duration(d), expected, "{d:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::new(1, 1),
            Duration::new(86_400 * 365, 123_456_789),
            Duration::new(u64::MAX, 999_999_999),
            Duration::from_millis(12_345),
        ];
        for d in samples {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        for _ in 0..1000 {
            let d = Duration::new(
                fastrand::u64(0..10_000_000),
                fastrand::u32(0..1_000_000_000),
            );
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Holder {
        #[serde(with = "super")]
        d: Duration,
    }

    #[test]
    fn serde_strings_only() {
        let h: Holder = serde_json::from_str(r#"{"d":"1m30s"}"#).unwrap();
        assert_eq!(h.d, Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"d":"1m30s"}"#);

        let err = serde_json::from_str::<Holder>(r#"{"d":30}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a duration string"), "{err}");
        let err = serde_json::from_str::<Holder>(r#"{"d":"30"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration \"30\""), "{err}");
    }
}
