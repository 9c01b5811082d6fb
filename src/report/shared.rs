//! Failures with one cause are one fact: 35 objects in a namespace that does not exist, or 12
//! custom resources of a kind the server does not serve, are said in one line naming the
//! cause, the count and the fix. The text and markdown reports list them this way; JSON keeps
//! every object (with its `reason`).

use std::collections::BTreeMap;

use crate::ssa::{PlanError, SharedReason};

/// One line of a report's error list.
#[derive(Debug, PartialEq)]
pub enum ErrorLine<'a> {
    /// An object's own failure, or the only object with its cause.
    One(&'a PlanError),
    /// Several objects failing for the same reason.
    Shared(Shared<'a>),
}

#[derive(Debug, PartialEq)]
pub struct Shared<'a> {
    pub reason: &'a SharedReason,
    pub count: usize,
    /// How many of each kind, by kind.
    pub kinds: BTreeMap<&'a str, usize>,
}

impl Shared<'_> {
    /// "35 objects in namespace boutique (12 Deployment, 23 Service): namespace boutique does not
    /// exist; add a Namespace boutique to the tree, or create it (...)"
    pub fn line(&self) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        match self.reason {
            SharedReason::NamespaceNotFound { namespace } => format!(
                "{} objects in namespace {namespace} ({}): namespace {namespace} does not exist; {}",
                self.count,
                kinds.join(", "),
                self.reason.fix()
            ),
            SharedReason::KindNotFound { api_version, kind } => format!(
                "{} {kind} objects: the server has no kind {kind} in {api_version}; {}",
                self.count,
                self.reason.fix()
            ),
        }
    }
}

/// What a single object's line says after the server's message: the fix, where the message
/// does not already suggest one.
pub fn fix_for_one(error: &PlanError) -> Option<String> {
    match error.reason.as_ref()? {
        reason @ SharedReason::NamespaceNotFound { .. } => Some(reason.fix()),
        SharedReason::KindNotFound { .. } => None,
    }
}

/// The errors as report lines: those sharing a reason with another error become one line, at
/// the place of the first of them; the others stay in order.
pub fn group<'a>(errors: impl IntoIterator<Item = &'a PlanError>) -> Vec<ErrorLine<'a>> {
    let errors: Vec<&PlanError> = errors.into_iter().collect();
    let mut by_reason: BTreeMap<&SharedReason, Vec<&PlanError>> = BTreeMap::new();
    for error in &errors {
        if let Some(reason) = &error.reason {
            by_reason.entry(reason).or_default().push(error);
        }
    }
    let mut lines = Vec::new();
    for error in errors {
        let group = error
            .reason
            .as_ref()
            .and_then(|r| by_reason.get_key_value(r));
        match group {
            None => lines.push(ErrorLine::One(error)),
            Some((_, members)) if members.len() == 1 => lines.push(ErrorLine::One(error)),
            Some((reason, members)) if std::ptr::eq(members[0], error) => {
                let mut kinds = BTreeMap::new();
                for member in members {
                    *kinds.entry(member.object.kind.as_str()).or_default() += 1;
                }
                lines.push(ErrorLine::Shared(Shared {
                    reason,
                    count: members.len(),
                    kinds,
                }));
            }
            // Said already, at the first object with this reason.
            Some(_) => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;

    fn error(kind: &str, namespace: &str, name: &str, reason: Option<SharedReason>) -> PlanError {
        PlanError {
            object: ObjectRef::new("v1", kind, Some(namespace.into()), name),
            origin: None,
            message: "refused".into(),
            not_attempted: None,
            reason,
        }
    }

    fn missing(namespace: &str) -> Option<SharedReason> {
        Some(SharedReason::NamespaceNotFound {
            namespace: namespace.into(),
        })
    }

    fn describe(lines: &[ErrorLine<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|line| match line {
                ErrorLine::One(e) => e.object.to_string(),
                ErrorLine::Shared(s) => s.line(),
            })
            .collect()
    }

    #[test]
    fn objects_in_a_missing_namespace_are_one_line_with_the_fix() {
        let errors = vec![
            error("Service", "boutique", "cart", missing("boutique")),
            error("ConfigMap", "web", "broken", None),
            error("Deployment", "boutique", "cart", missing("boutique")),
            error("Service", "boutique", "front", missing("boutique")),
        ];
        assert_eq!(
            describe(&group(&errors)),
            [
                "3 objects in namespace boutique (1 Deployment, 2 Service): namespace boutique \
                 does not exist; add a Namespace boutique to the tree, or create it \
                 (kubectl create namespace boutique)",
                "ConfigMap/web/broken",
            ]
        );
    }

    #[test]
    fn each_missing_kind_is_one_line_with_its_count() {
        let kind = |kind: &str| {
            Some(SharedReason::KindNotFound {
                api_version: "networking.istio.io/v1".into(),
                kind: kind.into(),
            })
        };
        let errors = vec![
            error("VirtualService", "web", "a", kind("VirtualService")),
            error("Gateway", "web", "g", kind("Gateway")),
            error("VirtualService", "web", "b", kind("VirtualService")),
        ];
        let lines = describe(&group(&errors));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "2 VirtualService objects: the server has no kind VirtualService in \
                 networking.istio.io/v1; add its CustomResourceDefinition"
            ),
            "{lines:?}"
        );
        // A cause only one object has is that object's line.
        assert_eq!(lines[1], "Gateway/web/g");
    }

    #[test]
    fn a_single_object_in_a_missing_namespace_gets_the_fix_on_its_own_line() {
        let alone = error("Service", "shop", "cart", missing("shop"));
        assert_eq!(
            fix_for_one(&alone).as_deref(),
            Some("add a Namespace shop to the tree, or create it (kubectl create namespace shop)")
        );
        assert_eq!(fix_for_one(&error("Service", "shop", "cart", None)), None);
    }
}
