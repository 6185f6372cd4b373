//! Query parameters from command-line strings.

use dbfactory::Value;

/// `null` → NULL, `true`/`false` → booleans, integers → `Int`, decimal numbers → `Float`,
/// `s:<text>` → the text, anything else → text.
///
/// Numbers with a leading zero (`0123`) stay text, like zip codes and PINs; so do
/// integers too large for 64 bits.
pub(crate) fn parse_param(s: &str) -> Value {
    if let Some(text) = s.strip_prefix("s:") {
        return Value::Text(text.to_owned());
    }
    match s {
        "null" => return Value::Null,
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if is_integer(s) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    } else if is_decimal(s)
        && let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Value::Float(f);
    }
    Value::Text(s.to_owned())
}

/// The digits after an optional sign, if that is all there is.
fn unsigned(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

/// `-?[1-9][0-9]*` or `0`.
fn is_integer(s: &str) -> bool {
    let digits = unsigned(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// `-?(0|[1-9][0-9]*)?\.[0-9]+([eE][+-]?[0-9]+)?` or an integer with an exponent.
fn is_decimal(s: &str) -> bool {
    let body = unsigned(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let int_ok = digits(int) && (int.len() <= 1 || !int.starts_with('0'));
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && digits(f));
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    let has_digits = !int.is_empty() || frac.is_some_and(|f| !f.is_empty());
    has_digits && int_ok && frac_ok && exp_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let table = [
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("42", Value::Int(42)),
            ("-7", Value::Int(-7)),
            ("0", Value::Int(0)),
            ("1.5", Value::Float(1.5)),
            ("-0.25", Value::Float(-0.25)),
            (".5", Value::Float(0.5)),
            ("1e3", Value::Float(1000.0)),
            ("hello", Value::Text("hello".into())),
            ("0123", Value::Text("0123".into())),
            ("NULL", Value::Text("NULL".into())),
            ("s:42", Value::Text("42".into())),
            ("s:null", Value::Text("null".into())),
            ("s:", Value::Text(String::new())),
            ("", Value::Text(String::new())),
            ("nan", Value::Text("nan".into())),
            ("inf", Value::Text("inf".into())),
            ("1.", Value::Text("1.".into())),
            ("1e", Value::Text("1e".into())),
            (
                "99999999999999999999",
                Value::Text("99999999999999999999".into()),
            ),
            ("12abc", Value::Text("12abc".into())),
        ];
        for (input, expected) in table {
            assert_eq!(parse_param(input), expected, "{input:?}");
        }
    }
}
