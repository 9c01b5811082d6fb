//! kubectl as the oracle for reading manifests: a file's objects as kubectl reads them, as we
//! read them, and the comparison. Shared by tests/integration/render_oracle.rs (the fixture
//! corpus and the bounded property run) and the `kubectl_agrees` fuzz target.
//!
//! kubectl is asked through `kubectl patch --local -f FILE --type merge -p {} -o json`: it reads
//! the file with the same builder and YAML decoder as `create`/`apply -f`, needs no API server,
//! and prints every object it read unchanged (an empty merge patch). The integration test checks
//! this agrees with `kubectl create --dry-run=client -o json` where a server is at hand.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The objects kubectl reads from `file`, or its error.
pub fn kubectl_reads(file: &Path) -> Result<Vec<Value>, String> {
    let empty = std::env::temp_dir().join("kubectl-gitops-oracle-no-kubeconfig");
    let output = Command::new("kubectl")
        .args([
            "patch", "--local", "--type", "merge", "-p", "{}", "-o", "json", "-f",
        ])
        .arg(file)
        .env("KUBECONFIG", &empty)
        .output()
        .map_err(|e| format!("running kubectl: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if !output.status.success() || !stderr.is_empty() {
        return Err(stderr);
    }
    applicable(json_stream(&output.stdout)?)
}

/// Reading without a server, kubectl does not yet insist on what `apply` needs before anything
/// else (and the API server requires): a kind, an apiVersion and a name. Objects lacking one
/// count as refused.
fn applicable(objects: Vec<Value>) -> Result<Vec<Value>, String> {
    for object in &objects {
        let text = |path: &[&str]| {
            path.iter()
                .try_fold(object, |v, k| v.get(k))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        let named = text(&["metadata", "name"]) || text(&["metadata", "generateName"]);
        if !(text(&["apiVersion"]) && text(&["kind"]) && named) {
            return Err(format!(
                "kubectl apply refuses an object without apiVersion, kind or name: {object}"
            ));
        }
    }
    Ok(objects)
}

/// The objects `kubectl create --dry-run=client -o json` reads (needs a server for discovery).
pub fn kubectl_creates(file: &Path, kubeconfig: &Path) -> Result<Vec<Value>, String> {
    let output = Command::new("kubectl")
        .args([
            "create",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
        ])
        .arg(file)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .map_err(|e| format!("running kubectl: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    let values = json_stream(&output.stdout)?;
    // Several objects are printed as one List.
    applicable(match values.as_slice() {
        [Value::Object(list)] if list.get("kind") == Some(&Value::from("List")) => list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => values,
    })
}

fn json_stream(bytes: &[u8]) -> Result<Vec<Value>, String> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("kubectl printed something that is not JSON: {e}"))
}

/// The objects our render reads from `bytes`, named `display` in errors.
pub fn we_read(display: &Path, bytes: &[u8]) -> Result<Vec<Value>, String> {
    kubectl_gitops::render::load_file(display, bytes)
        .map(|manifests| {
            manifests
                .into_iter()
                .map(|m| Value::Object(m.object))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// Equal as the API server would take them: numbers by value (kubectl prints integers past
/// 64 bits as floats, we may hold them as either).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Where we knowingly differ from kubectl: a mapping that repeats a key (kubectl keeps the
/// last value) and an object with `items` whose kind is no List (kubectl flattens it) are
/// refused.
pub fn deliberate_refusal(our_error: &str) -> bool {
    our_error.contains("duplicate key") || our_error.contains("is not a List kind")
}

/// A known limit of our YAML parser (YAML 1.2's syntax) where go-yaml is laxer: a tag holding a
/// flow indicator (`!!flo[at`), which kubectl reads as a custom tag. We refuse; nothing is
/// misread.
pub fn parser_limit(our_error: &str) -> bool {
    our_error.contains("while scanning a tag")
}

/// Compares our reading of `file` with kubectl's (`kubectl_reads`). `Ok` when both give the
/// same objects, or both refuse and our error names the file and a line; `Err` says how they
/// differ.
pub fn agree(file: &Path) -> Result<(), String> {
    agree_with(file, kubectl_reads)
}

/// `agree`, with kubectl asked through `kubectl`. A namespace kubectl filled in (`create`
/// puts objects in the context's namespace) is not a difference.
pub fn agree_with(
    file: &Path,
    kubectl: impl Fn(&Path) -> Result<Vec<Value>, String>,
) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let display = Path::new(file.file_name().unwrap_or_default());
    let ours = we_read(display, &bytes);
    let theirs = kubectl(file).map(|mut theirs| {
        if let Ok(ours) = &ours {
            for (a, b) in ours.iter().zip(theirs.iter_mut()) {
                if a["metadata"].get("namespace").is_none()
                    && let Some(metadata) = b["metadata"].as_object_mut()
                {
                    metadata.remove("namespace");
                }
            }
        }
        theirs
    });
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) => {
            if ours.len() == theirs.len() && ours.iter().zip(&theirs).all(|(a, b)| same_json(a, b))
            {
                Ok(())
            } else {
                Err(format!(
                    "objects differ\n  ours:    {}\n  kubectl: {}",
                    Value::from(ours),
                    Value::from(theirs)
                ))
            }
        }
        (Err(ours), Err(_)) => {
            let prefix = format!("{}:", display.display());
            let line = ours
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .is_some_and(|n| n.parse::<usize>().is_ok_and(|n| n >= 1));
            if line {
                Ok(())
            } else {
                Err(format!(
                    "both refuse, but ours does not name file and line: {ours}"
                ))
            }
        }
        (Err(ours), Ok(_)) if deliberate_refusal(&ours) || parser_limit(&ours) => Ok(()),
        (Err(ours), Ok(theirs)) => Err(format!(
            "we refuse what kubectl reads\n  ours:    {ours}\n  kubectl: {}",
            Value::from(theirs)
        )),
        (Ok(ours), Err(theirs)) => Err(format!(
            "we read what kubectl refuses\n  ours:    {}\n  kubectl: {theirs}",
            Value::from(ours)
        )),
    }
}

/// Scalar spellings that YAML 1.1 and 1.2 readers disagree on, and their neighbours.
pub const SPELLINGS: &[&str] = &[
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "yEs",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "nO",
    "true",
    "True",
    "TRUE",
    "tRUE",
    "false",
    "False",
    "FALSE",
    "on",
    "On",
    "ON",
    "oN",
    "off",
    "Off",
    "OFF",
    "null",
    "Null",
    "NULL",
    "nULL",
    "~",
    "",
    "0644",
    "0755",
    "0o17",
    "0O17",
    "0x1F",
    "0X1f",
    "0x",
    "0b101",
    "-0b101",
    "+0b1",
    "0b",
    "08",
    "09.5",
    "0",
    "-0",
    "+5",
    "-5",
    "1_000",
    "1__0",
    "_1",
    "1_",
    "1e3",
    "1E3",
    "1.5e3",
    "1e+3",
    "1e-3",
    "1.0e+3",
    "1e",
    ".5",
    "+.5",
    "-.5",
    "1.",
    ".",
    "+",
    "-.",
    ".inf",
    "-.Inf",
    "+.INF",
    ".nan",
    ".NaN",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "12345678901234567890",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234",
    "0777777777777777777777",
    "01777777777777777777777",
    "1e20",
    "1e21",
    "1e400",
    "1e-400",
    "3.14159265358979323846",
    "0x1p3",
    "0x_1F",
    "1_0.5",
    "0.1_5",
    ".5_5",
    "2001-12-14",
    "2001-12-14T21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "1:20",
    "190:20:30",
    "-1:20",
    "<<",
    "=",
    "a b",
    "Infinity",
    "NaN",
    "inf",
    "0.",
    "00",
    "007",
    "0xFFFFFFFFFFFFFFFF",
    "0x10000000000000000",
    "-0x8000000000000000",
    "1,000",
];

/// A small deterministic generator (xorshift): the property runs are repeatable from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A generated manifest document: a ConfigMap whose `extra` field holds entries built from
/// scalar spellings, quoting styles, tags, flow and block collections, anchors, aliases,
/// merges and block scalars, sometimes with a stray syntax character. Either reader may refuse
/// it; they must agree.
pub fn generated_document(rng: &mut Rng) -> String {
    let mut out = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gen\nextra:\n");
    let mut anchors: Vec<(String, bool)> = Vec::new();
    let entries = 1 + rng.below(8);
    for i in 0..entries {
        let key = match rng.below(4) {
            0 => rng.pick(SPELLINGS).to_string(),
            1 => format!("'{}'", rng.pick(SPELLINGS).replace('\'', "''")),
            _ => format!("k{i}"),
        };
        let key = if key.is_empty() { format!("e{i}") } else { key };
        let value = generated_value(rng, &mut anchors, 2);
        out.push_str(&format!("  {key}:{value}\n"));
    }
    if rng.below(10) == 0 {
        // A stray character somewhere: both readers must refuse or agree.
        let stray = rng.pick(&[
            ":", "-", "#", "'", "\"", "\t", "[", "{", "&", "*", "!", "%", "@",
        ]);
        let at = rng.below(out.len());
        let at = (0..=at)
            .rev()
            .find(|&i| out.is_char_boundary(i))
            .unwrap_or(0);
        out.insert_str(at, stray);
    }
    out
}

fn generated_value(rng: &mut Rng, anchors: &mut Vec<(String, bool)>, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match rng.below(14) {
        0 => format!(" '{}'", rng.pick(SPELLINGS).replace('\'', "''")),
        1 => format!(" \"{}\"", rng.pick(SPELLINGS)),
        2 => {
            let tag = rng.pick(&["!!str", "!!int", "!!float", "!!bool", "!!null", "!foo", "!"]);
            format!(" {tag} {}", rng.pick(SPELLINGS))
        }
        3 => {
            let items: Vec<&str> = (0..rng.below(4)).map(|_| rng.pick(SPELLINGS)).collect();
            format!(" [{}]", items.join(", "))
        }
        4 => {
            let k = rng.pick(&["a", "b", "on", "1", "0x1F"]);
            format!(" {{{k}: {}}}", rng.pick(SPELLINGS))
        }
        5 if indent < 8 => {
            let name = format!("a{}", anchors.len());
            let mut text = format!(" &{name}\n");
            for j in 0..1 + rng.below(3) {
                let child = generated_value(rng, anchors, indent + 2);
                text.push_str(&format!("{pad}  m{j}:{child}\n"));
            }
            anchors.push((name, true));
            text.trim_end().to_string()
        }
        6 if !anchors.is_empty() => {
            let (name, _) = &anchors[rng.below(anchors.len())];
            format!(" *{name}")
        }
        7 => match anchors.iter().filter(|(_, map)| *map).last() {
            Some((name, _)) => {
                let extra = rng.pick(&["m0", "z", "on"]);
                format!(
                    "\n{pad}  <<: *{name}\n{pad}  {extra}: {}",
                    rng.pick(SPELLINGS)
                )
            }
            None => format!(" {}", rng.pick(SPELLINGS)),
        },
        8 => {
            let style = rng.pick(&["|", "|-", "|+", ">", ">-"]);
            let lines: Vec<String> = (0..1 + rng.below(3))
                .map(|_| format!("{pad}  {}", rng.pick(SPELLINGS)))
                .collect();
            format!(" {style}\n{}", lines.join("\n"))
        }
        9 if indent < 8 => {
            let mut text = String::new();
            for _ in 0..1 + rng.below(3) {
                let child = generated_value(rng, anchors, indent + 2);
                text.push_str(&format!("\n{pad}-{child}"));
            }
            text
        }
        10 => {
            let name = format!("a{}", anchors.len());
            anchors.push((name.clone(), false));
            format!(" &{name} {}", rng.pick(SPELLINGS))
        }
        _ => {
            let s = rng.pick(SPELLINGS);
            if s.is_empty() {
                String::new()
            } else {
                format!(" {s}")
            }
        }
    }
}
