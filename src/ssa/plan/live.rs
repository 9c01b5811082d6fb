//! Reading the live objects the plan compares with, interleaved with the dry-runs that need
//! them.

use std::collections::HashMap;

use futures::future::join_all;
use kube::api::{GetParams, ListParams};
use kube::core::{ApiResource, DynamicObject, Request, Resource};
use serde_json::Value;

use super::PlanOptions;
use super::dry_run::{Answer, DryRunError, dry_run};
use super::targets::Desired;
use crate::cluster::{Cluster, Failure};
use crate::inventory::Member;
use crate::meta::LABEL_PART_OF;
use crate::ssa::FIELD_MANAGER;

/// List the set's members of one kind in one namespace from this many targets there on.
const LIST_THRESHOLD: usize = 2;

/// Objects per page of a LIST.
const LIST_PAGE: u32 = 500;

pub(super) type Identity = (String, String, Option<String>, String);

pub(super) type Live = HashMap<Identity, Result<Option<Value>, Failure>>;

/// Reads the live objects and dry-runs the targets; returns the live objects (a missing one is
/// `Ok(None)`, an unvalidated target has no entry), one dry-run outcome per target in order,
/// and how many dry-runs the live copy made unnecessary.
///
/// A target already in the ApplySet was just listed with the set's members, so that copy is
/// used. Where several other targets share a kind and namespace, the set's members there are
/// listed by the ApplySet label (members the parent does not list yet, say without a parent);
/// a target still not found, or alone in its kind and namespace, is dry-run first and read by
/// name only if it exists: a dry-run answering 201 Created says there is nothing to read, so a
/// create costs one request. Nothing is ever listed without the label: a namespace's other
/// objects (another team's Secrets) are never read, and `list` on them is never needed. A
/// target whose live copy proves the apply a no-op (see `unchanged`) skips its dry-run: in a
/// steady state that is most of them.
pub(super) async fn read_and_dry_run(
    cluster: &Cluster,
    targets: &[Desired<'_>],
    members: &[Member],
    options: &PlanOptions,
) -> (Live, Vec<Result<Answer, DryRunError>>, usize) {
    let listed_members: HashMap<Identity, &Member> =
        members.iter().map(|m| (m.object.identity(), m)).collect();
    let mut known = Vec::new();
    let mut groups: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (at, t) in targets.iter().enumerate() {
        if t.unvalidated.is_some() {
            continue;
        }
        match listed_members.get(&t.object.identity()) {
            // Only as the same version: another one may name and shape fields differently.
            Some(m) if m.resource.api_version == t.resource.api_version => {
                known.push((at, m.live.clone()));
            }
            _ => groups
                .entry((
                    t.resource.api_version.clone() + "/" + &t.resource.plural,
                    t.object.namespace.clone(),
                ))
                .or_default()
                .push(at),
        }
    }
    // The dry-run, unless the live copy proves it would answer "unchanged".
    let settle = |at: usize, live: Option<Value>| async move {
        let t = &targets[at];
        // Ignored fields are left out (or kept as live) here already, so they play no part
        // in the proof either.
        let body = t.body_for(live.as_ref());
        let proven = !options.verify_unchanged
            && live
                .as_ref()
                .is_some_and(|l| crate::ssa::unchanged::proven(&body, l, FIELD_MANAGER));
        let outcome = match (&live, proven) {
            (Some(found), true) => Ok(Answer::clean(found.clone())),
            _ => dry_run(cluster, t, &body, options).await,
        };
        (at, Ok(live), outcome, proven)
    };
    let from_members = join_all(known.into_iter().map(|(at, live)| settle(at, Some(live))));
    let groups = groups.into_values().map(|group| async move {
        let first = &targets[group[0]];
        let listed = match &options.part_of {
            Some(id) if group.len() >= LIST_THRESHOLD => {
                // Listing may be forbidden where reading by name is allowed; then GET each.
                list_members(
                    cluster,
                    &first.resource,
                    first.object.namespace.as_deref(),
                    id,
                )
                .await
                .ok()
            }
            _ => None,
        };
        join_all(group.into_iter().map(|at| {
            let listed = &listed;
            async move {
                match listed
                    .as_ref()
                    .and_then(|items| items.get(&targets[at].object.name))
                {
                    Some(found) => settle(at, Some(found.clone())).await,
                    // What is sent depends on the live copy: read it first.
                    None if !targets[at].manifest.ignored.is_empty() => {
                        let t = &targets[at];
                        let namespace = t.object.namespace.as_deref();
                        match get(cluster, &t.resource, namespace, &t.object.name).await {
                            Ok(found) => settle(at, found).await,
                            Err(failure) => {
                                let body = t.body_for(None);
                                let outcome = dry_run(cluster, t, &body, options).await;
                                (at, Err(failure), outcome, false)
                            }
                        }
                    }
                    None => {
                        let t = &targets[at];
                        let outcome = dry_run(cluster, t, &t.body, options).await;
                        let live = match &outcome {
                            // 201 Created: the server just said there is no live object.
                            Ok(answer) if answer.created => Ok(None),
                            Ok(_) => {
                                let namespace = t.object.namespace.as_deref();
                                get(cluster, &t.resource, namespace, &t.object.name).await
                            }
                            // The plan reports the refusal and compares nothing; a namespace
                            // still to be created holds no object either.
                            Err(_) => Ok(None),
                        };
                        (at, live, outcome, false)
                    }
                }
            }
        }))
        .await
    });
    let (from_members, from_reads) = futures::join!(from_members, join_all(groups));
    let mut live = Live::new();
    let mut outcomes: Vec<Option<Result<Answer, DryRunError>>> =
        targets.iter().map(|_| None).collect();
    let mut proven_unchanged = 0;
    for (at, found, outcome, proven) in from_members
        .into_iter()
        .chain(from_reads.into_iter().flatten())
    {
        proven_unchanged += usize::from(proven);
        live.insert(targets[at].object.identity(), found);
        outcomes[at] = Some(outcome);
    }
    let outcomes = outcomes
        .into_iter()
        // Unvalidated targets are planned from their body; `dry_run` answers them at once.
        .map(|o| o.unwrap_or(Ok(Answer::clean(Value::Null))))
        .collect();
    (live, outcomes, proven_unchanged)
}

pub(super) fn url_path(resource: &ApiResource, namespace: Option<&str>) -> String {
    DynamicObject::url_path(resource, namespace)
}

async fn get(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, Failure> {
    let request = Request::new(url_path(resource, namespace))
        .get(name, &GetParams::default())
        .map_err(|e| Failure::local(e.to_string()))?;
    match cluster.send::<Value>(request).await {
        Ok(object) => Ok(Some(object)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(Failure::of(&err, &cluster.server)),
    }
}

/// The objects of one kind in one namespace labelled as members of the ApplySet `id`, by name,
/// read in pages.
async fn list_members(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
    id: &str,
) -> Result<HashMap<String, Value>, Failure> {
    let selector = format!("{LABEL_PART_OF}={id}");
    let mut params = ListParams::default().labels(&selector).limit(LIST_PAGE);
    let mut found = HashMap::new();
    loop {
        let request = Request::new(url_path(resource, namespace))
            .list(&params)
            .map_err(|e| Failure::local(e.to_string()))?;
        let mut answer = cluster
            .send::<Value>(request)
            .await
            .map_err(|e| Failure::of(&e, &cluster.server))?;
        if let Some(Value::Array(items)) = answer.get_mut("items").map(Value::take) {
            for item in items {
                // The server filtered by label; check again, as for the set's members.
                if item["metadata"]["labels"][LABEL_PART_OF].as_str() != Some(id) {
                    continue;
                }
                if let Some(name) = item["metadata"]["name"].as_str() {
                    found.insert(name.to_string(), item);
                }
            }
        }
        match answer["metadata"]["continue"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            Some(token) => params = params.continue_token(token),
            None => return Ok(found),
        }
    }
}
