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
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::object::ObjectRef;
    use crate::render::Origin;
    use crate::ssa::{Action, Cause, Change, FieldConflict, Kept, PlanError};

    fn origin(file: &str, line: usize) -> Option<Origin> {
        Some(Origin {
            file: PathBuf::from(file),
            document: 0,
            item: None,
            line,
            remote: None,
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
                    conflicts: Vec::new(),
                    cause: None,
                    handover: None,
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
                    conflicts: Vec::new(),
                    cause: None,
                    handover: None,
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
                    conflicts: Vec::new(),
                    cause: None,
                    handover: None,
                    before: Some(json!({"kind": "Service"})),
                    after: Some(json!({"kind": "Service"})),
                },
                Change {
                    action: Action::Conflict,
                    object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), "flags"),
                    origin: origin("deploy/settings.yaml", 14),
                    validated: true,
                    note: None,
                    conflicts: vec![FieldConflict {
                        manager: "helm".into(),
                        fields: vec![".data.beta".into(), ".data.gamma".into()],
                    }],
                    cause: None,
                    handover: None,
                    before: Some(cm(json!({"beta": "on", "gamma": "off"}))),
                    after: Some(cm(json!({"beta": "off", "gamma": "off"}))),
                },
            ],
            errors: vec![PlanError {
                object: ObjectRef::new("apps/v1", "Deployment", Some("web".into()), "broken"),
                origin: origin("deploy/web.yaml", 1),
                message: "Deployment.apps \"broken\" is invalid: spec.selector: Required value"
                    .into(),
                reason: None,
                not_attempted: None,
            }],
            kept: vec![Kept {
                object: ObjectRef::new("v1", "Namespace", None, "old"),
                reason: "protected kind: not pruned without --prune-protected".into(),
            }],
            defaulted: Vec::new(),
            cascades: Vec::new(),
            ignored: Vec::new(),
            hooks: Vec::new(),
        }
    }

    fn render(format: Format) -> String {
        rendered(&sample_plan(), format)
    }

    /// `plan` in `format`, for the context "staging", without color.
    fn rendered(plan: &Plan, format: Format) -> String {
        let mut out = Vec::new();
        let destination = Destination {
            context: "staging".into(),
            server: "https://127.0.0.1:6443/".into(),
            plan_digest: None,
        };
        write(
            plan,
            format,
            &destination,
            &Style::plain(),
            &Options::default(),
            &mut out,
        )
        .expect("render");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn moves_refused_are_listed_by_set_in_text_and_markdown_alike() {
        let moving = |name: &str, consented: bool| Change {
            action: Action::Update,
            object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), name),
            origin: None,
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: Some(crate::inventory::Handover::MovesFrom {
                applyset: "applyset-old".into(),
                parent: None,
                consented,
            }),
            before: Some(json!({"kind": "ConfigMap"})),
            after: Some(json!({"kind": "ConfigMap", "data": {"a": "1"}})),
        };
        let plan = Plan {
            changes: vec![moving("a", false), moving("b", false), moving("c", true)],
            ..Plan::default()
        };
        let text = rendered(&plan, Format::Text);
        assert!(
            text.contains(
                "! apply refuses: 2 objects belong to another ApplySet and would move into this \
                 one; refusing to take them over without consent (pass --adopt, or annotate each \
                 in git with kubectl-gitops.io/adopt: \"true\"):\n  from ApplySet applyset-old \
                 (2):\n    ConfigMap/web/a\n    ConfigMap/web/b\n"
            ),
            "{text}"
        );
        let markdown = rendered(&plan, Format::Markdown);
        assert!(
            markdown.contains(
                "- from ApplySet applyset-old (2):\n  - `ConfigMap/web/a`\n  - `ConfigMap/web/b`\n"
            ),
            "{markdown}"
        );
        // Consented moves are not refused, and a plan without any says nothing.
        let consented = Plan {
            changes: vec![moving("c", true)],
            ..Plan::default()
        };
        for format in [Format::Text, Format::Markdown] {
            assert!(!rendered(&consented, format).contains("apply refuses"));
        }
    }

    #[test]
    fn a_withheld_object_keeps_its_header_and_count_and_says_why_in_place_of_its_body() {
        let object = ObjectRef::new("v1", "ConfigMap", Some("other".into()), "theirs");
        let body = |v: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "theirs", "namespace": "other"}, "data": {"token": v}})
        };
        let plan = Plan {
            changes: vec![Change {
                action: Action::Update,
                object: object.clone(),
                origin: None,
                validated: true,
                note: None,
                conflicts: Vec::new(),
                cause: None,
                handover: None,
                before: Some(body("live-withheld-canary")),
                after: Some(body("live-withheld-canary-2")),
            }],
            errors: vec![crate::ssa::PlanError {
                object: ObjectRef::new("apps/v1", "Deployment", Some("other".into()), "web"),
                origin: None,
                message: "spec.selector: Invalid value: live-withheld-canary".into(),
                not_attempted: None,
                reason: None,
            }],
            ..Plan::default()
        };
        let mut withheld = Withheld::default();
        withheld.insert(object, "is outside the namespaces this set manages (web)");
        withheld.insert(plan.errors[0].object.clone(), "is outside them too");
        let preview = markdown_within(
            &plan,
            &Destination::default(),
            &Options::default(),
            &withheld,
            4096,
        );
        assert!(!preview.contains("live-withheld-canary"), "{preview}");
        assert!(
            preview.contains("<code>~ update ConfigMap/other/theirs</code>"),
            "{preview}"
        );
        assert!(
            preview.contains(
                "_Not shown: `ConfigMap/other/theirs` is outside the namespaces this set manages \
                 (web); review it with credentials of your own._"
            ),
            "{preview}"
        );
        assert!(
            preview.contains("**Error** `Deployment/other/web`: _Not shown:"),
            "{preview}"
        );
        assert!(preview.contains("| 0 | 1 | 0 | 0 | 0 | 1 |"), "{preview}");
        // The same plan in full, as `diff` shows it on the user's own terminal.
        assert!(rendered(&plan, Format::Markdown).contains("live-withheld-canary"));
    }

    #[test]
    fn a_secret_value_inlined_outside_its_secret_is_hidden_in_every_format() {
        crate::scrub::learn_object(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"}, "stringData": {"password": "report-canary-7f3a"}}));
        let change = |kind: &str, name: &str, body: serde_json::Value| Change {
            action: Action::Create,
            object: ObjectRef::new("v1", kind, Some("web".into()), name),
            origin: None,
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before: None,
            after: Some(body),
        };
        let plan = Plan {
            changes: vec![change(
                "ConfigMap",
                "ops-admin",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "ops-admin", "namespace": "web"},
                    "data": {"DB_PASSWORD": "report-canary-7f3a", "role": "admin"}}),
            )],
            ..Plan::default()
        };
        for format in [Format::Text, Format::Markdown, Format::Json] {
            let shown = rendered(&plan, format);
            assert!(!shown.contains("report-canary-7f3a"), "{shown}");
            let identity = match format {
                Format::Json => "\"name\": \"ops-admin\"",
                _ => "ConfigMap/web/ops-admin",
            };
            assert!(shown.contains(identity), "{shown}");
            assert!(
                shown.contains("DB_PASSWORD") && shown.contains("***"),
                "{shown}"
            );
        }
        let preview = markdown_within(
            &plan,
            &Destination::default(),
            &Options::default(),
            &Withheld::default(),
            4096,
        );
        assert!(!preview.contains("report-canary-7f3a"), "{preview}");
        // The plan itself is left whole: what is applied is what git says.
        assert_eq!(
            plan.changes[0].after.as_ref().unwrap()["data"]["DB_PASSWORD"],
            "report-canary-7f3a"
        );
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

    /// A plan against a base revision: each change says where it comes from.
    fn three_way_plan() -> Plan {
        let cm = |name: &str, level: &str| {
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": "web"},
                        "data": {"LOG_LEVEL": level}}))
        };
        let change = |action, name: &str, line, cause, before, after| Change {
            action,
            object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), name),
            origin: (action != Action::Prune)
                .then(|| origin("deploy/settings.yaml", line))
                .flatten(),
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: Some(cause),
            handover: None,
            before,
            after,
        };
        Plan {
            changes: vec![
                change(
                    Action::Update,
                    "settings",
                    1,
                    Cause::Drift,
                    cm("settings", "debug"),
                    cm("settings", "info"),
                ),
                change(
                    Action::Create,
                    "added",
                    9,
                    Cause::Introduced,
                    None,
                    cm("added", "info"),
                ),
                change(
                    Action::Create,
                    "deleted",
                    17,
                    Cause::Drift,
                    None,
                    cm("deleted", "info"),
                ),
                change(
                    Action::Prune,
                    "left",
                    0,
                    Cause::Drift,
                    cm("left", "info"),
                    None,
                ),
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn three_way_text_report() {
        let mut out = Vec::new();
        write(
            &three_way_plan(),
            Format::Text,
            &Destination::default(),
            &Style::plain(),
            &Options::default(),
            &mut out,
        )
        .unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn three_way_markdown_and_json_carry_the_cause() {
        let render = |format| {
            let mut out = Vec::new();
            write(
                &three_way_plan(),
                format,
                &Destination::default(),
                &Style::plain(),
                &Options::default(),
                &mut out,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let markdown = render(Format::Markdown);
        assert!(
            markdown.contains(
                "<code>~ update ConfigMap/web/settings</code> (deploy/settings.yaml:1) — \
                 <em>drift: reverts a live change</em></summary>"
            ),
            "{markdown}"
        );
        assert!(markdown.contains("— <em>introduced</em>"), "{markdown}");
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        let causes: Vec<&str> = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cause"].as_str().unwrap())
            .collect();
        assert_eq!(causes, ["drift", "introduced", "drift", "drift"]);
        // Without a base there is no cause at all.
        assert!(!render_plain_json().contains("\"cause\""));
    }

    fn render_plain_json() -> String {
        render(Format::Json)
    }

    #[test]
    fn text_report_colors_only_when_asked() {
        let mut out = Vec::new();
        write(
            &sample_plan(),
            Format::Text,
            &Destination::default(),
            &Style::new(true),
            &Options::default(),
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
                conflicts: Vec::new(),
                cause: None,
                handover: None,
                before: None,
                after: Some(json!({"data": big})),
            });
        }
        let mut out = Vec::new();
        write(
            &plan,
            Format::Markdown,
            &Destination::default(),
            &Style::plain(),
            &Options::default(),
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

    /// A Deployment whose only difference from git is its ignored replica count, and one
    /// created with it seeded.
    fn ignored_plan() -> Plan {
        use crate::render::{IgnoreSource, Pointer};
        use crate::ssa::{Ignored, IgnoredNote};
        let deployment = |name: &str, replicas: i64| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": name, "namespace": "web"},
                   "spec": {"replicas": replicas}})
        };
        let object = |name: &str| ObjectRef::new("apps/v1", "Deployment", Some("web".into()), name);
        let change = |action, name: &str, before: Option<serde_json::Value>, after| Change {
            action,
            object: object(name),
            origin: origin("deploy/web.yaml", 1),
            validated: true,
            note: None,
            conflicts: Vec::new(),
            cause: None,
            handover: None,
            before,
            after: Some(after),
        };
        let note = |state| IgnoredNote {
            pointer: Pointer::parse("/spec/replicas").unwrap(),
            source: IgnoreSource::Annotation,
            state,
        };
        Plan {
            changes: vec![
                change(
                    Action::Unchanged,
                    "scaled",
                    Some(deployment("scaled", 5)),
                    deployment("scaled", 5),
                ),
                change(Action::Create, "new", None, deployment("new", 2)),
                change(
                    Action::Unchanged,
                    "quiet",
                    Some(deployment("quiet", 2)),
                    deployment("quiet", 2),
                ),
            ],
            ignored: vec![
                Ignored {
                    object: object("scaled"),
                    fields: vec![note(IgnoredState::LiveDiffers)],
                },
                Ignored {
                    object: object("new"),
                    fields: vec![note(IgnoredState::Seeded)],
                },
                Ignored {
                    object: object("quiet"),
                    fields: vec![note(IgnoredState::LiveMatches)],
                },
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn ignored_fields_are_told_in_text_markdown_and_json() {
        let render = |format| {
            let mut out = Vec::new();
            write(
                &ignored_plan(),
                format,
                &Destination::default(),
                &Style::plain(),
                &Options::default(),
                &mut out,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let text = render(Format::Text);
        assert!(
            text.contains(
                "= unchanged Deployment/web/scaled (deploy/web.yaml:1)\n \
                 # /spec/replicas ignored (kubectl-gitops.io/ignore-fields): the cluster's value \
                 differs from git and is kept\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# /spec/replicas set on create only, then ignored (kubectl-gitops.io/ignore-fields)"),
            "{text}"
        );
        assert!(
            !text.contains("Deployment/web/quiet"),
            "an unchanged object that agrees with git is not listed: {text}"
        );
        assert!(
            text.contains("Plan: 1 to create, 0 to update, 0 to prune, 2 unchanged."),
            "{text}"
        );
        let markdown = render(Format::Markdown);
        assert!(
            markdown.contains("<code>= unchanged Deployment/web/scaled</code>"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "# /spec/replicas ignored (kubectl-gitops.io/ignore-fields): the cluster"
            ),
            "{markdown}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        let states: Vec<&serde_json::Value> = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["ignored"][0])
            .collect();
        assert_eq!(
            states[0],
            &json!({"pointer": "/spec/replicas", "source": "kubectl-gitops.io/ignore-fields", "state": "liveDiffers"})
        );
        assert_eq!(states[1]["state"], "seeded");
        assert_eq!(states[2]["state"], "liveMatches");
    }

    #[test]
    fn every_format_shows_the_plan_digest_and_what_a_prune_takes_with_it() {
        use crate::ssa::cascade::{Cascade, KindCount, Via};
        let mut plan = three_way_plan();
        let pruned = plan
            .changes
            .iter()
            .find(|c| c.action == Action::Prune)
            .unwrap()
            .object
            .clone();
        plan.cascades.push(Cascade {
            object: pruned,
            via: Via::Owner,
            deletes: vec![KindCount {
                group: "apps".into(),
                kind: "ReplicaSet".into(),
                count: 2,
            }],
            not_counted: Vec::new(),
        });
        let destination = Destination {
            plan_digest: Some("sha256:abc".into()),
            ..Destination::default()
        };
        let render = |format| {
            let mut out = Vec::new();
            write(
                &plan,
                format,
                &destination,
                &Style::plain(),
                &Options::default(),
                &mut out,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let line = "deletes with it its dependents: 2 ReplicaSet.apps (2 objects)";
        let text = render(Format::Text);
        assert!(text.contains("- prune ConfigMap/web/left"), "{text}");
        assert!(text.contains(&format!("\n  {line}\n")), "{text}");
        let markdown = render(Format::Markdown);
        assert!(markdown.contains("Plan digest: `sha256:abc`"), "{markdown}");
        assert!(
            markdown.contains(&format!("<strong>{line}</strong>")),
            "{markdown}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(json["planDigest"], "sha256:abc");
        let prune = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["action"] == "prune")
            .unwrap();
        assert_eq!(prune["cascade"]["via"], "owner");
        assert_eq!(prune["cascade"]["deletes"][0]["count"], 2);
        let without_digest = {
            let mut out = Vec::new();
            write(
                &plan,
                Format::Markdown,
                &Destination::default(),
                &Style::plain(),
                &Options::default(),
                &mut out,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(!without_digest.contains("Plan digest"));
    }

    fn hook(
        name: &str,
        before: bool,
        weight: i64,
        on_success: bool,
        on_failure: bool,
    ) -> crate::ssa::runs::Hook {
        crate::ssa::runs::Hook {
            object: ObjectRef::new("batch/v1", "Job", Some("web".into()), name),
            origin: origin("chart/Chart.yaml", 1).unwrap(),
            run: crate::render::helm::hooks::Run {
                before,
                after: !before,
                weight,
                delete_policy: crate::render::helm::hooks::DeletePolicy {
                    before_creation: true,
                    on_success,
                    on_failure,
                },
                completes: true,
            },
        }
    }

    fn plan_with_hooks(action: Action) -> Plan {
        Plan {
            changes: vec![Change {
                action,
                object: ObjectRef::new("v1", "ConfigMap", Some("web".into()), "settings"),
                origin: origin("chart/Chart.yaml", 1),
                validated: true,
                note: None,
                conflicts: Vec::new(),
                cause: None,
                handover: None,
                before: None,
                after: Some(json!({"kind": "ConfigMap"})),
            }],
            hooks: vec![
                hook("migrate", true, -1, true, false),
                hook("check", true, 2, true, true),
                hook("notify", false, 0, false, true),
            ],
            ..Plan::default()
        }
    }

    #[test]
    fn hooks_are_listed_as_planned_when_something_is_applied() {
        let plan = plan_with_hooks(Action::Create);
        assert_eq!(
            hook_lines(&plan),
            [
                "Job/web/migrate runs before the other objects, weight -1; deleted once it succeeded",
                "Job/web/check runs before the other objects, weight 2; deleted once it ran",
                "Job/web/notify runs after the other objects; deleted if it fails",
            ]
        );
        for format in [Format::Text, Format::Markdown] {
            let text = rendered(&plan, format);
            assert!(text.contains("Job/web/notify runs after"), "{text}");
            assert!(
                text.contains("1 to create, 0 to update"),
                "hooks are not changes: {text}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&rendered(&plan, Format::Json)).unwrap();
        assert_eq!(json["hooks"][2]["object"]["name"], "notify");
        assert_eq!(json["hooks"][2]["after"], true);
        assert_eq!(json["hooks"][2]["before"], false);
        assert_eq!(json["hooks"][0]["weight"], -1);
        assert_eq!(json["hooks"][0]["deletePolicy"]["onSuccess"], true);
        assert_eq!(json["summary"]["create"], 1);
    }

    #[test]
    fn no_hooks_are_listed_when_an_apply_would_run_none() {
        assert!(hook_lines(&plan_with_hooks(Action::Unchanged)).is_empty());
        assert!(hook_lines(&plan_with_hooks(Action::Conflict)).is_empty());
    }
}
