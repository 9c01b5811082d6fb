//! Report: a plan -> bytes, in one of three peer formats. Renderers get the plan and a `Style`
//! value; they never look at the terminal themselves.

mod diff;
pub mod json;
mod markdown;
mod shared;
mod text;
pub mod unattempted;
mod withheld;

use std::io::{self, Write};

pub use diff::{DiffLine, LineKind, object_diff};
pub use markdown::COMMENT_LIMIT;
pub use withheld::Withheld;

use crate::render::IgnoreSource;
use crate::ssa::{Action, Cause, Change, IgnoredState, Plan};
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

/// What a report shows beyond the default view.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Print the fields the server defaulted on creates instead of one line counting them.
    pub show_defaults: bool,
    /// `--show-secrets`: a Secret value the repository inlines in another object's values is
    /// shown there. Never for a pull request.
    pub show_secrets: bool,
}

/// Where the plan was computed against; shown in headers.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub context: String,
    pub server: String,
    /// The digest of the plan as `diff --out` writes it (see `planfile`), for previews: the
    /// plan a pull request showed can be the one `apply --plan --expect-digest` applies.
    pub plan_digest: Option<String>,
}

pub fn write(
    plan: &Plan,
    format: Format,
    destination: &Destination,
    style: &Style,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    let plan = &as_shown(plan, destination, options);
    match format {
        Format::Text => text::write(plan, style, options, out),
        Format::Markdown => markdown::write(plan, destination, options, &Withheld::default(), out),
        Format::Json => json::write(plan, destination, options, out),
    }
}

/// `apply -o json`: the plan in the schema of `diff -o json`, with what was done with it.
pub fn write_applied(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    outcome: &json::Outcome,
    out: &mut dyn Write,
) -> io::Result<()> {
    let plan = &as_shown(plan, destination, options);
    json::write_with_outcome(plan, destination, options, Some(outcome), out)
}

/// The markdown report in at most `limit` bytes, for a pull request's body or comment (see
/// `markdown::render_within`), with the live bodies `withheld` names left out.
pub fn markdown_within(
    plan: &Plan,
    destination: &Destination,
    options: &Options,
    withheld: &Withheld,
    limit: usize,
) -> String {
    markdown::render_within(
        &as_shown(plan, destination, options),
        destination,
        options,
        withheld,
        limit,
    )
}

/// The plan as every report shows it, whatever the format: each Secret value the plan knows
/// scrubbed from the string values of every object body, where the repository inlined it
/// outside a Secret (a ConfigMap's data, an env `value:`, an annotation). Identities and keys
/// are never rewritten, a value stands as a word of its own, and a value too common to hide is
/// left (see `crate::scrub`). Done here, once per report, because only now is every Secret of
/// the plan (rendered or live) and every identity it shows known, so an object reads the same
/// wherever it stands in the plan.
fn as_shown(plan: &Plan, destination: &Destination, options: &Options) -> Plan {
    teach_identities(plan, destination);
    let reveal = if options.show_secrets {
        crate::scrub::Reveal::SecretValues
    } else {
        crate::scrub::Reveal::Nothing
    };
    let mut shown = plan.clone();
    for change in &mut shown.changes {
        crate::scrub::object_values(change.before.as_mut(), change.after.as_mut(), reveal);
    }
    shown
}

/// Every identity a report shows is structure: the scrubber never rewrites it, whatever a
/// Secret in the plan holds (`RoleBinding/web/ops-admin` stays that with a Secret holding
/// `ops-admin`; its value is masked in the Secret by structure).
fn teach_identities(plan: &Plan, destination: &Destination) {
    let objects = plan
        .changes
        .iter()
        .map(|c| &c.object)
        .chain(plan.errors.iter().map(|e| &e.object))
        .chain(plan.kept.iter().map(|k| &k.object));
    for object in objects {
        crate::scrub::learn_public_text(&object.to_string());
    }
    for text in [&destination.context, &destination.server] {
        if !text.is_empty() {
            crate::scrub::learn_public_text(text);
        }
    }
}

/// The diff of one change as the options want it: a create's defaulted fields folded into
/// one line unless they are to be shown.
pub fn change_diff(plan: &Plan, change: &Change, options: &Options) -> Vec<DiffLine> {
    let hidden = plan.defaulted_of(change).filter(|_| !options.show_defaults);
    let mut lines = object_diff(change, hidden);
    lines.extend(
        ignored_lines(plan, change)
            .into_iter()
            .map(|text| DiffLine {
                kind: LineKind::Fold,
                text,
            }),
    );
    lines
}

/// One line per ignored field of the change's object, saying what ignoring it does:
/// `# /spec/replicas ignored (kubectl-gitops.io/ignore-fields): ...`.
pub fn ignored_lines(plan: &Plan, change: &Change) -> Vec<String> {
    if change.action == Action::Prune {
        return Vec::new();
    }
    let Some(ignored) = plan.ignored_of(change) else {
        return Vec::new();
    };
    ignored
        .fields
        .iter()
        .map(|f| {
            let (pointer, source) = (&f.pointer, &f.source);
            if matches!(source, IgnoreSource::Unstable(_)) {
                return unstable_line(pointer, f.state);
            }
            match f.state {
                IgnoredState::Seeded => {
                    format!("# {pointer} set on create only, then ignored ({source})")
                }
                IgnoredState::LiveDiffers => format!(
                    "# {pointer} ignored ({source}): the cluster's value differs from git and is kept"
                ),
                IgnoredState::LiveMatches | IgnoredState::Rewritten => {
                    format!("# {pointer} ignored ({source})")
                }
                IgnoredState::NotInGit => {
                    format!("# {pointer} ignored ({source}): git does not set it")
                }
            }
        })
        .collect()
}

/// The line for a field the chart renders differently each time, saying what the apply does
/// with it and why.
fn unstable_line(pointer: &crate::render::Pointer, state: IgnoredState) -> String {
    const WHY: &str = "unstable: the chart renders it differently each time";
    match state {
        IgnoredState::Seeded => format!("# {pointer} {WHY}; set on create only, then kept"),
        IgnoredState::LiveDiffers => format!(
            "# {pointer} {WHY}; the cluster's value is kept (--rewrite-unstable replaces it)"
        ),
        IgnoredState::LiveMatches | IgnoredState::NotInGit => format!("# {pointer} {WHY}"),
        IgnoredState::Rewritten => {
            format!("# {pointer} {WHY}; rewritten with this render's value (--rewrite-unstable)")
        }
    }
}

/// Whether a report shows this change: every change but an unchanged one, which is shown
/// only when git and the cluster differ in a field it ignores (so the reader learns why that
/// difference is not a change).
pub fn shown(plan: &Plan, change: &Change) -> bool {
    change.action != Action::Unchanged
        || plan
            .ignored_of(change)
            .is_some_and(|i| i.hides_a_difference())
}

/// A change's cause in a few words, for headers: "introduced", or what applying drift does.
/// What `--force-conflicts` would do to an object with conflicts, in a line under its header.
pub fn conflict_lines(change: &Change) -> Vec<String> {
    let mut lines: Vec<String> = change.conflicts.iter().map(ToString::to_string).collect();
    if !lines.is_empty() {
        lines.push(
            "apply refuses this object; with --force-conflicts it takes these fields and makes \
             this change:"
                .to_string(),
        );
    }
    lines
}

pub fn cause_label(change: &Change) -> Option<&'static str> {
    Some(match (change.cause?, change.action) {
        (Cause::Introduced, _) => "introduced",
        (Cause::Drift, Action::Create) => "drift: recreates an object deleted from the cluster",
        (Cause::Drift, Action::Prune) => "drift: already gone from git at the base",
        (Cause::Drift, _) => "drift: reverts a live change",
    })
}

/// One line per Helm hook an apply of this plan runs, in the order they run (the plan's); none when
/// applying would change nothing (hooks run only with a change) or is refused.
pub fn hook_lines(plan: &Plan) -> Vec<String> {
    let summary = plan.summary();
    if !summary.has_changes() || summary.blocked() > 0 {
        return Vec::new();
    }
    plan.hooks
        .iter()
        .map(|hook| {
            let when = match (hook.run.before, hook.run.after) {
                (true, true) => "before and after",
                (true, false) => "before",
                (false, _) => "after",
            };
            let weight = hook.run.weight;
            let policy = hook.run.delete_policy;
            let deleted = match (policy.on_success, policy.on_failure) {
                (true, true) => "deleted once it ran",
                (true, false) => "deleted once it succeeded",
                (false, _) => "deleted if it fails",
            };
            let weight = if weight == 0 {
                String::new()
            } else {
                format!(", weight {weight}")
            };
            format!(
                "{} runs {when} the other objects{weight}; {deleted}",
                hook.object
            )
        })
        .collect()
}

/// "2 to create, 1 to update, 0 to prune, 40 unchanged" (+ ", 1 conflict", ", 1 error").
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    let mut line = format!(
        "{} to create, {} to update, {} to prune, {} unchanged",
        s.create, s.update, s.prune, s.unchanged
    );
    if s.conflicts > 0 {
        line.push_str(&format!(
            ", {} {}",
            s.conflicts,
            if s.conflicts == 1 {
                "conflict"
            } else {
                "conflicts"
            }
        ));
    }
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
mod tests;
