//! Events on GitSyncs (`events.k8s.io/v1`): one Event per distinct content, a repeat of the
//! same content counted in that Event's series.
//!
//! kube-runtime's recorder folds every Event of one reason into one series and keeps the first
//! note, so `Applied main@sha1:ab042d0…` stood for twelve later commits, and an RBAC refusal
//! was counted into an earlier git failure without its own text ever appearing. Here the note
//! is part of what makes two Events the same: a new commit, or a new failure, is a new Event
//! with its own text and time, so the latest is the one a user reads.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};

/// How long a repeat still counts into an earlier Event's series (kube-runtime's and
/// client-go's figure); after it, the same content starts a new Event.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// What makes two Events the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    warning: bool,
    reason: String,
    action: String,
    note: Option<String>,
}

pub struct Recorder {
    client: kube::Client,
    controller: String,
    instance: String,
    /// The Events written within the series window, by content.
    recent: Mutex<HashMap<Key, K8sEvent>>,
}

impl Recorder {
    /// Events reported by `controller` (the component) from `instance` (this replica).
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        Recorder {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            recent: Mutex::default(),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<Key, K8sEvent>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `event` about `regarding`: a new Event, or the next of a series of the same
    /// content seen within the window.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key {
            regarding: (
                regarding.namespace.clone(),
                regarding.kind.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            warning: matches!(event.type_, EventType::Warning),
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: event.note.clone(),
        };
        let earlier = {
            let mut recent = self.recent();
            recent.retain(|_, e| last_seen(e).is_some_and(|t| t + SERIES_WINDOW > now));
            recent.get(&key).cloned()
        };
        let events: Api<K8sEvent> = Api::namespaced(
            self.client.clone(),
            regarding.namespace.as_deref().unwrap_or("default"),
        );
        let written = match earlier {
            Some(mut repeat) => {
                repeat.series = Some(EventSeries {
                    count: repeat.series.as_ref().map_or(2, |s| s.count + 1),
                    last_observed_time: MicroTime(now),
                });
                let name = repeat.metadata.name.clone().unwrap_or_default();
                let patch = serde_json::json!({"series": repeat.series});
                match events
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => repeat,
                    // Gone (the server's Event TTL): start a new one.
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        let fresh = self.fresh(event, regarding, now);
                        events.create(&PostParams::default(), &fresh).await?
                    }
                    Err(err) => return Err(err),
                }
            }
            None => {
                let fresh = self.fresh(event, regarding, now);
                events.create(&PostParams::default(), &fresh).await?
            }
        };
        self.recent().insert(key, written);
        Ok(())
    }

    fn fresh(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let name = regarding.name.as_deref().unwrap_or(&self.controller);
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                // Unique per Event, and in time order within one object's Events.
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            ..K8sEvent::default()
        }
    }
}

/// When an Event was last seen: its series' last time, else its own.
fn last_seen(event: &K8sEvent) -> Option<Timestamp> {
    match &event.series {
        Some(series) => Some(series.last_observed_time.0),
        None => event.event_time.as_ref().map(|t| t.0),
    }
}
