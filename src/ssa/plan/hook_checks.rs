//! Helm hook runs in a plan: the server checks each as it will be created, so a hook it would
//! refuse is a plan error, shown by `diff` and refusing the whole apply, rather than a failure
//! half-way through it.

use std::collections::BTreeSet;

use super::PlanOptions;
use super::dry_run::{DryRunError, dry_run, is_missing_namespace};
use super::targets::Desired;
use crate::cluster::Cluster;
use crate::ssa::{PlanError, SecretValues, SharedReason};
use futures::future::join_all;

/// The runs the server refuses, each as a plan error. Not checked: a run in a namespace the
/// same change creates (there is nothing to ask yet), and a run that replaces an earlier copy
/// the server still has (it is checked against that copy, whose immutable fields, a Job's
/// template, it may not change in place, although the run deletes it first).
pub(super) async fn refused(
    cluster: &Cluster,
    runs: &[Desired<'_>],
    created_namespaces: &BTreeSet<&str>,
    show_secrets: bool,
) -> Vec<(usize, PlanError)> {
    let options = PlanOptions {
        force: true,
        ..PlanOptions::default()
    };
    let checks = runs.iter().map(|run| async {
        let error = match dry_run(cluster, run, &run.body, &options).await {
            Ok(_) => return None,
            Err(error) => error,
        };
        if let DryRunError::Status(status) = &error {
            let namespace_created = run
                .object
                .namespace
                .as_deref()
                .is_some_and(|ns| created_namespaces.contains(ns));
            if is_missing_namespace(status) && namespace_created {
                return None;
            }
            let replaces = run
                .manifest
                .hook
                .run
                .is_some_and(|r| r.replaces_earlier_copy());
            if replaces && exists(cluster, run).await {
                return None;
            }
        }
        let not_attempted = match &error {
            DryRunError::Transport(failure) => failure.not_attempted.clone(),
            DryRunError::Status(_) => None,
        };
        // Said once with the other objects of a missing namespace, as for any object.
        let reason = match (&error, &run.object.namespace) {
            (DryRunError::Status(status), Some(namespace)) if is_missing_namespace(status) => {
                Some(SharedReason::NamespaceNotFound {
                    namespace: namespace.clone(),
                })
            }
            _ => None,
        };
        let message = error.to_string();
        let message = if show_secrets {
            message
        } else {
            SecretValues::from_object(&run.body).redact(&message)
        };
        Some((
            run.index,
            PlanError {
                object: run.object.clone(),
                origin: Some(run.manifest.origin.clone()),
                message: format!("Helm hook: {message}"),
                not_attempted,
                reason,
            },
        ))
    });
    join_all(checks).await.into_iter().flatten().collect()
}

async fn exists(cluster: &Cluster, run: &Desired<'_>) -> bool {
    let namespace = run.object.namespace.as_deref();
    let found = cluster.get_object(&run.resource, namespace, &run.object.name);
    matches!(found.await, Ok(Some(_)))
}
