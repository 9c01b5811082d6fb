//! The pull-request report: a summary table, then one collapsible section per changed object
//! holding a fenced `diff` block.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::shared::{self, ErrorLine};
use super::{Destination, Options, Withheld, cause_label, change_diff, summary_line, unattempted};
use crate::ssa::{Action, Plan};

/// GitHub refuses comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;

pub fn write(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    withheld: &Withheld,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(render_within(plan, destination, options, withheld, COMMENT_LIMIT).as_bytes())
}

/// The markdown report in at most `limit` bytes (for a PR body or comment that adds its own
/// lines around it): sections that do not fit are cut, the summary never is. A change in
/// `withheld` keeps its header and its count, and says why in place of its diff (and of what
/// the server said about it).
pub fn render_within(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    withheld: &Withheld,
    limit: usize,
) -> String {
    let s = plan.summary();
    let mut head = String::new();
    let _ = writeln!(head, "### kubectl gitops plan");
    if !destination.context.is_empty() {
        let _ = writeln!(head, "\nAgainst context `{}`.", destination.context);
    }
    if let Some(digest) = &destination.plan_digest {
        let _ = writeln!(head, "\nPlan digest: `{digest}`");
    }
    let _ = writeln!(
        head,
        "\n| Create | Update | Prune | Unchanged | Conflicts | Errors |"
    );
    let _ = writeln!(head, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        head,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.create, s.update, s.prune, s.unchanged, s.conflicts, s.errors
    );

    let mut sections = Vec::new();
    for change in plan.changes.iter().filter(|c| super::shown(plan, c)) {
        let sign = match change.action {
            Action::Create => "+ create",
            Action::Update => "~ update",
            Action::Prune => "- prune",
            Action::Unchanged => "= unchanged",
            Action::Conflict => "! conflict",
            Action::Run => "» hook",
        };
        let origin = change
            .origin
            .as_ref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let note = change
            .note
            .as_ref()
            .map(|n| format!(" — {n}"))
            .unwrap_or_default();
        let cause = cause_label(change)
            .map(|c| format!(" — <em>{c}</em>"))
            .unwrap_or_default();
        let handover = change
            .handover
            .as_ref()
            .map(|h| format!(" — {}", escape(&h.to_string())))
            .unwrap_or_default();
        let cascade = plan
            .cascade_of(change)
            .and_then(|c| c.line())
            .map(|line| format!(" — <strong>{}</strong>", escape(&line)))
            .unwrap_or_default();
        let header = format!(
            "<details><summary><code>{sign} {}</code>{}{note}{cause}{handover}{cascade}</summary>\n\n",
            escape(&change.object.to_string()),
            escape(&origin)
        );
        if let Some(reason) = withheld.reason(&change.object) {
            sections.push(format!(
                "{header}{}\n\n</details>\n",
                not_shown(&change.object, reason)
            ));
            continue;
        }
        let mut section = format!("{header}```diff\n");
        for line in super::conflict_lines(change) {
            section.push_str(&format!("# {}\n", line.replace("```", "`\u{200b}``")));
        }
        for line in change_diff(plan, change, options) {
            section.push_str(&line.unified().replace("```", "`\u{200b}``"));
            section.push('\n');
        }
        section.push_str("```\n\n</details>\n");
        sections.push(section);
    }
    let (errors, unattempted) =
        unattempted::split(&plan.errors, |e| (&e.object, e.not_attempted.as_ref()));
    for line in shared::group(errors) {
        let error = match line {
            ErrorLine::Shared(shared) => {
                sections.push(format!("**Error** {}\n\n", escape(&shared.line())));
                continue;
            }
            ErrorLine::One(error) => error,
        };
        let origin = error
            .origin
            .as_ref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        if let Some(reason) = withheld.reason(&error.object) {
            // A server's message can quote the live object (an immutable field's old value).
            sections.push(format!(
                "**Error** `{}`{}: {}\n\n",
                escape(&error.object.to_string()),
                escape(&origin),
                not_shown(&error.object, reason)
            ));
            continue;
        }
        let fix = shared::fix_for_one(error)
            .map(|fix| format!("; {fix}"))
            .unwrap_or_default();
        sections.push(format!(
            "**Error** `{}`{}: {}\n\n",
            escape(&error.object.to_string()),
            escape(&origin),
            escape(&(error.message.clone() + &fix))
        ));
    }
    if let Some(unattempted) = unattempted {
        sections.push(format!("**Error** {}\n\n", escape(&unattempted.line())));
    }

    for kept in &plan.kept {
        sections.push(format!(
            "**Kept** `{}`: {}\n\n",
            escape(&kept.object.to_string()),
            escape(&kept.reason.to_string())
        ));
    }

    if let Err(refused) = crate::ssa::moves::refuse_moves(plan) {
        sections.push(format!(
            "**Apply refuses:** {}\n",
            escape(&refused.markdown())
        ));
    }

    for line in super::hook_lines(plan) {
        sections.push(format!("**Hook** {}\n\n", escape(&line)));
    }

    let footer = format!("\n{}.\n", summary_line(plan));
    let mut body = head;
    let total = sections.len();
    for (shown, section) in sections.into_iter().enumerate() {
        let cut_note = format!(
            "\n_Preview truncated to fit a comment: {} of {total} sections not shown; run `kubectl gitops diff` for the full plan._\n",
            total - shown
        );
        if body.len() + section.len() + cut_note.len() + footer.len() > limit {
            body.push_str(&cut_note);
            body.push_str(&footer);
            return body;
        }
        body.push_str(&section);
    }
    body.push_str(&footer);
    body
}

/// The line a withheld object shows in place of its body.
fn not_shown(object: &crate::object::ObjectRef, reason: &str) -> String {
    format!(
        "_Not shown: `{}` {}; review it with credentials of your own._",
        escape(&object.to_string()),
        escape(reason)
    )
}

/// Keeps object names and server messages from being read as HTML or markdown.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}
