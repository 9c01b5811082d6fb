//! Report: a plan -> bytes, in one of three peer formats. Renderers get the plan and a `Style`
//! value; they never look at the terminal themselves.

mod diff;
mod json;
mod markdown;
mod text;

use std::io::{self, Write};

pub use diff::{DiffLine, LineKind, object_diff};
pub use markdown::{COMMENT_LIMIT, render_within as markdown_within};

use crate::ssa::Plan;
use crate::ui::Style;

/// The `--output` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Colored unified diffs for a terminal.
    #[default]
    Text,
    /// A pull-request comment: summary table and a collapsible section per object.
    Markdown,
    /// A stable, documented schema (see docs/json-output.md).
    Json,
}

/// Context lines around each change in a diff.
pub const CONTEXT_LINES: usize = 3;

/// Where the plan was computed against; shown in headers.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub context: String,
    pub server: String,
}

pub fn write(
    plan: &Plan,
    format: Format,
    target: &Target,
    style: &Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::write(plan, style, out),
        Format::Markdown => markdown::write(plan, target, out),
        Format::Json => json::write(plan, target, out),
    }
}

/// "2 to create, 1 to update, 0 to prune, 40 unchanged" (+ ", 1 error").
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    let mut line = format!(
        "{} to create, {} to update, {} to prune, {} unchanged",
        s.create, s.update, s.prune, s.unchanged
    );
    if s.errors > 0 {
        line.push_str(&format!(
            ", {} {}",
            s.errors,
            if s.errors == 1 { "error" } else { "errors" }
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::object::ObjectRef;
    use crate::render::Origin;
    use crate::ssa::{Action, Change, Kept, PlanError};

    fn origin(file: &str, line: usize) -> Option<Origin> {
        Some(Origin {
            file: PathBuf::from(file),
            document: 0,
            line,
        })
    }

    /// One of everything a report must show.
    fn sample_plan() -> Plan {
        let cm = |data: serde_json::Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": "web"}, "data": data})
        };
        Plan {
            changes: vec![
                Change {
                    action: Action::Update,
                    object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), "settings"),
                    origin: origin("deploy/settings.yaml", 1),
                    validated: true,
                    note: None,
                    before: Some(cm(json!({"LOG_LEVEL": "debug", "MODE": "fast"}))),
                    after: Some(cm(json!({"LOG_LEVEL": "info", "MODE": "fast"}))),
                },
                Change {
                    action: Action::Create,
                    object: ObjectRef::new("v1", "Secret", Some("web".into()), "creds"),
                    origin: origin("deploy/settings.yaml", 9),
                    validated: false,
                    note: Some(
                        "not validated by the server yet: its namespace is created by this change"
                            .into(),
                    ),
                    before: None,
                    after: Some(json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "creds", "namespace": "web"},
                        "stringData": {"password": "***"}})),
                },
                Change {
                    action: Action::Unchanged,
                    object: ObjectRef::new("v1", "Service", Some("web".into()), "web"),
                    origin: origin("deploy/web.yaml", 20),
                    validated: true,
                    note: None,
                    before: Some(json!({"kind": "Service"})),
                    after: Some(json!({"kind": "Service"})),
                },
            ],
            errors: vec![PlanError {
                object: ObjectRef::new("apps/v1", "Deployment", Some("web".into()), "broken"),
                origin: origin("deploy/web.yaml", 1),
                message: "Deployment.apps \"broken\" is invalid: spec.selector: Required value"
                    .into(),
            }],
            kept: vec![Kept {
                object: ObjectRef::new("v1", "Namespace", None, "old"),
                reason: "protected kind: not pruned without --prune-protected".into(),
            }],
        }
    }

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        let target = Target {
            context: "staging".into(),
            server: "https://127.0.0.1:6443/".into(),
        };
        write(&sample_plan(), format, &target, &Style::plain(), &mut out).expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn text_report() {
        insta::assert_snapshot!(render(Format::Text));
    }

    #[test]
    fn markdown_report() {
        insta::assert_snapshot!(render(Format::Markdown));
    }

    #[test]
    fn json_report() {
        insta::assert_snapshot!(render(Format::Json));
    }

    #[test]
    fn text_report_colors_only_when_asked() {
        let mut out = Vec::new();
        write(
            &sample_plan(),
            Format::Text,
            &Target::default(),
            &Style::new(true),
            &mut out,
        )
        .unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\u{1b}["));
        assert!(!render(Format::Text).contains('\u{1b}'));
    }

    #[test]
    fn markdown_over_the_comment_limit_keeps_the_summary_and_says_what_was_cut() {
        let mut plan = sample_plan();
        let big: serde_json::Map<String, serde_json::Value> = (0..3000)
            .map(|i| (format!("key{i}"), json!(format!("value-{i}"))))
            .collect();
        for i in 0..20 {
            plan.changes.push(Change {
                action: Action::Create,
                object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), format!("big{i}")),
                origin: None,
                validated: true,
                note: None,
                before: None,
                after: Some(json!({"data": big})),
            });
        }
        let mut out = Vec::new();
        write(
            &plan,
            Format::Markdown,
            &Target::default(),
            &Style::plain(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.len() <= markdown::COMMENT_LIMIT,
            "{} characters",
            text.len()
        );
        assert!(
            text.contains("| 21 | 1 | 0 | 1 | 1 |"),
            "the summary survives"
        );
        assert!(text.contains("sections not shown"), "the cut is announced");
    }
}
