//! Render reads manifests exactly as kubectl does, checked side by side with kubectl on many
//! files: for each, the objects we render equal the objects kubectl reads, or both refuse and
//! our error names the file and line. The one deliberate difference: a mapping that repeats a
//! key, or a non-List object with `items`, is refused by us and read by kubectl.
//!
//! `GITOPS_ORACLE_CASES=N GITOPS_ORACLE_SEED=S` runs the generated-document property longer
//! (see docs/reliability.md).

#[path = "../oracle/mod.rs"]
mod oracle;

use std::path::{Path, PathBuf};

use oracle::{Rng, SPELLINGS, agree_with, kubectl_creates, kubectl_reads, we_read};

use crate::support;

const HEADER: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n";

/// Checks every file against `kubectl patch --local`, several at a time, and fails listing
/// each disagreement with the file.
fn all_agree(files: &[PathBuf]) {
    all_agree_with(files, &|file: &Path| kubectl_reads(file));
}

fn all_agree_with(
    files: &[PathBuf],
    kubectl: &(dyn Fn(&Path) -> Result<Vec<serde_json::Value>, String> + Sync),
) {
    let chunks: Vec<&[PathBuf]> = files.chunks(files.len().div_ceil(4).max(1)).collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|file| {
                            agree_with(file, kubectl).err().map(|why| {
                                let text = std::fs::read_to_string(file).unwrap_or_default();
                                format!("{}: {why}\n--- file:\n{text}---", file.display())
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("oracle worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} files read differently from kubectl:\n{}",
        failures.len(),
        files.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a fixture");
    path
}

/// Every spelling as a plain value, in a flow sequence, single- and double-quoted, as a key,
/// and under each core tag.
fn scalar_fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (i, s) in SPELLINGS.iter().enumerate() {
        let single = s.replace('\'', "''");
        let double = s.replace('\\', "\\\\").replace('"', "\\\"");
        files.push(write(
            dir,
            &format!("value-{i}.yaml"),
            &format!("{HEADER}extra:\n  plain: {s}\n  flow: [{s}]\n  single: '{single}'\n  double: \"{double}\"\n"),
        ));
        if !s.is_empty() {
            files.push(write(
                dir,
                &format!("key-{i}.yaml"),
                &format!("{HEADER}extra:\n  {s}: 1\n"),
            ));
        }
    }
    let tags = [
        "!!str", "!!int", "!!float", "!!bool", "!!null", "!!binary", "!foo", "!",
    ];
    let tagged = [
        "5",
        "'12'",
        "\"0x10\"",
        "yes",
        "on",
        "~",
        "''",
        "1.5",
        "abc",
        "aGVsbG8=",
        "@@",
        "0644",
        "18446744073709551615",
        "2001-12-14",
    ];
    for (t, tag) in tags.iter().enumerate() {
        for (v, value) in tagged.iter().enumerate() {
            files.push(write(
                dir,
                &format!("tag-{t}-{v}.yaml"),
                &format!("{HEADER}extra:\n  v: {tag} {value}\n"),
            ));
        }
    }
    files
}

/// Documents, Lists, anchors, merges and block scalars; each also written with CRLF line ends.
const STRUCTURES: &[(&str, &str)] = &[
    (
        "modes.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      volumes:\n      - name: cfg\n        configMap:\n          name: cfg\n          defaultMode: 0644\n      - name: key\n        secret:\n          secretName: key\n          defaultMode: 0x1F4\n          items:\n          - {key: a, path: a, mode: 0400}\n",
    ),
    (
        "enabled-on.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  enabled: on\n",
    ),
    (
        "enabled-quoted.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  enabled: 'on'\n  mode: \"0644\"\n",
    ),
    (
        "anchors.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &labels\n    app: web\n    tier: 'on'\nextra:\n  base: &base {a: 1, b: [x, y], c: yes}\n  copy: *base\n  merged:\n    <<: *base\n    b: 2\n  before:\n    a: 0\n    <<: *base\n  many:\n    <<: [*base, {d: 4, a: 9}]\n  quoted-merge-key: {'<<': 1}\n  labels: *labels\n  redefined: &base 5\n  again: *base\n",
    ),
    (
        "stream.yaml",
        "# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {n: '1'}\n...\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\n",
    ),
    (
        "stream-broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\napiVersion: v1\nkind: [ConfigMap\nmetadata: {name: two}\n",
    ),
    (
        "block-scalars.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scripts\ndata:\n  keep: |+\n    a\n\n  strip: |-\n    b\n  folded: >\n    c\n    d\n\n    e\n  indented: |2\n      f\n    g\n  last: |\n    end",
    ),
    (
        "typed-lists.yaml",
        "apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: a}\n  data: {x: on}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleList\nitems:\n- metadata: {name: r, namespace: ns}\n  rules: []\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: d}}\n",
    ),
    (
        "list-without-version.yaml",
        "kind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
    ),
    (
        "list-items-null.yaml",
        "apiVersion: v1\nkind: RoleList\nitems: null\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\n",
    ),
    (
        "list-item-half-typed.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleList\nitems:\n- {kind: Role, metadata: {name: b}}\n",
    ),
    (
        "list-nested.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n",
    ),
    (
        "list-items-scalar.yaml",
        "apiVersion: v1\nkind: ConfigMapList\nitems: 5\n",
    ),
    (
        "list-item-scalar.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- 5\n",
    ),
    (
        "numbers.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\nextra:\n  big: 12345678901234567890\n  huge: 123456789012345678901234\n  max: 9223372036854775807\n  min: -9223372036854775808\n  float: 1.5\n  exp: 1e3\n  tiny: 1e-7\n  octal: 0755\n  date: 2001-12-14\n  time: 2001-12-14T21:59:43.10-05:00\n  sexagesimal: 1:20\n  version: 1.10\n  keys: {1: a, 1.5: b, 1e20: c, true: d, 0x10: e}\n",
    ),
    (
        "infinity.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inf}\nextra: {x: .inf}\n",
    ),
    (
        "null-key.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\nextra: {~: 1}\n",
    ),
    (
        "collection-key.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\nextra: {[1]: 1}\n",
    ),
    (
        "unknown-alias.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\nextra: *nope\n",
    ),
    (
        "bad-merge.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\nextra: {<<: [1]}\n",
    ),
    ("not-an-object.yaml", "- a\n- b\n"),
    (
        "missing-name.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    ),
    (
        "tabs.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: t\n",
    ),
    (
        "unicode.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\ndata:\n  greeting: \"h\\u00e9llo \\x41\"\n  plain: héllo wörld\n  emoji: \"\\U0001F600\"\n",
    ),
    (
        "flow.yaml",
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: f}, data: {a: 'x', b: \"y\"}, extra: [a, {b: c}, [d, e], ]}\n",
    ),
    (
        "directive.yaml",
        "%YAML 1.1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
    ),
    (
        "object.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"j\"}, \"data\": {\"a\": \"0644\"}, \"extra\": {\"n\": 1.5, \"big\": 12345678901234567890}}\n",
    ),
    (
        "list.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMapList\", \"items\": [{\"metadata\": {\"name\": \"a\"}}, {\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"b\"}}]}\n",
    ),
];

fn structure_fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (name, text) in STRUCTURES {
        files.push(write(dir, name, text));
        files.push(write(
            dir,
            &format!("crlf-{name}"),
            &text.replace('\n', "\r\n"),
        ));
        files.push(write(
            dir,
            &format!("bom-{name}"),
            &format!("\u{feff}{text}"),
        ));
    }
    files
}

#[test]
fn every_scalar_spelling_reads_as_kubectl_reads_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = scalar_fixtures(dir.path());
    assert!(files.len() > 300, "{}", files.len());
    all_agree(&files);
}

/// Against `kubectl create --dry-run=client -o json` on the test server: the kinds are built in.
#[test]
fn documents_lists_anchors_and_line_ends_read_as_kubectl_create_reads_them() {
    let kubeconfig = support::kubeconfig();
    let dir = tempfile::tempdir().expect("temp dir");
    all_agree_with(&structure_fixtures(dir.path()), &|file: &Path| {
        kubectl_creates(file, &kubeconfig)
    });
}

/// The two findings that started this: `0644` and `on`.
#[test]
fn a_mode_is_a_number_and_on_is_a_boolean() {
    let manifests = we_read(Path::new("m.yaml"), STRUCTURES[0].1.as_bytes()).expect("reads");
    let volumes = &manifests[0]["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["configMap"]["defaultMode"], 420);
    assert_eq!(volumes[1]["secret"]["defaultMode"], 500);
    let error = we_read(Path::new("flags.yaml"), STRUCTURES[1].1.as_bytes()).err();
    assert!(error.is_none(), "{error:?}");
    let manifests = we_read(Path::new("flags.yaml"), STRUCTURES[1].1.as_bytes()).unwrap();
    // kubectl reads the boolean too; the API server then refuses a boolean in `data`.
    assert_eq!(manifests[0]["data"]["enabled"], true);
}

/// Generated documents (fixed seed): both readers refuse, or both read the same objects.
#[test]
fn generated_documents_read_as_kubectl_reads_them() {
    let cases: usize = std::env::var("GITOPS_ORACLE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("GITOPS_ORACLE_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_0f_0ac1e);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng::new(seed);
    let files: Vec<PathBuf> = (0..cases)
        .map(|i| {
            write(
                dir.path(),
                &format!("gen-{i}.yaml"),
                &oracle::generated_document(&mut rng),
            )
        })
        .collect();
    all_agree(&files);
}

/// Every manifest file of the public repositories kept in ../shared/corpus (or
/// `GITOPS_CORPUS_DIR`), where present.
#[test]
fn the_public_corpus_reads_as_kubectl_reads_it() {
    let corpus = std::env::var_os("GITOPS_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let Ok(corpus) = corpus.canonicalize() else {
        return;
    };
    let mut files = Vec::new();
    let mut pending = vec![corpus.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                // Helm templates are not YAML until Helm renders them.
                && !path.components().any(|c| c.as_os_str() == "templates")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    eprintln!("corpus: {} files under {}", files.len(), corpus.display());
    all_agree(&files);

    // kube-prometheus's typed Lists render, one object per item, each with its own origin.
    let file = corpus.join("kube-prometheus/manifests/grafana-dashboardDefinitions.yaml");
    if let Ok(bytes) = std::fs::read(&file) {
        let ours = kubectl_gitops::render::load_file(Path::new("dashboards.yaml"), &bytes)
            .expect("the ConfigMapList renders");
        let theirs = kubectl_reads(&file).expect("kubectl reads it");
        assert_eq!(ours.len(), theirs.len());
        assert!(ours.len() > 10, "{}", ours.len());
        assert!(ours.iter().all(|m| m.kind() == "ConfigMap"));
        let items: Vec<Option<usize>> = ours.iter().map(|m| m.origin.item).collect();
        assert_eq!(items, (0..ours.len()).map(Some).collect::<Vec<_>>());
        assert!(ours.windows(2).all(|w| w[0].origin.line < w[1].origin.line));
    }
}

/// The oracle itself: `kubectl patch --local` reads files as `kubectl create` does, but for
/// `items: null` (create reads a plain object, patch an empty List).
#[test]
fn the_local_oracle_reads_as_kubectl_create_does() {
    let kubeconfig = support::kubeconfig();
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in STRUCTURES
        .iter()
        .filter(|(n, _)| *n != "list-items-null.yaml")
    {
        let file = write(dir.path(), name, text);
        match (kubectl_reads(&file), kubectl_creates(&file, &kubeconfig)) {
            (Ok(local), Ok(created)) => {
                assert_eq!(local.len(), created.len(), "{name}");
                for (a, b) in local.iter().zip(&created) {
                    // `create` puts namespaced objects written without a namespace in the
                    // context's.
                    let mut b = b.clone();
                    if a["metadata"].get("namespace").is_none()
                        && let Some(metadata) = b["metadata"].as_object_mut()
                    {
                        metadata.remove("namespace");
                    }
                    assert!(oracle::same_json(a, &b), "{name}:\n{a}\n{b}");
                }
            }
            (Err(_), Err(_)) => {}
            (local, created) => panic!("{name}: patch --local {local:?}\ncreate {created:?}"),
        }
    }
}
