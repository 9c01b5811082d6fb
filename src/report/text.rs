//! The terminal report: a header per changed object, its unified diff, a summary line.

use std::io::{self, Write};

use super::shared::{self, ErrorLine};
use super::{DiffLine, LineKind, Options, cause_label, change_diff, summary_line, unattempted};
use crate::ssa::{Action, Change, Plan};
use crate::ui::Style;

pub fn write(plan: &Plan, style: &Style, options: &Options, out: &mut dyn Write) -> io::Result<()> {
    for change in plan.changes.iter().filter(|c| super::shown(plan, c)) {
        writeln!(out, "{}", header(change, style))?;
        if let Some(line) = plan.cascade_of(change).and_then(|c| c.line()) {
            writeln!(out, "  {}", style.error(&line))?;
        }
        for line in super::conflict_lines(change) {
            writeln!(out, "  {}", style.error(&line))?;
        }
        for line in change_diff(plan, change, options) {
            writeln!(out, "{}", paint(&line, style))?;
        }
        writeln!(out)?;
    }
    let (errors, unattempted) =
        unattempted::split(&plan.errors, |e| (&e.object, e.not_attempted.as_ref()));
    for line in shared::group(errors) {
        let error = match line {
            ErrorLine::Shared(shared) => {
                writeln!(out, "{} {}", style.error("! error"), shared.line())?;
                continue;
            }
            ErrorLine::One(error) => error,
        };
        let origin = error
            .origin
            .as_ref()
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        let fix = shared::fix_for_one(error)
            .map(|fix| format!("; {fix}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{} {}{}: {}{fix}",
            style.error("! error"),
            error.object,
            style.dim(&origin),
            error.message
        )?;
    }
    if let Some(unattempted) = unattempted {
        writeln!(out, "{} {}", style.error("! error"), unattempted.line())?;
    }
    for kept in &plan.kept {
        writeln!(
            out,
            "{} {}: {}",
            style.dim("= kept"),
            kept.object,
            kept.reason
        )?;
    }
    let refused = crate::ssa::moves::refuse_moves(plan).err();
    if let Some(refused) = &refused {
        writeln!(
            out,
            "{} {}",
            style.error("! apply refuses:"),
            refused.text()
        )?;
    }
    let hooks = super::hook_lines(plan);
    for line in &hooks {
        writeln!(out, "{} {line}", style.changed("» hook"))?;
    }
    if !plan.errors.is_empty() || !plan.kept.is_empty() || !hooks.is_empty() || refused.is_some() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{}",
        style.bold(&format!("Plan: {}.", summary_line(plan)))
    )
}

fn header(change: &Change, style: &Style) -> String {
    let painted = match change.action {
        Action::Create => style.added("+ create"),
        Action::Update => style.changed("~ update"),
        Action::Prune => style.removed("- prune"),
        Action::Unchanged => style.dim("= unchanged"),
        Action::Conflict => style.error("! conflict"),
        Action::Run => style.changed("» hook"),
    };
    let origin = change
        .origin
        .as_ref()
        .map(|o| format!(" ({o})"))
        .unwrap_or_default();
    let note = change
        .note
        .as_ref()
        .map(|n| format!(" [{n}]"))
        .unwrap_or_default();
    let cause = cause_label(change)
        .map(|c| format!(" [{c}]"))
        .unwrap_or_default();
    let handover = change
        .handover
        .as_ref()
        .map(|h| format!(" [{h}]"))
        .unwrap_or_default();
    format!(
        "{painted} {}{}{}{}{}",
        style.bold(&change.object.to_string()),
        style.dim(&origin),
        style.dim(&note),
        style.dim(&cause),
        handover
    )
}

fn paint(line: &DiffLine, style: &Style) -> String {
    let text = line.unified();
    match line.kind {
        LineKind::Hunk => style.meta(&text),
        LineKind::Fold => style.dim(&text),
        LineKind::Context => text,
        LineKind::Added => style.added(&text),
        LineKind::Removed => style.removed(&text),
    }
}
