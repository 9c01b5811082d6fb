//! Webhooks that were just pruned but are still called for a moment.
//!
//! The API server's admission plugins learn that a webhook configuration was deleted through a
//! watch of their own, so for a short while after the DELETE succeeded they still call its
//! webhooks. A prune deletes webhook configurations first so that the objects behind them can
//! go next; within that moment, the next deletes can be refused by the very webhook that was
//! just removed (its Service may already be gone, or it refuses by design). Such a refusal is
//! asked again until the server has caught up, for a bounded time; a refusal by any other
//! webhook is final at once.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::object::ObjectRef;

/// How long the server gets to stop calling a deleted webhook. Its watch usually catches up
/// within a second; a loaded server can take a few.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The names of the webhooks whose configurations this prune deleted.
#[derive(Debug, Default, Clone)]
pub struct Departed {
    webhooks: BTreeSet<String>,
}

impl Departed {
    /// Notes the webhooks of a configuration that was deleted, as it was read just before
    /// (the DELETE itself answers with a Status, not the object). Any other object is ignored.
    pub fn record(&mut self, object: &ObjectRef, deleted: &Value) {
        if !is_webhook_configuration(object) {
            return;
        }
        let names = deleted["webhooks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|webhook| webhook["name"].as_str());
        self.webhooks.extend(names.map(str::to_string));
    }

    /// Whether the server's refusal came from one of these webhooks: the API server names the
    /// webhook as `failed calling webhook "NAME"` when it could not reach it, and as
    /// `admission webhook "NAME" denied the request` when it answered no.
    pub fn refused(&self, message: &str) -> bool {
        self.webhooks.iter().any(|name| {
            message.contains(&format!("failed calling webhook \"{name}\""))
                || message.contains(&format!("admission webhook \"{name}\" denied"))
        })
    }
}

/// Whether the API server calls the webhooks `object` configures.
pub fn is_webhook_configuration(object: &ObjectRef) -> bool {
    object.group() == "admissionregistration.k8s.io"
        && matches!(
            object.kind.as_str(),
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
        )
}

/// The wait before asking again for the `retry`th time (0 for the first): short at first,
/// since the server usually catches up at once, and never more than a second.
pub fn wait(retry: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1 << retry.min(4))
        .min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configuration(kind: &str, webhooks: &[&str]) -> (ObjectRef, Value) {
        let object = ObjectRef::new("admissionregistration.k8s.io/v1", kind, None, "hooks");
        let body = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": "hooks"},
            "webhooks": webhooks.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
        });
        (object, body)
    }

    #[test]
    fn a_deleted_webhook_that_could_not_be_called_is_waited_for() {
        let mut departed = Departed::default();
        let (object, body) =
            configuration("ValidatingWebhookConfiguration", &["refuse.example.com"]);
        departed.record(&object, &body);
        assert!(departed.refused(
            "Internal error occurred: failed calling webhook \"refuse.example.com\": failed to \
             call webhook: Post \"https://hook.ns.svc:443/validate?timeout=2s\": connection refused"
        ));
    }

    #[test]
    fn a_deleted_webhook_that_denied_is_waited_for_too() {
        let mut departed = Departed::default();
        let (object, body) = configuration(
            "MutatingWebhookConfiguration",
            &["a.example.com", "b.example.com"],
        );
        departed.record(&object, &body);
        assert!(departed.refused(
            "admission webhook \"b.example.com\" denied the request: configmaps are read-only"
        ));
    }

    #[test]
    fn a_webhook_that_is_still_configured_refuses_for_good() {
        let mut departed = Departed::default();
        let (object, body) = configuration("ValidatingWebhookConfiguration", &["gone.example.com"]);
        departed.record(&object, &body);
        for message in [
            "Internal error occurred: failed calling webhook \"other.example.com\": timeout",
            "admission webhook \"other.example.com\" denied the request: no",
            "admission webhook \"gone.example.com.other\" denied the request: no",
            "configmaps \"a\" is forbidden: User \"x\" cannot delete resource",
        ] {
            assert!(!departed.refused(message), "{message}");
        }
    }

    #[test]
    fn only_webhook_configurations_are_recorded() {
        let mut departed = Departed::default();
        let object = ObjectRef::new("v1", "ConfigMap", Some("ns".into()), "hooks");
        departed.record(
            &object,
            &json!({"kind": "ConfigMap", "webhooks": [{"name": "refuse.example.com"}]}),
        );
        assert!(!departed.refused("failed calling webhook \"refuse.example.com\": refused"));
        // A configuration read as something unexpected records nothing, and breaks nothing.
        let (object, _) = configuration("ValidatingWebhookConfiguration", &[]);
        departed.record(&object, &json!({"kind": "Status", "status": "Success"}));
        assert!(departed.webhooks.is_empty());
    }

    #[test]
    fn waits_grow_to_a_second() {
        assert_eq!(wait(0), Duration::from_millis(100));
        assert_eq!(wait(1), Duration::from_millis(200));
        assert_eq!(wait(3), Duration::from_millis(800));
        assert_eq!(wait(4), Duration::from_secs(1));
        assert_eq!(wait(40), Duration::from_secs(1));
    }
}
