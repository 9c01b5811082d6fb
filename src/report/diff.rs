//! Computes a change's unified YAML diff as values; painting is the renderers' job.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::CONTEXT_LINES;
use crate::ssa::{Change, FieldPath, without_fields};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `@@ -a,b +c,d @@`
    Hunk,
    /// Not a line of either side: says what was left out (`# 21 fields defaulted ...`).
    Fold,
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
            LineKind::Fold => format!(" {}", self.text),
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
/// a prune), with `CONTEXT_LINES` of context. The `hidden` fields of `after` (a create's
/// server defaults) are left out and counted in a last line.
pub fn object_diff(change: &Change, hidden: Option<&[FieldPath]>) -> Vec<DiffLine> {
    let before = yaml(change.before.as_ref());
    let folded = match (hidden, &change.after) {
        (Some(hidden), Some(after)) if !hidden.is_empty() => Some(without_fields(after, hidden)),
        _ => None,
    };
    let after = yaml(folded.as_ref().or(change.after.as_ref()));
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
    if let Some(hidden) = hidden.filter(|_| folded.is_some()) {
        let count = hidden.len();
        lines.push(DiffLine {
            kind: LineKind::Fold,
            text: format!(
                "# {count} {} defaulted by the server (--show-defaults)",
                if count == 1 { "field" } else { "fields" }
            ),
        });
    }
    lines
}
