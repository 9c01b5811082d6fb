//! What a YAML scalar means to Kubernetes.
//!
//! kubectl reads manifests through sigs.k8s.io/yaml on go-yaml v2, which resolves plain
//! (unquoted) scalars by YAML 1.1 rules: `0644` is octal 420, `0x1F` is 31, `on`/`yes`/`y` are
//! true, `~` is null, `1e3` is a float. A quoted or block scalar is always a string unless an
//! explicit tag (`!!int "12"`) says otherwise. The rules here were established by feeding each
//! spelling to kubectl (tests/integration/render_oracle.rs keeps checking them); the table is in
//! docs/reliability.md.

use super::malformed::Malformed;
use serde_json::{Number, Value};

/// A scalar as go-yaml v2 resolves it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` that fits 64 unsigned bits.
    Uint(u64),
    Float(f64),
    /// The scalar is a string: its text, unchanged.
    Str,
}

impl Resolved {
    /// The tag go-yaml names this kind by in its messages.
    fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) | Resolved::Uint(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Str => "!!str",
        }
    }
}

const TRUE: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
];
const FALSE: &[&str] = &[
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
];
const NULL: &[&str] = &["", "~", "null", "Null", "NULL"];

/// Resolves a plain scalar. Spellings outside go-yaml's tables stay strings: base-60 numbers
/// (`1:20`), timestamps (`2001-12-14`, kept as text by kubectl), `.Infinity`, `0x1p3`, `1e400`.
pub(crate) fn resolve_plain(text: &str) -> Resolved {
    let Some(&first) = text.as_bytes().first() else {
        return Resolved::Null;
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => {
            if TRUE.contains(&text) {
                Resolved::Bool(true)
            } else if FALSE.contains(&text) {
                Resolved::Bool(false)
            } else if NULL.contains(&text) {
                Resolved::Null
            } else {
                Resolved::Str
            }
        }
        b'.' => match text {
            ".nan" | ".NaN" | ".NAN" => Resolved::Float(f64::NAN),
            ".inf" | ".Inf" | ".INF" => Resolved::Float(f64::INFINITY),
            _ => go_parse_float(text).map_or(Resolved::Str, Resolved::Float),
        },
        b'+' | b'-' | b'0'..=b'9' => match text {
            "+.inf" | "+.Inf" | "+.INF" => Resolved::Float(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => Resolved::Float(f64::NEG_INFINITY),
            _ => resolve_number(text),
        },
        _ => Resolved::Str,
    }
}

/// go-yaml strips every `_`, then tries Go's `ParseInt(s, 0, 64)`, `ParseUint(s, 0, 64)` and,
/// for decimal-looking text, `ParseFloat`.
fn resolve_number(text: &str) -> Resolved {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(n) = go_parse_int(&plain) {
        return n;
    }
    if is_yaml_style_float(&plain)
        && let Some(f) = go_parse_float(&plain)
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)` falling back to `ParseUint(s, 0, 64)`: an optional sign
/// (signed only), then `0x`/`0o`/`0b` or a leading `0` (octal) or decimal digits.
fn go_parse_int(s: &str) -> Option<Resolved> {
    let (negative, signed, digits) = match s.as_bytes().first()? {
        b'-' => (true, true, &s[1..]),
        b'+' => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let (radix, body) = if let Some(rest) = strip_prefix_ci(digits, "0x") {
        (16, rest)
    } else if let Some(rest) = strip_prefix_ci(digits, "0o") {
        (8, rest)
    } else if let Some(rest) = strip_prefix_ci(digits, "0b") {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some(Resolved::Int((magnitude as i64).wrapping_neg()))
        } else {
            None
        }
    } else if let Ok(n) = i64::try_from(magnitude) {
        Some(Resolved::Int(n))
    } else if signed {
        // ParseUint takes no sign, and ParseInt is out of range.
        None
    } else {
        Some(Resolved::Uint(magnitude))
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml hands it; out of range
/// (`1e400`) is a failure, as in Go.
fn go_parse_float(s: &str) -> Option<f64> {
    // Go allows `_` only between digits; go-yaml removed them already on the numeric path.
    if s.contains('_') {
        if !underscores_between_digits(s) {
            return None;
        }
        return go_parse_float(&s.replace('_', ""));
    }
    let decimal = s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !decimal {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn underscores_between_digits(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_'
            || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// An explicit tag on a scalar, as go-yaml v2 treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarTag {
    /// `!!str`, or a custom or non-specific tag (`!thing`, `!`): the text, unresolved.
    Str,
    /// `!!binary`: base64 text, decoded.
    Binary,
    /// `!!null`, `!!bool`, `!!int`, `!!float`, `!!timestamp`: resolved, and refused unless the
    /// text resolves to that kind.
    Checked(&'static str),
}

impl ScalarTag {
    /// The tag for a YAML core-schema suffix (`int` for `!!int`); `None` for anything else.
    pub(crate) fn from_core(suffix: Option<&str>) -> ScalarTag {
        match suffix {
            Some("binary") => ScalarTag::Binary,
            Some("null") => ScalarTag::Checked("!!null"),
            Some("bool") => ScalarTag::Checked("!!bool"),
            Some("int") => ScalarTag::Checked("!!int"),
            Some("float") => ScalarTag::Checked("!!float"),
            Some("timestamp") => ScalarTag::Checked("!!timestamp"),
            _ => ScalarTag::Str,
        }
    }
}

/// A scalar's meaning: plain text without a tag is resolved, quoted text without a tag is a
/// string, and a tag decides otherwise. `Err` carries go-yaml's reason.
pub(crate) fn resolve_scalar(
    text: &str,
    plain: bool,
    tag: Option<ScalarTag>,
) -> Result<Scalar, Malformed> {
    let Some(tag) = tag else {
        return Ok(if plain {
            Scalar::from_resolved(resolve_plain(text), text)
        } else {
            Scalar::Str(text.to_string())
        });
    };
    match tag {
        ScalarTag::Str => Ok(Scalar::Str(text.to_string())),
        ScalarTag::Binary => decode_binary(text).map(Scalar::Str),
        ScalarTag::Checked(wanted) => {
            let resolved = resolve_plain(text);
            let fits = match (wanted, &resolved) {
                ("!!timestamp", Resolved::Str) => looks_like_timestamp(text),
                ("!!float", Resolved::Int(i)) => {
                    return Ok(Scalar::Float(*i as f64));
                }
                (wanted, resolved) => resolved.tag() == wanted,
            };
            if fits {
                Ok(Scalar::from_resolved(resolved, text))
            } else {
                Err(Malformed::CannotDecode {
                    found: resolved.tag(),
                    text: text.to_string(),
                    wanted,
                })
            }
        }
    }
}

/// go-yaml first checks for `YYYY-`; the date itself is then parsed by Go's time package.
fn looks_like_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

fn decode_binary(text: &str) -> Result<String, Malformed> {
    use base64::Engine;
    // Go's StdEncoding skips line breaks, which block scalars leave in.
    let compact: String = text.chars().filter(|&c| c != '\n' && c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(|bytes| go_lossy_utf8(&bytes))
        .map_err(|_| Malformed::Base64)
}

/// Bytes as Go's JSON encoder writes them into a string: each byte that is not part of valid
/// UTF-8 becomes one U+FFFD.
fn go_lossy_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                bytes = rest.get(1..).unwrap_or_default();
            }
        }
    }
}

/// A resolved scalar with its text where it is a string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn from_resolved(resolved: Resolved, text: &str) -> Scalar {
        match resolved {
            Resolved::Null => Scalar::Null,
            Resolved::Bool(b) => Scalar::Bool(b),
            Resolved::Int(i) => Scalar::Int(i),
            Resolved::Uint(u) => Scalar::Uint(u),
            Resolved::Float(f) => Scalar::Float(f),
            Resolved::Str => Scalar::Str(text.to_string()),
        }
    }

    /// The JSON kubectl sends for this value. Numbers go through Go's JSON encoder and back
    /// through apimachinery's decoder, so an integral float that fits 64 signed bits arrives as
    /// an integer (`1e3` -> 1000) and an integer above `i64::MAX` as a float. Infinity and NaN
    /// have no JSON form: kubectl refuses them.
    pub(crate) fn into_json(self) -> Result<Value, Malformed> {
        Ok(match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Number(i.into()),
            Scalar::Uint(u) => Value::Number(float_number(u as f64)?),
            Scalar::Float(f) => Value::Number(float_number(f)?),
            Scalar::Str(s) => Value::String(s),
        })
    }

    /// The JSON object key sigs.k8s.io/yaml makes of this scalar: integers in decimal, floats
    /// in Go's `%g` at 32-bit precision (its quirk: `1e20` -> "1e+20", `3.14159265358979` ->
    /// "3.1415927"), booleans as `true`/`false`. Null and unsigned keys are refused, as there.
    pub(crate) fn into_key(self) -> Result<String, Malformed> {
        match self {
            Scalar::Str(s) => Ok(s),
            Scalar::Bool(b) => Ok(b.to_string()),
            Scalar::Int(i) => Ok(i.to_string()),
            Scalar::Float(f) if f.is_nan() => Ok(".nan".to_string()),
            Scalar::Float(f) if f.is_infinite() => {
                Ok(if f > 0.0 { ".inf" } else { "-.inf" }.to_string())
            }
            Scalar::Float(f) => Ok(go_format_g32(f)),
            Scalar::Uint(u) => Err(Malformed::UnsignedKey(u)),
            Scalar::Null => Err(Malformed::NullKey),
        }
    }
}

fn float_number(f: f64) -> Result<Number, Malformed> {
    if !f.is_finite() {
        let shown = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        return Err(Malformed::NotFinite(shown));
    }
    // 2^63 is exactly representable; the range is [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        return Ok(Number::from(f as i64));
    }
    Number::from_f64(f).ok_or(Malformed::NotJson(f))
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`.
fn go_format_g32(f: f64) -> String {
    let x = f as f32;
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust prints the shortest digits that round-trip as f32, like Go's shortest mode.
    let e = format!("{x:e}");
    let (mantissa, exponent) = e.split_once('e').unwrap_or((&e, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exponent.unsigned_abs()));
    } else {
        let point = exponent + 1;
        if point <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat(point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                out.push_str(&"0".repeat(point - digits.len()));
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Result<Value, Malformed> {
        resolve_scalar(text, true, None).and_then(Scalar::into_json)
    }

    #[test]
    fn yaml_1_1_booleans_and_nulls_in_their_spellings_only() {
        for t in TRUE {
            assert_eq!(json(t), Ok(Value::Bool(true)), "{t}");
        }
        for f in FALSE {
            assert_eq!(json(f), Ok(Value::Bool(false)), "{f}");
        }
        for n in NULL {
            assert_eq!(json(n), Ok(Value::Null), "{n}");
        }
        for s in ["yEs", "tRue", "oN", "nUll", "NuLL", "Off!", "<<", "_1"] {
            assert_eq!(json(s), Ok(Value::String(s.into())), "{s}");
        }
    }

    #[test]
    fn integers_in_every_base_go_accepts() {
        let cases = [
            ("0644", 420),
            ("0x1F", 31),
            ("0X1f", 31),
            ("0o17", 15),
            ("0b101", 5),
            ("-0b101", -5),
            ("+0b1", 1),
            ("1_000", 1000),
            ("-0", 0),
            ("08", 8),
            ("1e3", 1000),
            ("1.", 1),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (text, n) in cases {
            assert_eq!(json(text), Ok(Value::from(n)), "{text}");
        }
    }

    #[test]
    fn floats_and_numbers_past_64_bits() {
        assert_eq!(json("09.5"), Ok(Value::from(9.5)));
        assert_eq!(json(".5"), Ok(Value::from(0.5)));
        assert_eq!(
            json("9223372036854775808"),
            Ok(Value::from(9.223372036854775808e18))
        );
        assert_eq!(json("1e20"), Ok(Value::from(1e20)));
        for s in [
            "1e400",
            "0x1p3",
            "0x",
            "1e",
            "1:20",
            "2001-12-14",
            ".Infinity",
        ] {
            assert_eq!(json(s), Ok(Value::String(s.into())), "{s}");
        }
        assert!(json(".inf").is_err());
        assert!(json(".nan").is_err());
    }

    #[test]
    fn keys_follow_sigs_yaml() {
        let key = |t: &str| resolve_scalar(t, true, None).and_then(Scalar::into_key);
        assert_eq!(key("0644").as_deref(), Ok("420"));
        assert_eq!(key("yes").as_deref(), Ok("true"));
        assert_eq!(key("1e3").as_deref(), Ok("1000"));
        assert_eq!(key("1e20").as_deref(), Ok("1e+20"));
        assert_eq!(key("1e-7").as_deref(), Ok("1e-07"));
        assert_eq!(key("3.14159265358979323846").as_deref(), Ok("3.1415927"));
        assert_eq!(key("-9223372036854775809").as_deref(), Ok("-9.223372e+18"));
        assert_eq!(key("2.5e-3").as_deref(), Ok("0.0025"));
        assert_eq!(key("-.Inf").as_deref(), Ok("-.inf"));
        assert!(key("~").is_err());
        assert!(key("12345678901234567890").is_err());
    }

    #[test]
    fn tags_decide_over_resolution() {
        let tagged = |t: &str, tag| resolve_scalar(t, false, Some(tag)).and_then(Scalar::into_json);
        assert_eq!(
            tagged("12", ScalarTag::Checked("!!int")),
            Ok(Value::from(12))
        );
        assert_eq!(
            tagged("5", ScalarTag::Checked("!!float")),
            Ok(Value::from(5))
        );
        assert_eq!(
            tagged("aGVsbG8=", ScalarTag::Binary),
            Ok(Value::from("hello"))
        );
        assert_eq!(tagged("0644", ScalarTag::Str), Ok(Value::from("0644")));
        let error = tagged("abc", ScalarTag::Checked("!!int")).err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("cannot decode !!str `abc` as a !!int")
        );
        assert!(tagged("1", ScalarTag::Checked("!!bool")).is_err());
    }
}
