//! Objects whose live body a report must not print, each with the reason it says instead.
//!
//! A preview posted on a pull request is read by everyone who can read the repository, and
//! the tree it previews may be a stranger's: naming an object is enough to have its live copy
//! read by the credentials the preview runs with. Who decides what to withhold is the caller
//! (`pr` decides it from the plan, see `pr::reach`); a report only honours the decision, and
//! still counts each withheld change in its summary.

use std::collections::BTreeMap;

use crate::object::ObjectRef;

/// The objects to withhold and why; empty for a report on the user's own terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Withheld {
    reasons: BTreeMap<ObjectRef, String>,
}

impl Withheld {
    /// Withhold `object`'s body and the server's words about it, saying `reason` instead
    /// (a sentence fit for everyone who reads the report, e.g. "it is outside ...").
    pub fn insert(&mut self, object: ObjectRef, reason: impl Into<String>) {
        self.reasons.insert(object, reason.into());
    }

    /// Why `object` is not shown, when it is not.
    pub fn reason(&self, object: &ObjectRef) -> Option<&str> {
        self.reasons.get(object).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn len(&self) -> usize {
        self.reasons.len()
    }
}
