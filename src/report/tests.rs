//! The unit tests of `mod`.

use std::path::PathBuf;

use crate::ssa::KeepReason;

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
            message: "Deployment.apps \"broken\" is invalid: spec.selector: Required value".into(),
            reason: None,
            not_attempted: None,
        }],
        kept: vec![Kept {
            object: ObjectRef::new("v1", "Namespace", None, "old"),
            reason: KeepReason::ProtectedKind,
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
        text.contains(
            "# /spec/replicas set on create only, then ignored (kubectl-gitops.io/ignore-fields)"
        ),
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
        markdown
            .contains("# /spec/replicas ignored (kubectl-gitops.io/ignore-fields): the cluster"),
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
