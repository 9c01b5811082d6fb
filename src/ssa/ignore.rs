//! Ignored fields in an apply: git seeds them on create and leaves them alone afterwards.
//!
//! Server-side apply makes "leave alone" subtle. Leaving a field out of our apply releases our
//! ownership of it, and a field nobody else owns is then removed by the server: a Deployment
//! created with `replicas: 2` that we stop sending falls back to one replica. A write by
//! another manager (an autoscaler through `/scale`, `kubectl scale`, a controller's update)
//! takes the field from us. So, per ignored field, the body we apply is:
//!
//! - on create (no live object): git's value, as written;
//! - while our field manager still owns the field live: the live value, so the apply changes
//!   nothing there and the field is not dropped;
//! - once someone else owns it (or nobody does, or it is not live): nothing, so our apply
//!   neither claims it nor ever reverts it.
//!
//! The body this returns is what is dry-run, proven unchanged and applied alike, so the plan
//! and the apply agree, and the field is out of every comparison (the dry-run's answer keeps
//! the live value). Array items are matched to live ones the way the server matches them: by
//! the key our field set records for the item (`k:`, `v:` or `i:`).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::object::ObjectRef;
use crate::render::{IgnoreSource, IgnoredField, Pointer, UnstablePolicy};

/// The ignored fields of one object, as a report tells them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ignored {
    pub object: ObjectRef,
    pub fields: Vec<IgnoredNote>,
}

/// One ignored field and what ignoring it does this time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredNote {
    pub pointer: Pointer,
    /// `kubectl-gitops.io/ignore-fields`, or the ignore file that named it.
    pub source: IgnoreSource,
    pub state: IgnoredState,
}

/// What the plan does with an ignored field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IgnoredState {
    /// The object is created: git's value is sent this once.
    Seeded,
    /// The live value differs from git's and is left as it is.
    LiveDiffers,
    /// The live value is git's.
    LiveMatches,
    /// Git does not set the field; it is never sent.
    NotInGit,
    /// An unstable field the user asked to rewrite: this render's value replaces the live one.
    Rewritten,
}

impl Ignored {
    /// Whether a report of an otherwise unchanged object should mention it: git and the
    /// cluster disagree on a field only because it is ignored.
    pub fn hides_a_difference(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.state == IgnoredState::LiveDiffers)
    }
}

/// The body to apply for `desired` (git's object) given its live copy; see the module doc.
pub fn body<'a>(
    desired: &Value,
    live: Option<&Value>,
    fields: impl IntoIterator<Item = &'a IgnoredField>,
    manager: &str,
) -> Value {
    let mut body = desired.clone();
    let Some(live) = live else {
        return body;
    };
    let owned = our_fields(live, manager);
    let mut removals = Vec::new();
    for field in fields {
        let tokens = field.pointer.tokens();
        if lookup(desired, tokens).is_none() || rewrites(field) {
            continue;
        }
        match owned.and_then(|owned| ours_live(desired, live, owned, tokens)) {
            Some(kept) => {
                if let Some(slot) = lookup_mut(&mut body, tokens) {
                    *slot = kept;
                }
            }
            None => removals.push(tokens.to_vec()),
        }
    }
    // Later array items first, so removing one never shifts another still to remove.
    removals.sort_by(|a, b| compare_paths(b, a));
    for tokens in removals {
        remove(&mut body, &tokens);
    }
    body
}

/// What the plan tells about each ignored field of `desired`, against `live` (None: created).
pub fn notes<'a>(
    desired: &Value,
    live: Option<&Value>,
    fields: impl IntoIterator<Item = &'a IgnoredField>,
    manager: &str,
) -> Vec<IgnoredNote> {
    let owned = live.and_then(|l| our_fields(l, manager));
    fields
        .into_iter()
        .map(|field| {
            let tokens = field.pointer.tokens();
            let state = match (lookup(desired, tokens), live) {
                (None, _) => IgnoredState::NotInGit,
                (Some(_), None) => IgnoredState::Seeded,
                (Some(git), Some(live)) => {
                    let live_value = live_counterpart(desired, live, owned, tokens);
                    if live_value == Some(git) {
                        IgnoredState::LiveMatches
                    } else if rewrites(field) {
                        IgnoredState::Rewritten
                    } else {
                        IgnoredState::LiveDiffers
                    }
                }
            };
            IgnoredNote {
                pointer: field.pointer.clone(),
                source: field.source.clone(),
                state,
            }
        })
        .collect()
}

/// Whether git's value is applied although the field is marked: an unstable field the user
/// asked to rewrite.
fn rewrites(field: &IgnoredField) -> bool {
    field.source == IgnoreSource::Unstable(UnstablePolicy::Rewrite)
}

/// Our field manager's server-side apply field set on the live object (any apiVersion: field
/// paths of one kind agree across its versions in all but rare renames, and a path we fail to
/// find only means the field is left out, which is right when it is not ours).
fn our_fields<'a>(live: &'a Value, manager: &str) -> Option<&'a Map<String, Value>> {
    live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| {
            e["manager"] == manager
                && e["operation"] == "Apply"
                && e["subresource"].as_str().unwrap_or_default().is_empty()
        })?
        .get("fieldsV1")?
        .as_object()
}

/// The live value at `tokens` (a path in `desired`), restricted to what our field set owns,
/// when our field set owns the field; None when it does not.
fn ours_live(
    desired: &Value,
    live: &Value,
    owned: &Map<String, Value>,
    tokens: &[String],
) -> Option<Value> {
    let (mut desired, mut live, mut owned) = (desired, live, owned);
    for token in tokens {
        match desired {
            Value::Object(map) => {
                desired = map.get(token)?;
                live = live.get(token)?;
                owned = owned.get(&format!("f:{token}"))?.as_object()?;
            }
            Value::Array(items) => {
                let at: usize = token.parse().ok()?;
                let item = items.get(at)?;
                let (key, node) = item_key(owned, item, at)?;
                live = live_item(live.as_array()?, key, at)?;
                desired = item;
                owned = node;
            }
            _ => return None,
        }
    }
    Some(restrict(live, owned))
}

/// The live value corresponding to the field at `tokens` of `desired`, whoever owns it: array
/// items by our field set's key when it has one, else by position.
fn live_counterpart<'a>(
    desired: &Value,
    live: &'a Value,
    owned: Option<&Map<String, Value>>,
    tokens: &[String],
) -> Option<&'a Value> {
    let (mut desired, mut live, mut owned) = (desired, live, owned);
    for token in tokens {
        match desired {
            Value::Object(map) => {
                desired = map.get(token)?;
                live = live.get(token)?;
                owned = owned.and_then(|o| o.get(&format!("f:{token}"))?.as_object());
            }
            Value::Array(items) => {
                let at: usize = token.parse().ok()?;
                let item = items.get(at)?;
                let keyed = owned.and_then(|o| item_key(o, item, at));
                let live_items = live.as_array()?;
                live = match keyed {
                    Some((key, _)) => live_item(live_items, key, at)?,
                    None => live_items.get(at)?,
                };
                owned = keyed.map(|(_, node)| node);
                desired = item;
            }
            _ => return None,
        }
    }
    Some(live)
}

/// The field-set entry of a granular list's `item` at index `at`, with its key.
fn item_key<'a>(
    owned: &'a Map<String, Value>,
    item: &Value,
    at: usize,
) -> Option<(&'a str, &'a Map<String, Value>)> {
    owned.iter().find_map(|(key, node)| {
        let matched = if let Some(keys) = key.strip_prefix("k:") {
            match serde_json::from_str::<Value>(keys) {
                Ok(Value::Object(keys)) => keys.iter().all(|(k, v)| key_matches(item, k, v)),
                _ => false,
            }
        } else if let Some(value) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(value).is_ok_and(|v| v == *item)
        } else if let Some(index) = key.strip_prefix("i:") {
            index.parse::<usize>() == Ok(at)
        } else {
            false
        };
        if matched {
            Some((key.as_str(), node.as_object()?))
        } else {
            None
        }
    })
}

/// The live item a field-set key names.
fn live_item<'a>(items: &'a [Value], key: &str, at: usize) -> Option<&'a Value> {
    if let Some(keys) = key.strip_prefix("k:") {
        let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
            return None;
        };
        items
            .iter()
            .find(|item| keys.iter().all(|(k, v)| key_matches(item, k, v)))
    } else if let Some(value) = key.strip_prefix("v:") {
        let value = serde_json::from_str::<Value>(value).ok()?;
        items.iter().find(|item| **item == value)
    } else {
        items.get(at)
    }
}

/// Ports are keyed by port and protocol, and manifests usually leave the protocol to its
/// default, TCP, which the key then records.
fn key_matches(item: &Value, key: &str, value: &Value) -> bool {
    match item.get(key) {
        Some(found) => found == value,
        None => key == "protocol" && value == "TCP",
    }
}

/// `live` cut down to the fields `owned` holds: keys of a map we own in part; everything of a
/// node we own whole (a scalar, an atomic value) or of a list.
fn restrict(live: &Value, owned: &Map<String, Value>) -> Value {
    let granular = owned.keys().any(|k| k.starts_with("f:"));
    match live {
        Value::Object(map) if granular => Value::Object(
            map.iter()
                .filter_map(|(key, value)| {
                    let node = owned.get(&format!("f:{key}"))?.as_object()?;
                    Some((key.clone(), restrict(value, node)))
                })
                .collect(),
        ),
        _ => live.clone(),
    }
}

fn lookup<'a>(value: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(value, |node, token| match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(token.parse::<usize>().ok()?),
        _ => None,
    })
}

fn lookup_mut<'a>(value: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(value, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(token.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Removes the field at `tokens`, and every map the removal left empty (an empty map sent
/// would be a field of its own).
fn remove(value: &mut Value, tokens: &[String]) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    if let Some(parent) = lookup_mut(value, parents) {
        match parent {
            Value::Object(map) => {
                map.shift_remove(last);
            }
            Value::Array(items) => {
                if let Some(at) = last.parse::<usize>().ok().filter(|at| *at < items.len()) {
                    items.remove(at);
                }
            }
            _ => {}
        }
    }
    for depth in (1..tokens.len()).rev() {
        let (up, name) = (&tokens[..depth - 1], &tokens[depth - 1]);
        let emptied = lookup(value, &tokens[..depth])
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        if !emptied {
            break;
        }
        if let Some(Value::Object(map)) = lookup_mut(value, up) {
            map.shift_remove(name);
        }
    }
}

/// Orders paths token by token, array indexes by number.
fn compare_paths(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const US: &str = "kubectl-gitops";

    fn field(pointer: &str) -> IgnoredField {
        IgnoredField {
            pointer: Pointer::parse(pointer).unwrap(),
            source: IgnoreSource::Annotation,
            if_namespace: None,
        }
    }

    fn desired() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "replicas": 2,
                "template": {
                    "metadata": {"annotations": {"x": "git"}},
                    "spec": {"containers": [
                        {"name": "web", "image": "web:1"},
                        {"name": "proxy", "image": "proxy:1"}
                    ]}
                }
            }
        })
    }

    /// The live object with `replicas` and the proxy's image owned by `owner` and valued `live`.
    fn live(replicas_owner: &str, replicas: i64) -> Value {
        let ours_replicas = if replicas_owner == US {
            json!({"f:replicas": {}})
        } else {
            json!({})
        };
        let mut spec = json!({"f:template": {
            "f:metadata": {"f:annotations": {"f:x": {}}},
            "f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}},
                "k:{\"name\":\"proxy\"}": {".": {}, "f:name": {}, "f:image": {}}
            }}
        }});
        spec.as_object_mut()
            .unwrap()
            .extend(ours_replicas.as_object().unwrap().clone());
        json!({
            "metadata": {"name": "web", "namespace": "shop", "managedFields": [
                {"manager": US, "operation": "Apply", "apiVersion": "apps/v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": spec}}
            ]},
            "spec": {
                "replicas": replicas,
                "template": {
                    "metadata": {"annotations": {"x": "live", "other": "y"}},
                    "spec": {"containers": [
                        {"name": "proxy", "image": "proxy:9"},
                        {"name": "web", "image": "web:1"}
                    ]}
                }
            }
        })
    }

    fn unstable(pointer: &str, policy: UnstablePolicy) -> IgnoredField {
        IgnoredField {
            source: IgnoreSource::Unstable(policy),
            ..field(pointer)
        }
    }

    #[test]
    fn an_unstable_field_we_own_keeps_its_live_value_unless_a_rewrite_is_asked() {
        let live = live(US, 5);
        let kept = [unstable("/spec/replicas", UnstablePolicy::Keep)];
        assert_eq!(
            body(&desired(), Some(&live), &kept, US)["spec"]["replicas"],
            5
        );
        assert_eq!(
            notes(&desired(), Some(&live), &kept, US)[0].state,
            IgnoredState::LiveDiffers
        );
        let rewritten = [unstable("/spec/replicas", UnstablePolicy::Rewrite)];
        assert_eq!(body(&desired(), Some(&live), &rewritten, US), desired());
        assert_eq!(
            notes(&desired(), Some(&live), &rewritten, US)[0].state,
            IgnoredState::Rewritten
        );
    }

    #[test]
    fn a_create_sends_the_seeded_value() {
        let fields = [field("/spec/replicas")];
        assert_eq!(body(&desired(), None, &fields, US), desired());
        let notes = notes(&desired(), None, &fields, US);
        assert_eq!(notes[0].state, IgnoredState::Seeded);
    }

    #[test]
    fn a_field_someone_else_took_is_left_out_of_the_apply() {
        let fields = [field("/spec/replicas")];
        let sent = body(&desired(), Some(&live("kube-controller", 5)), &fields, US);
        assert!(sent["spec"].get("replicas").is_none(), "{sent}");
        assert_eq!(sent["spec"]["template"], desired()["spec"]["template"]);
        let notes = notes(&desired(), Some(&live("kube-controller", 5)), &fields, US);
        assert_eq!(notes[0].state, IgnoredState::LiveDiffers);
    }

    #[test]
    fn a_field_still_ours_is_sent_as_it_is_live_so_the_server_keeps_it() {
        let fields = [field("/spec/replicas")];
        let sent = body(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(sent["spec"]["replicas"], 2);
        let notes = notes(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(notes[0].state, IgnoredState::LiveMatches);
    }

    #[test]
    fn list_items_are_matched_by_their_key_not_their_position() {
        // Live has the proxy first; the pointer names git's second container.
        let fields = [field("/spec/template/spec/containers/1/image")];
        let sent = body(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(
            sent["spec"]["template"]["spec"]["containers"][1]["image"],
            "proxy:9"
        );
        assert_eq!(
            sent["spec"]["template"]["spec"]["containers"][0]["image"],
            "web:1"
        );
        let notes = notes(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(notes[0].state, IgnoredState::LiveDiffers);
    }

    #[test]
    fn a_kept_map_holds_only_the_keys_we_own() {
        let fields = [field("/spec/template/metadata/annotations")];
        let sent = body(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(
            sent["spec"]["template"]["metadata"]["annotations"],
            json!({"x": "live"}),
            "another manager's annotation is not claimed"
        );
    }

    #[test]
    fn removing_a_field_removes_the_maps_it_leaves_empty() {
        let fields = [field("/spec/template/metadata/annotations/x")];
        let mut live = live("someone", 2);
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]
            .as_object_mut()
            .unwrap()
            .shift_remove("f:metadata");
        let sent = body(&desired(), Some(&live), &fields, US);
        assert!(
            sent["spec"]["template"].get("metadata").is_none(),
            "{}",
            sent["spec"]["template"]
        );
    }

    #[test]
    fn without_any_field_set_of_ours_nothing_ignored_is_sent() {
        // An object made by other tooling, adopted: its value stays.
        let mut live = live(US, 3);
        live["metadata"]["managedFields"][0]["manager"] = json!("helm");
        let fields = [
            field("/spec/replicas"),
            field("/spec/template/spec/containers/0/image"),
        ];
        let sent = body(&desired(), Some(&live), &fields, US);
        assert!(sent["spec"].get("replicas").is_none());
        assert!(
            sent["spec"]["template"]["spec"]["containers"][0]
                .get("image")
                .is_none()
        );
        assert_eq!(
            sent["spec"]["template"]["spec"]["containers"][1]["image"],
            "proxy:1"
        );
    }

    #[test]
    fn a_field_git_does_not_set_is_noted_and_never_sent() {
        let fields = [field("/spec/paused")];
        let sent = body(&desired(), Some(&live(US, 2)), &fields, US);
        assert_eq!(sent, desired());
        assert_eq!(
            notes(&desired(), Some(&live(US, 2)), &fields, US)[0].state,
            IgnoredState::NotInGit
        );
    }

    #[test]
    fn whole_items_are_removed_from_the_last_so_indexes_stay_true() {
        let fields = [
            field("/spec/template/spec/containers/0"),
            field("/spec/template/spec/containers/1"),
        ];
        let mut live = live(US, 2);
        live["metadata"]["managedFields"][0]["manager"] = json!("someone");
        let sent = body(&desired(), Some(&live), &fields, US);
        assert_eq!(sent["spec"]["template"]["spec"]["containers"], json!([]));
    }
}
