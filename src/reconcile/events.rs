//! Kubernetes Events (core/v1) on the ApplySet parent Secret: what `kubectl describe secret`
//! and `kubectl get events` show about applies, prunes, drift corrections and failures.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

use super::redact::truncate;
use crate::inventory::ApplySet;

/// The Event API caps messages at 1 KiB.
const MAX_MESSAGE: usize = 1024;
const COMPONENT: &str = "kubectl-gitops";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Posts Events about one set; failures to post are logged, never fatal.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    set: ApplySet,
    instance: String,
}

impl Recorder {
    pub fn new(client: kube::Client, set: ApplySet, instance: String) -> Self {
        Recorder {
            client,
            set,
            instance,
        }
    }

    pub async fn publish(&self, kind: Kind, reason: &str, message: &str) {
        if let Err(err) = self.try_publish(kind, reason, message).await {
            tracing::warn!(
                reason,
                error = %crate::cluster::describe_unnamed(&err),
                "could not record an Event"
            );
        }
    }

    async fn try_publish(&self, kind: Kind, reason: &str, message: &str) -> kube::Result<()> {
        // The parent may not exist yet (nothing applied so far); the Event names it anyway.
        let parents: Api<Secret> = Api::namespaced(self.client.clone(), &self.set.namespace);
        let uid = match parents.get_metadata_opt(&self.set.name).await {
            Ok(found) => found.and_then(|p| p.metadata.uid),
            Err(_) => None,
        };
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    self.set.name,
                    now.as_nanosecond() as u128 & 0xffff_ffff_ffff_ffff
                )),
                namespace: Some(self.set.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                name: Some(self.set.name.clone()),
                namespace: Some(self.set.namespace.clone()),
                uid,
                ..ObjectReference::default()
            },
            reason: Some(reason.to_string()),
            message: Some(truncate(&crate::scrub::text(message), MAX_MESSAGE)),
            type_: Some(
                match kind {
                    Kind::Normal => "Normal",
                    Kind::Warning => "Warning",
                }
                .into(),
            ),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            action: Some(reason.to_string()),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(truncate(&self.instance, 128)),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: None,
            }),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.set.namespace);
        events.create(&PostParams::default(), &event).await?;
        Ok(())
    }
}
