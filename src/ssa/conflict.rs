//! Field conflicts: fields another field manager owns that our apply would change. The server
//! refuses such an apply unless it is forced; the plan shows who owns what, as apply would
//! report it, and what forcing would do.

use std::fmt;

use serde::Serialize;

/// The fields of one object that one other manager owns and our apply would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field manager that owns the fields (`kubectl`, `helm`, `kube-controller-manager`).
    pub manager: String,
    /// The fields, as the server names them (`.data.k`, `.spec.replicas`).
    pub fields: Vec<String>,
}

impl fmt::Display for FieldConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conflict with {:?}: {}",
            self.manager,
            self.fields.join(", ")
        )
    }
}

/// The conflicts a refused server-side apply names, one entry per manager in the order the
/// server lists them; None when the refusal is not a field conflict (or names none).
pub fn from_status(status: &kube::core::Status) -> Option<Vec<FieldConflict>> {
    if status.code != 409 || status.reason != "Conflict" {
        return None;
    }
    let mut conflicts: Vec<FieldConflict> = Vec::new();
    for cause in status.details.as_ref()?.causes.iter() {
        if cause.reason != "FieldManagerConflict" {
            continue;
        }
        let manager = owner(&cause.message).to_string();
        match conflicts.iter_mut().find(|c| c.manager == manager) {
            Some(known) => known.fields.push(cause.field.clone()),
            None => conflicts.push(FieldConflict {
                manager,
                fields: vec![cause.field.clone()],
            }),
        }
    }
    (!conflicts.is_empty()).then_some(conflicts)
}

/// The manager in a cause message: `conflict with "helm" using v1` -> `helm`.
fn owner(message: &str) -> &str {
    let quoted = message
        .split_once('"')
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name);
    quoted.unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(value: serde_json::Value) -> kube::core::Status {
        serde_json::from_value(value).expect("status")
    }

    #[test]
    fn conflicts_are_grouped_by_manager_with_the_fields_the_server_names() {
        let refused = status(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 3 conflicts: conflict with \"helm\" using v1: .data.a\nconflict with \"helm\" using v1: .data.b\nconflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas",
            "details": {"name": "web", "kind": "configmaps", "causes": [
                {"reason": "FieldManagerConflict", "message": "conflict with \"helm\" using v1", "field": ".data.a"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"helm\" using v1", "field": ".data.b"},
                {"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\" with subresource \"scale\" using apps/v1", "field": ".spec.replicas"}
            ]}
        }));
        let conflicts = from_status(&refused).expect("a field conflict");
        let shown: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "conflict with \"helm\": .data.a, .data.b",
                "conflict with \"kubectl\": .spec.replicas"
            ]
        );
    }

    #[test]
    fn other_refusals_are_not_conflicts() {
        let invalid = status(serde_json::json!({
            "status": "Failure", "code": 422, "reason": "Invalid", "message": "spec.x: Required value",
            "details": {"causes": [{"reason": "FieldValueRequired", "field": "spec.x"}]}
        }));
        assert_eq!(from_status(&invalid), None);
        let bare = status(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict", "message": "the object has been modified"
        }));
        assert_eq!(from_status(&bare), None);
    }
}
