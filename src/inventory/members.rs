//! The live members of a set: objects labelled part-of it (or part-of a legacy parent being
//! migrated), in the group-kinds and namespaces the parents record. Nothing else is ever
//! returned, whatever its name.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use futures::future::join_all;
use kube::api::ListParams;
use kube::core::{DynamicObject, Request, Resource};
use serde_json::Value;

use super::{ApplySet, Inventory, LABEL_PART_OF, Member};
use crate::cluster::Cluster;
use crate::object::ObjectRef;

pub async fn members(
    cluster: &Cluster,
    set: &ApplySet,
    inventory: &Inventory,
) -> Result<Vec<Member>> {
    let ids = inventory.member_ids(set);
    let selector = if ids.len() == 1 {
        format!("{LABEL_PART_OF}={}", ids[0])
    } else {
        format!("{LABEL_PART_OF} in ({})", ids.join(","))
    };
    let mut namespaces: BTreeSet<&str> = inventory.namespaces.iter().map(String::as_str).collect();
    namespaces.insert(&set.namespace);
    let mut group_kinds: BTreeSet<_> = inventory.group_kinds.iter().collect();
    for legacy in &inventory.legacy {
        namespaces.insert(&legacy.parent.namespace);
        namespaces.extend(legacy.namespaces.iter().map(String::as_str));
        group_kinds.extend(legacy.group_kinds.iter());
    }

    let mut lists = Vec::new();
    for gk in group_kinds {
        let Some(resolved) = cluster
            .discovery
            .resolve_group_kind(&gk.group, &gk.kind)
            .await
            .with_context(|| format!("discovering {gk}"))?
        else {
            // The kind is gone from the server (its CRD was deleted): nothing left to prune.
            continue;
        };
        if resolved.namespaced {
            for ns in &namespaces {
                lists.push((resolved.resource.clone(), Some(ns.to_string())));
            }
        } else {
            lists.push((resolved.resource.clone(), None));
        }
    }
    let answers = join_all(lists.iter().map(|(resource, ns)| {
        let selector = selector.clone();
        async move {
            let request = Request::new(DynamicObject::url_path(resource, ns.as_deref()))
                .list(&ListParams::default().labels(&selector))?;
            let answer: Value = cluster.send(request).await.with_context(|| {
                format!(
                    "listing {} members{}",
                    resource.kind,
                    ns.as_ref()
                        .map(|n| format!(" in namespace {n}"))
                        .unwrap_or_default()
                )
            })?;
            anyhow::Ok((resource, answer))
        }
    }))
    .await;

    let mut members = Vec::new();
    for answer in answers {
        let (resource, answer) = answer?;
        for item in answer["items"].as_array().into_iter().flatten() {
            // The server filtered by label; check again, since deleting is irreversible.
            let label = item["metadata"]["labels"][LABEL_PART_OF].as_str();
            if !label.is_some_and(|l| ids.iter().any(|id| id == l)) {
                continue;
            }
            let Some(name) = item["metadata"]["name"].as_str() else {
                continue;
            };
            let namespace = item["metadata"]["namespace"].as_str().map(str::to_string);
            members.push(Member {
                object: ObjectRef::new(&resource.api_version, &resource.kind, namespace, name),
                resource: resource.clone(),
                live: item.clone(),
            });
        }
    }
    Ok(members)
}
