//! Computes a change's unified YAML diff as values; painting is the renderers' job.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::CONTEXT_LINES;
use crate::ssa::Change;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `@@ -a,b +c,d @@`
    Hunk,
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    /// The line without its `+`/`-`/` ` sign and without the newline.
    pub text: String,
}

impl DiffLine {
    /// The line as in a unified diff.
    pub fn unified(&self) -> String {
        match self.kind {
            LineKind::Hunk => self.text.clone(),
            LineKind::Context => format!(" {}", self.text),
            LineKind::Added => format!("+{}", self.text),
            LineKind::Removed => format!("-{}", self.text),
        }
    }
}

fn yaml(value: Option<&Value>) -> String {
    match value {
        // Quoted wherever a YAML 1.1 reader would retype a string: what the reviewer reads is
        // what the server stores.
        Some(v) => crate::yaml::to_yaml(v),
        None => String::new(),
    }
}

/// The unified diff from `before` to `after` of one change (all `+` for a create, all `-` for
/// a prune), with `CONTEXT_LINES` of context.
pub fn object_diff(change: &Change) -> Vec<DiffLine> {
    let before = yaml(change.before.as_ref());
    let after = yaml(change.after.as_ref());
    let diff = TextDiff::from_lines(&before, &after);
    let mut lines = Vec::new();
    for group in diff.grouped_ops(CONTEXT_LINES) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old = first.old_range().start..last.old_range().end;
        let new = first.new_range().start..last.new_range().end;
        lines.push(DiffLine {
            kind: LineKind::Hunk,
            text: format!(
                "@@ -{},{} +{},{} @@",
                old.start + usize::from(!old.is_empty()),
                old.len(),
                new.start + usize::from(!new.is_empty()),
                new.len()
            ),
        });
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Context,
                    ChangeTag::Insert => LineKind::Added,
                    ChangeTag::Delete => LineKind::Removed,
                };
                lines.push(DiffLine {
                    kind,
                    text: change.value().trim_end_matches('\n').to_string(),
                });
            }
        }
    }
    lines
}
