//! Kubernetes Events (core/v1) on the ApplySet parent Secret: what `kubectl describe secret`
//! and `kubectl get events` show about applies, prunes, drift corrections and failures.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

use crate::inventory::ApplySet;
use crate::object::ObjectRef;
use crate::source::redact::truncate;

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

/// The objects an Event names: the first ten, then how many more.
pub(crate) fn object_list<'a>(objects: impl IntoIterator<Item = &'a ObjectRef>) -> String {
    let objects: Vec<String> = objects.into_iter().map(ToString::to_string).collect();
    let shown = objects
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match objects.len().saturating_sub(10) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// What an "applied" message adds about Helm hooks that ran: nothing when none did.
pub(crate) fn hooks_ran(hooks: &[ObjectRef]) -> String {
    match hooks.len() {
        0 => String::new(),
        1 => format!("; ran the Helm hook {}", object_list(hooks)),
        n => format!("; ran {n} Helm hooks: {}", object_list(hooks)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> ObjectRef {
        ObjectRef::new("v1", "ConfigMap", Some("web".into()), name)
    }

    #[test]
    fn long_lists_name_ten_and_count_the_rest() {
        let objects: Vec<ObjectRef> = (0..12).map(|i| config(&format!("c{i}"))).collect();
        let line = object_list(&objects);
        assert!(
            line.starts_with("ConfigMap/web/c0, ConfigMap/web/c1,"),
            "{line}"
        );
        assert!(line.ends_with("ConfigMap/web/c9 and 2 more"), "{line}");
        assert_eq!(object_list(&objects[..1]), "ConfigMap/web/c0");
    }

    #[test]
    fn hooks_that_ran_are_said_only_when_there_are_some() {
        assert_eq!(hooks_ran(&[]), "");
        let migrate = ObjectRef::new("batch/v1", "Job", Some("web".into()), "migrate");
        assert_eq!(
            hooks_ran(std::slice::from_ref(&migrate)),
            "; ran the Helm hook Job/web/migrate"
        );
        assert_eq!(
            hooks_ran(&[migrate, config("notify")]),
            "; ran 2 Helm hooks: Job/web/migrate, ConfigMap/web/notify"
        );
    }
}
