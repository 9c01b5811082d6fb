//! JSON value -> block YAML for people to read, written so that a YAML 1.1 reader (kubectl's)
//! reads back exactly the value shown: any string that would resolve to something else (`on`,
//! `0644`, `1e3`, `~`, `null`, `y`) or that YAML syntax would misread is quoted.

use serde_json::{Map, Value};

use super::resolve::{Resolved, resolve_plain};

/// The value as a block YAML document, ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0, false),
        other => {
            write_scalar(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `inline`: the first entry continues a line already started (after `- `).
fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize, inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        out.push_str(&scalar_text(key));
        out.push(':');
        match value {
            Value::Object(child) if !child.is_empty() => {
                out.push('\n');
                write_mapping(out, child, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, indent + 2);
                out.push('\n');
            }
        }
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(child) if !child.is_empty() => {
                write_mapping(out, child, indent + 2, true);
            }
            Value::Array(child) if !child.is_empty() => {
                write_sequence(out, child, indent + 2, true);
            }
            scalar => {
                write_scalar(out, scalar, indent + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar or empty collection; a multi-line string becomes a literal block indented to
/// `block_indent`.
fn write_scalar(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) if literal_block_fits(s) => {
            let body = s.trim_end_matches('\n');
            let chomp = match s.len() - body.len() {
                0 => "-",
                1 => "",
                _ => "+",
            };
            out.push('|');
            out.push_str(chomp);
            // Keep-chomped trailing line breaks are written as empty lines.
            let mut lines: Vec<&str> = body.split('\n').collect();
            lines.extend(std::iter::repeat_n(
                "",
                (s.len() - body.len()).saturating_sub(1),
            ));
            for line in lines {
                out.push('\n');
                if !line.is_empty() {
                    pad(out, block_indent);
                    out.push_str(line);
                }
            }
        }
        Value::String(s) => out.push_str(&scalar_text(s)),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A literal block reads back as the same text when the text has several lines, no character
/// that needs an escape, and a first line that is neither empty nor starts with a space (either
/// would upset the block's indentation).
fn literal_block_fits(s: &str) -> bool {
    let body = s.trim_end_matches('\n');
    body.contains('\n')
        && !body.starts_with([' ', '\t', '\n'])
        && !body.split('\n').any(|line| line.starts_with('\t'))
        && s.chars().all(|c| c == '\n' || !needs_escape(c))
}

/// A string as a plain, single-quoted or double-quoted scalar, whichever reads back as itself.
fn scalar_text(s: &str) -> String {
    if s.chars().any(needs_escape) || s.contains('\n') {
        double_quoted(s)
    } else if plain_is_safe(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn needs_escape(c: char) -> bool {
    match c {
        '\t' => false,
        '\u{feff}' | '\u{85}' | '\u{2028}' | '\u{2029}' => true,
        c => c.is_control(),
    }
}

/// Whether `s` can be written without quotes: it must resolve to a string under YAML 1.1 and
/// contain nothing a YAML parser would read as syntax.
fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if resolve_plain(s) != Resolved::Str || s == "<<" {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return false;
    }
    if s.ends_with([' ', '\t', ':']) || s.contains('\t') {
        return false;
    }
    !(s.contains(": ") || s.contains(" #") || s.starts_with("---") || s.starts_with("..."))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::yaml::read::{ValueBudget, read_document};

    fn read_back(text: &str) -> Value {
        let budget = ValueBudget::new();
        budget.grant(text.len());
        read_document(text, &budget).unwrap_or_else(|e| panic!("{e:?} in\n{text}"))
    }

    #[test]
    fn strings_a_yaml_1_1_reader_would_retype_are_quoted() {
        let value = json!({"data": {
            "on": "on", "mode": "0644", "yes": "yes", "exp": "1e3", "tilde": "~",
            "null": "null", "empty": "", "y": "y", "merge": "<<", "hex": "0x1F", "off": "OFF",
            "plain": "hello world", "date": "2001-12-14"
        }});
        let text = to_yaml(&value);
        for quoted in [
            "'on': 'on'",
            "mode: '0644'",
            "'yes': 'yes'",
            "exp: '1e3'",
            "tilde: '~'",
            "'null': 'null'",
            "empty: ''",
            "'y': 'y'",
            "merge: '<<'",
            "'off': 'OFF'",
        ] {
            assert!(text.contains(quoted), "{quoted} in\n{text}");
        }
        assert!(text.contains("plain: hello world\n"), "{text}");
        assert!(text.contains("date: 2001-12-14\n"), "{text}");
        assert_eq!(read_back(&text), value);
    }

    #[test]
    fn layout_is_block_style_with_literal_multi_line_strings() {
        let value = json!({
            "apiVersion": "v1",
            "data": {"config.yaml": "a: 1\nb: 2\n", "bare": "x\ny"},
            "list": [{"name": "a", "ports": [80, 443]}, [1, 2], "s", {}, []],
            "empty": {}
        });
        let text = to_yaml(&value);
        assert_eq!(
            text,
            "apiVersion: v1\ndata:\n  config.yaml: |\n    a: 1\n    b: 2\n  bare: |-\n    x\n    y\n\
             list:\n- name: a\n  ports:\n  - 80\n  - 443\n- - 1\n  - 2\n- s\n- {}\n- []\nempty: {}\n"
        );
        assert_eq!(read_back(&text), value);
    }

    /// Every string over an alphabet of YAML's troublemakers reads back as itself, as a value
    /// and as a key.
    #[test]
    fn emitted_strings_round_trip_through_the_kubectl_reader() {
        const PIECES: &[&str] = &[
            "on",
            "y",
            "0",
            "0x1F",
            "1e3",
            ".5",
            "-",
            "~",
            "null",
            ":",
            " ",
            "#",
            "'",
            "\"",
            "\\",
            "\n",
            "\t",
            "\r",
            "<<",
            "---",
            "...",
            "&a",
            "*a",
            "!",
            "%",
            "@",
            "`",
            "[",
            "]",
            "{",
            "}",
            ",",
            "?",
            "|",
            ">",
            "é",
            "\u{feff}",
            "\u{1}",
            "_",
            "+",
            "true",
            "2001-12-14",
            "1:20",
            ".inf",
            "0o17",
            "ü\u{2028}",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..5_000 {
            let s: String = (0..1 + next(4))
                .map(|_| PIECES[next(PIECES.len())])
                .collect();
            let value = json!({ s.clone(): s.clone(), "list": [s.clone()] });
            let text = to_yaml(&value);
            assert_eq!(read_back(&text), value, "emitted:\n{text}");
        }
    }
}
