//! Moves between ApplySets in a plan: the refusal of those made without consent, and the
//! parents named for the sets they come from (the objects' handover is `inventory::handover`'s
//! to decide; this reads it across the whole plan).

use std::collections::BTreeMap;

use super::Plan;
use crate::cluster::Cluster;
use crate::inventory::Handover;
use crate::inventory::handover::{MovesRefused, find_parents};
use crate::object::ObjectRef;

/// `Err` when the plan moves an object from another ApplySet without consent.
pub fn refuse_moves(plan: &Plan) -> Result<(), MovesRefused> {
    let moves: Vec<(ObjectRef, String)> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.handover {
            Some(Handover::MovesFrom {
                applyset,
                parent,
                consented: false,
            }) => Some((
                c.object.clone(),
                match parent {
                    Some(parent) => format!("from ApplySet {parent}"),
                    None => format!("from ApplySet {applyset}"),
                },
            )),
            _ => None,
        })
        .collect();
    if moves.is_empty() {
        Ok(())
    } else {
        Err(MovesRefused { moves })
    }
}

/// Names the parents of the sets objects move from, where the caller can see them: one LIST
/// per distinct set, cluster-wide or else in the moving object's namespace. A parent that
/// cannot be found leaves the id in the message.
pub async fn name_sets(cluster: &Cluster, plan: &mut Plan) {
    let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
    for change in &plan.changes {
        if let Some(Handover::MovesFrom { applyset, .. }) = &change.handover {
            wanted
                .entry(applyset.clone())
                .or_insert_with(|| change.object.namespace.clone());
        }
    }
    let named = find_parents(cluster, wanted).await;
    for change in &mut plan.changes {
        if let Some(Handover::MovesFrom {
            applyset, parent, ..
        }) = &mut change.handover
        {
            *parent = named.get(applyset.as_str()).cloned();
        }
    }
}
