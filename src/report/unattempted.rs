//! Objects that were never sent because the server had stopped answering (see the cluster's
//! breaker) are one fact, not hundreds: the text and markdown reports say it once, with the
//! count per kind, and list only the objects that really failed. JSON keeps every object.

use std::collections::BTreeMap;

use crate::cluster::NotAttempted;
use crate::object::ObjectRef;

/// The objects that were not attempted, in one line's worth of facts.
#[derive(Debug, Default, PartialEq)]
pub struct Unattempted {
    pub count: usize,
    /// How many of each kind, by kind.
    pub kinds: BTreeMap<String, usize>,
    /// Why: the failure that stopped the requests ("no answer from …").
    pub reason: String,
}

impl Unattempted {
    /// "3 objects not attempted (2 ConfigMap, 1 Service): no answer from …"
    pub fn line(&self) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        format!(
            "{} {} not attempted ({}): {}",
            self.count,
            if self.count == 1 { "object" } else { "objects" },
            kinds.join(", "),
            self.reason
        )
    }
}

/// Splits failures into those to list one by one and the unattempted ones, summarised.
/// `describe` gives each failure's object and, when it was never sent, the breaker's refusal.
pub fn split<'a, T>(
    failures: impl IntoIterator<Item = &'a T>,
    describe: impl Fn(&T) -> (&ObjectRef, Option<&NotAttempted>),
) -> (Vec<&'a T>, Option<Unattempted>) {
    let mut listed = Vec::new();
    let mut skipped = Unattempted::default();
    for failure in failures {
        match describe(failure) {
            (object, Some(NotAttempted(reason))) => {
                skipped.count += 1;
                *skipped.kinds.entry(object.kind.clone()).or_default() += 1;
                skipped.reason = reason.clone();
            }
            (_, None) => listed.push(failure),
        }
    }
    (listed, (skipped.count > 0).then_some(skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, name: &str) -> ObjectRef {
        ObjectRef::new("v1", kind, Some("apps".to_string()), name)
    }

    #[test]
    fn never_sent_objects_become_one_line_and_real_failures_stay_listed() {
        let gone = "no answer from https://127.0.0.1:6443/: connection refused";
        let refused = Some(NotAttempted(gone.to_string()));
        // The first request got no answer; the breaker then sent no more.
        let failures = vec![
            (object("ConfigMap", "a"), None),
            (object("ConfigMap", "b"), refused.clone()),
            (object("Service", "c"), refused.clone()),
            (object("ConfigMap", "d"), refused.clone()),
            (object("Secret", "e"), None),
        ];
        let (listed, skipped) = split(&failures, |(o, n)| (o, n.as_ref()));
        let names: Vec<&str> = listed.iter().map(|(o, _)| o.name.as_str()).collect();
        assert_eq!(names, ["a", "e"]);
        let skipped = skipped.unwrap();
        assert_eq!(
            skipped.line(),
            format!("3 objects not attempted (2 ConfigMap, 1 Service): {gone}")
        );
    }

    #[test]
    fn without_unattempted_objects_there_is_no_line() {
        let failures = vec![(object("ConfigMap", "a"), None::<NotAttempted>)];
        let (listed, skipped) = split(&failures, |(o, n)| (o, n.as_ref()));
        assert_eq!(listed.len(), 1);
        assert_eq!(skipped, None);
    }
}
