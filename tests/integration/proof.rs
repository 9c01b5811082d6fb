//! The no-op proof against its oracle: after every kind of live edit another tool can make,
//! `diff` (which skips the dry-run of objects its proof shows unchanged) prints exactly what
//! `diff --verify-unchanged` (every object dry-run by the server) prints.
//!
//! The edits are generated from a table: field cases on ConfigMaps, Services, Deployments and
//! a custom resource whose schema has every kind of field (granular and atomic maps, sets,
//! keyed and atomic lists, scalars, status, scale), times the ways a client writes them
//! (merge, JSON and strategic-merge patches, a `kubectl edit`-like update, a forced apply by
//! another manager, `/scale`, `/status`), each by another field manager. Every edit gets an
//! object of its own, so each object's section of the diff checks exactly one edit; the
//! objects of a batch share one ApplySet and one pair of diffs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::{self, Workdir, gitops, text};

const GROUP: &str = "proof.kubectl-gitops.test";

/// Field managers the edits are made by, in turn.
const MANAGERS: &[&str] = &["kubectl-edit", "kubectl-patch", "helm", "kube-controller"];

/// Objects (and edits) per batch: one ApplySet, one pair of diffs.
const BATCH: usize = 70;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Service,
    Deployment,
    Widget,
}

impl Kind {
    fn manifest(self, name: &str) -> Value {
        match self {
            Kind::ConfigMap => json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"app": "proof"},
                    "annotations": {"owner": "git"}, "finalizers": ["proof.test/keep"]},
                "data": {"k": "v", "other": "x"}
            }),
            Kind::Service => json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name},
                // Headless: the test server's service IP range is small, and it never
                // deletes a namespace.
                "spec": {"clusterIP": "None", "selector": {"app": "web"},
                    "ports": [{"port": 80, "name": "http"}],
                    "externalIPs": ["10.0.0.1"], "sessionAffinity": "None"}
            }),
            Kind::Deployment => json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [{"name": "web", "image": "nginx:1.27",
                                "args": ["--a", "--b"], "env": [{"name": "A", "value": "1"}]}],
                            "tolerations": [{"key": "k", "operator": "Exists"}]
                        }
                    }
                }
            }),
            Kind::Widget => json!({
                "apiVersion": format!("{GROUP}/v1"), "kind": "Widget",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1, "scalar": "s",
                    "granular": {"a": "1", "b": "2"},
                    "atomicMap": {"a": "1"},
                    "set": ["x", "y"],
                    "keyed": [{"name": "n1", "value": "v1"}],
                    "atomicList": [{"host": "a"}],
                    "atomicStruct": {"a": "1"}
                }
            }),
        }
    }

    /// The resource's URL path for `name` in `ns`.
    fn path(self, ns: &str, name: &str) -> String {
        match self {
            Kind::ConfigMap => format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
            Kind::Service => format!("/api/v1/namespaces/{ns}/services/{name}"),
            Kind::Deployment => format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"),
            Kind::Widget => format!("/apis/{GROUP}/v1/namespaces/{ns}/widgets/{name}"),
        }
    }

    /// Strategic merge patches exist for built-in kinds only.
    fn strategic(self) -> bool {
        self != Kind::Widget
    }
}

/// One change to one field, as a JSON-patch operation (`add`, `replace`, `remove`), or a write
/// through a subresource.
#[derive(Debug, Clone)]
enum Change {
    Op(&'static str, &'static str, Value),
    Scale(i64),
    Status(Value),
}

/// How a client sends the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    MergePatch,
    JsonPatch,
    StrategicPatch,
    /// GET, change, PUT: what `kubectl edit` and `kubectl replace` do.
    Update,
    /// A forced server-side apply by another manager of just that field.
    Apply,
    Subresource,
}

/// What each kind's fields are, and the changes made to them.
#[rustfmt::skip]
fn cases() -> Vec<(Kind, &'static str, Change)> {
    use Change::*;
    use Kind::*;
    let op = |o, p, v| Op(o, p, v);
    let none = Value::Null;
    vec![
        // ConfigMap: granular maps (data, labels, annotations) and a set (finalizers).
        (ConfigMap, "granular map: our value", op("replace", "/data/k", json!("edited"))),
        (ConfigMap, "granular map: same value", op("replace", "/data/k", json!("v"))),
        (ConfigMap, "granular map: new key", op("add", "/data/theirs", json!("t"))),
        (ConfigMap, "granular map: our key removed", op("remove", "/data/k", none.clone())),
        (ConfigMap, "label: new", op("add", "/metadata/labels/team", json!("blue"))),
        (ConfigMap, "label: ours changed", op("replace", "/metadata/labels/app", json!("x"))),
        (ConfigMap, "label: ours removed", op("remove", "/metadata/labels/app", none.clone())),
        (ConfigMap, "annotation: new", op("add", "/metadata/annotations/note", json!("n"))),
        (ConfigMap, "annotation: ours changed", op("replace", "/metadata/annotations/owner", json!("helm"))),
        (ConfigMap, "annotation: ours removed", op("remove", "/metadata/annotations/owner", none.clone())),
        (ConfigMap, "set: item added", op("add", "/metadata/finalizers/-", json!("proof.test/other"))),
        (ConfigMap, "set: replaced", op("replace", "/metadata/finalizers", json!(["proof.test/keep", "proof.test/more"]))),
        // Service: an atomic map (selector), a keyed list (ports), an atomic list of scalars
        // (externalIPs), scalars.
        (Service, "atomic map: key added", op("add", "/spec/selector/tier", json!("x"))),
        (Service, "atomic map: our value", op("replace", "/spec/selector/app", json!("api"))),
        (Service, "atomic map: replaced", op("replace", "/spec/selector", json!({"app": "web", "v": "2"}))),
        (Service, "keyed list: defaulted field", op("replace", "/spec/ports/0/targetPort", json!(8080))),
        (Service, "keyed list: key added in item", op("add", "/spec/ports/0/appProtocol", json!("http"))),
        (Service, "keyed list: item added", op("add", "/spec/ports/-", json!({"port": 443, "name": "https"}))),
        (Service, "atomic list: item added", op("add", "/spec/externalIPs/-", json!("10.0.0.2"))),
        (Service, "atomic list: replaced", op("replace", "/spec/externalIPs", json!(["10.0.0.1", "10.0.0.3"]))),
        (Service, "scalar: ours", op("replace", "/spec/sessionAffinity", json!("ClientIP"))),
        (Service, "scalar: unset", op("add", "/spec/publishNotReadyAddresses", json!(true))),
        (Service, "scalar: defaulted", op("replace", "/spec/internalTrafficPolicy", json!("Local"))),
        // Deployment: scale, a keyed list of containers with atomic args and keyed env, an
        // atomic list of tolerations, template labels and annotations, status.
        (Deployment, "scale", Scale(7)),
        (Deployment, "scalar: replicas", op("replace", "/spec/replicas", json!(5))),
        (Deployment, "scalar: image", op("replace", "/spec/template/spec/containers/0/image", json!("nginx:1.28"))),
        (Deployment, "scalar: defaulted", op("replace", "/spec/revisionHistoryLimit", json!(3))),
        (Deployment, "scalar: unset", op("add", "/spec/paused", json!(true))),
        (Deployment, "atomic list: item added", op("add", "/spec/template/spec/containers/0/args/-", json!("--c"))),
        (Deployment, "atomic list: item changed", op("replace", "/spec/template/spec/containers/0/args/0", json!("--z"))),
        (Deployment, "keyed list: item added", op("add", "/spec/template/spec/containers/0/env/-", json!({"name": "B", "value": "2"}))),
        (Deployment, "keyed list: our value", op("replace", "/spec/template/spec/containers/0/env/0/value", json!("9"))),
        (Deployment, "keyed list: container added", op("add", "/spec/template/spec/containers/-", json!({"name": "sidecar", "image": "busybox"}))),
        (Deployment, "atomic list: key added in item", op("add", "/spec/template/spec/tolerations/0/effect", json!("NoSchedule"))),
        (Deployment, "granular map: template label", op("add", "/spec/template/metadata/labels/extra", json!("e"))),
        (Deployment, "granular map: restart annotation", op("add", "/spec/template/metadata/annotations", json!({"restartedAt": "now"}))),
        (Deployment, "status", Status(json!({"status": {"replicas": 3, "observedGeneration": 1}}))),
        // Widget: every kind of field, with the schema saying which is which.
        (Widget, "scale", Scale(4)),
        (Widget, "status", Status(json!({"status": {"phase": "Ready", "replicas": 2}}))),
        (Widget, "scalar: ours", op("replace", "/spec/scalar", json!("edited"))),
        (Widget, "scalar: removed", op("remove", "/spec/scalar", none.clone())),
        (Widget, "scalar: new", op("add", "/spec/extra", json!("e"))),
        (Widget, "granular map: new key", op("add", "/spec/granular/c", json!("3"))),
        (Widget, "granular map: our value", op("replace", "/spec/granular/a", json!("9"))),
        (Widget, "granular map: our key removed", op("remove", "/spec/granular/a", none.clone())),
        (Widget, "atomic map: key added", op("add", "/spec/atomicMap/b", json!("2"))),
        (Widget, "atomic map: our value", op("replace", "/spec/atomicMap/a", json!("9"))),
        (Widget, "atomic map: same value", op("replace", "/spec/atomicMap", json!({"a": "1"}))),
        (Widget, "atomic struct: field added", op("add", "/spec/atomicStruct/b", json!("2"))),
        (Widget, "set: item added", op("add", "/spec/set/-", json!("z"))),
        (Widget, "set: item removed", op("remove", "/spec/set/0", none.clone())),
        (Widget, "set: replaced", op("replace", "/spec/set", json!(["x", "y", "w"]))),
        (Widget, "keyed list: item added", op("add", "/spec/keyed/-", json!({"name": "n2", "value": "v2"}))),
        (Widget, "keyed list: our value", op("replace", "/spec/keyed/0/value", json!("9"))),
        (Widget, "keyed list: key added in item", op("add", "/spec/keyed/0/extra", json!("e"))),
        (Widget, "keyed list: replaced", op("replace", "/spec/keyed", json!([{"name": "n1", "value": "v1"}, {"name": "n3"}]))),
        (Widget, "atomic list: key added in item", op("add", "/spec/atomicList/0/path", json!("/x"))),
        (Widget, "atomic list: item added", op("add", "/spec/atomicList/-", json!({"host": "b"}))),
        (Widget, "atomic list: replaced", op("replace", "/spec/atomicList", json!([{"host": "a", "path": "/y"}]))),
    ]
}

/// One generated edit of its own object.
#[derive(Debug, Clone)]
struct Edit {
    kind: Kind,
    field: &'static str,
    change: Change,
    way: Way,
    manager: &'static str,
}

impl Edit {
    fn describe(&self) -> String {
        format!(
            "{:?} {} by {:?} as {}",
            self.kind, self.field, self.way, self.manager
        )
    }
}

/// Every case in every way a client can send it.
fn edits() -> Vec<Edit> {
    let mut edits = Vec::new();
    for (kind, field, change) in cases() {
        let ways: Vec<Way> = match &change {
            Change::Scale(_) | Change::Status(_) => vec![Way::Subresource; 2],
            Change::Op(op, path, _) => {
                // Patches that name list items by index exist only as JSON patches and updates.
                let by_index = path
                    .split('/')
                    .any(|s| s == "-" || s.parse::<usize>().is_ok());
                let mut ways = vec![Way::JsonPatch, Way::Update];
                if !by_index {
                    ways.push(Way::MergePatch);
                    if kind.strategic() {
                        ways.push(Way::StrategicPatch);
                    }
                    if *op != "remove" {
                        ways.push(Way::Apply);
                    }
                }
                ways
            }
        };
        for way in ways {
            let manager = MANAGERS[edits.len() % MANAGERS.len()];
            edits.push(Edit {
                kind,
                field,
                change: change.clone(),
                way,
                manager,
            });
        }
    }
    edits
}

/// `value` nested under the path's segments: `/a/b` with 1 is `{"a": {"b": 1}}`.
fn nested(path: &str, value: Value) -> Value {
    path.trim_start_matches('/')
        .split('/')
        .rev()
        .fold(value, |inner, segment| json!({ segment: inner }))
}

/// Applies one JSON-patch operation to `doc` locally (for the GET-change-PUT way).
fn apply_op(doc: &mut Value, op: &str, path: &str, value: &Value) {
    let (parent, last) = path.rsplit_once('/').expect("a JSON pointer");
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} to change"));
    match (target, op) {
        (Value::Object(map), "remove") => {
            map.shift_remove(last);
        }
        (Value::Object(map), _) => {
            map.insert(last.to_string(), value.clone());
        }
        (Value::Array(items), "remove") => {
            items.remove(last.parse().unwrap());
        }
        (Value::Array(items), "add") if last == "-" => items.push(value.clone()),
        (Value::Array(items), "add") => items.insert(last.parse().unwrap(), value.clone()),
        (Value::Array(items), _) => items[last.parse::<usize>().unwrap()] = value.clone(),
        (other, _) => panic!("{path}: cannot {op} in {other}"),
    }
}

async fn send(client: &kube::Client, request: http::Request<Vec<u8>>, what: &str) -> Value {
    client
        .request::<Value>(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn patch(path: &str, content_type: &str, body: &Value) -> http::Request<Vec<u8>> {
    http::Request::patch(path)
        .header("Content-Type", content_type)
        .body(serde_json::to_vec(body).unwrap())
        .unwrap()
}

/// Makes `edit` on the object `name` in `ns`.
async fn make(client: &kube::Client, ns: &str, name: &str, edit: &Edit) {
    let base = edit.kind.path(ns, name);
    let manager = format!("fieldManager={}", edit.manager);
    let what = format!("{name}: {}", edit.describe());
    let request = match (&edit.change, edit.way) {
        (Change::Scale(replicas), _) => patch(
            &format!("{base}/scale?{manager}"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": replicas}}),
        ),
        (Change::Status(body), _) => patch(
            &format!("{base}/status?{manager}"),
            "application/merge-patch+json",
            body,
        ),
        (Change::Op(op, path, value), Way::JsonPatch) => patch(
            &format!("{base}?{manager}"),
            "application/json-patch+json",
            &json!([if *op == "remove" {
                json!({"op": op, "path": path})
            } else {
                json!({"op": op, "path": path, "value": value})
            }]),
        ),
        (Change::Op(op, path, value), Way::MergePatch | Way::StrategicPatch) => {
            let value = if *op == "remove" {
                Value::Null
            } else {
                value.clone()
            };
            let content_type = if edit.way == Way::MergePatch {
                "application/merge-patch+json"
            } else {
                "application/strategic-merge-patch+json"
            };
            patch(
                &format!("{base}?{manager}"),
                content_type,
                &nested(path, value),
            )
        }
        (Change::Op(_, path, value), Way::Apply) => {
            let mut body = nested(path, value.clone());
            let manifest = edit.kind.manifest(name);
            body["apiVersion"] = manifest["apiVersion"].clone();
            body["kind"] = manifest["kind"].clone();
            body["metadata"]["name"] = json!(name);
            patch(
                &format!("{base}?{manager}&force=true"),
                "application/apply-patch+yaml",
                &body,
            )
        }
        (Change::Op(op, path, value), _) => {
            let get = http::Request::get(&base).body(Vec::new()).unwrap();
            let mut live = send(client, get, &what).await;
            apply_op(&mut live, op, path, value);
            http::Request::put(format!("{base}?{manager}"))
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&live).unwrap())
                .unwrap()
        }
    };
    send(client, request, &what).await;
}

/// The custom resource definition every Widget needs, applied once and Established.
async fn install_widget_crd(client: &kube::Client) {
    let string = json!({"type": "string"});
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{GROUP}")},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"
                }},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "replicas": {"type": "integer"},
                        "scalar": string, "extra": string,
                        "granular": {"type": "object", "additionalProperties": string},
                        "atomicMap": {"type": "object", "additionalProperties": string,
                            "x-kubernetes-map-type": "atomic"},
                        "atomicStruct": {"type": "object", "x-kubernetes-map-type": "atomic",
                            "properties": {"a": string, "b": string}},
                        "set": {"type": "array", "items": string, "x-kubernetes-list-type": "set"},
                        "keyed": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"],
                                "properties": {"name": string, "value": string, "extra": string}}},
                        "atomicList": {"type": "array", "x-kubernetes-list-type": "atomic",
                            "items": {"type": "object",
                                "properties": {"host": string, "path": string}}}
                    }},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"}, "phase": string
                    }}
                }}}
            }]
        }
    });
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{GROUP}");
    send(
        client,
        patch(
            &format!("{path}?fieldManager=proof-test&force=true"),
            "application/apply-patch+yaml",
            &crd,
        ),
        "applying the Widget CRD",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let crd = send(
            client,
            http::Request::get(&path).body(Vec::new()).unwrap(),
            "reading the Widget CRD",
        )
        .await;
        let established = crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if established {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Widget CRD is not Established"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many objects the plan took as unchanged from their live copy (the `-v` line).
fn proven_unchanged(stderr: &str) -> usize {
    stderr
        .lines()
        .find(|l| l.contains("unchanged from their live copy without a dry-run"))
        .and_then(|l| l.split("; ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plan line with -v\n{stderr}"))
}

/// Sections of a text diff (one per object, split at blank lines) found in `a` but not in `b`.
fn sections_only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let theirs: BTreeSet<&str> = b.split("\n\n").collect();
    a.split("\n\n").filter(|s| !theirs.contains(s)).collect()
}

/// Runs `diff -v` (with `force`) with and without `--verify-unchanged` and fails unless both
/// print the same, naming the edits of the objects that differ. Returns how many objects the
/// proof decided and how many updates and conflicts the plan shows.
fn compare_diffs(
    repo: &Workdir,
    ns: &str,
    force: &[&str],
    edits: &[Edit],
    names: &[String],
    batch: usize,
) -> (usize, usize) {
    let run = |extra: &[&str]| {
        let mut args = vec!["diff", ".", "-n", ns, "-v"];
        args.extend_from_slice(force);
        args.extend_from_slice(extra);
        gitops(&args, repo.path())
    };
    let proven = run(&[]);
    let verified = run(&["--verify-unchanged"]);
    let (proven_out, proven_err) = text(&proven);
    let (verified_out, verified_err) = text(&verified);
    if proven_out != verified_out {
        let describe = |sections: Vec<&str>| -> Vec<String> {
            sections
                .into_iter()
                .map(|s| {
                    let edit = names
                        .iter()
                        .position(|n| s.contains(&format!("/{ns}/{n} ")))
                        .map(|at| edits[at].describe())
                        .unwrap_or_default();
                    format!("[{edit}]\n{s}")
                })
                .collect()
        };
        panic!(
            "batch {batch} {force:?}: the proof changed the plan\n--- only with the proof:\n{}\n\
             --- only with every object dry-run:\n{}",
            describe(sections_only_in(&proven_out, &verified_out)).join("\n"),
            describe(sections_only_in(&verified_out, &proven_out)).join("\n"),
        );
    }
    assert_eq!(
        proven.status.code(),
        verified.status.code(),
        "{proven_err}\n{verified_err}"
    );
    assert_eq!(proven_unchanged(&verified_err), 0, "{verified_err}");
    let changes =
        proven_out.matches("~ update ").count() + proven_out.matches("! conflict ").count();
    (proven_unchanged(&proven_err), changes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_with_the_proof_prints_what_every_object_dry_run_prints_after_any_live_edit() {
    let client = support::admin().await;
    install_widget_crd(&client).await;
    let all = edits();
    assert!(all.len() >= 200, "only {} edits generated", all.len());

    let mut proven_total = 0;
    let mut changes_total = 0;
    for (batch, edits) in all.chunks(BATCH).enumerate() {
        let ns = support::namespace(&client, "proof").await;
        let names: Vec<String> = (0..edits.len()).map(|i| format!("o{i}")).collect();
        let files: Vec<(String, String)> = edits
            .iter()
            .zip(&names)
            .map(|(edit, name)| (format!("{name}.json"), edit.kind.manifest(name).to_string()))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let repo = Workdir::new(&files);
        let seeded = gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path());
        let (stdout, stderr) = text(&seeded);
        assert_eq!(seeded.status.code(), Some(0), "seeding: {stdout}\n{stderr}");

        // In sync, every object is proven unchanged: each kind's proof is exercised below.
        let in_sync = gitops(&["diff", ".", "-n", &ns, "-v"], repo.path());
        let (stdout, stderr) = text(&in_sync);
        assert_eq!(in_sync.status.code(), Some(0), "{stdout}\n{stderr}");
        assert_eq!(proven_unchanged(&stderr), edits.len(), "{stderr}");

        join_all(
            edits
                .iter()
                .zip(&names)
                .map(|(edit, name)| make(&client, &ns, name, edit)),
        )
        .await;

        // Both force settings: as `apply` plans (conflicts refused) and as `apply
        // --force-conflicts` and the reconciler plan (git takes every field).
        for force in [&[][..], &["--force-conflicts"][..]] {
            let (proven, changes) = compare_diffs(&repo, &ns, force, edits, &names, batch);
            proven_total += proven;
            changes_total += changes;
        }
    }
    eprintln!(
        "{} edits, two plans each: {proven_total} objects proven unchanged, {changes_total} \
         updates or conflicts",
        all.len()
    );
    // The comparison means something only if both answers occurred: objects the proof took
    // as unchanged, and drift it had to leave to the server.
    assert!(
        proven_total > 20,
        "the proof decided only {proven_total} objects"
    );
    assert!(
        changes_total > 100,
        "only {changes_total} updates or conflicts planned"
    );
}
