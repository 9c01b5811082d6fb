use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::common::{PlanArgs, ShowSecretsArg, plan_file, prepare};
use super::flags::{ColorArg, help};
use super::{EXIT_ERROR, EXIT_OK, EXIT_PRUNE_LIMIT};
use crate::pipeline::{self, ExecuteOptions};
use crate::planfile::{self, PlanFile};
use crate::prune_limit::PruneLimit;
use crate::report::json::ApplyResult;
use crate::report::{self, Format};
use crate::ssa::{self, Action, Applied, Summary, Work, wait::Health};
use crate::ui::terminal::EXIT_INTERRUPTED;
use crate::ui::{self, Messages, Shell, Style};

/// Apply the manifests under PATH: show the plan, ask, apply in order, prune what left git.
#[derive(Debug, Args)]
#[command(
    long_about = "Shows the same plan as `kubectl gitops diff`, asks for approval, then applies it \
                  with server-side apply (field manager kubectl-gitops): Namespaces and CRDs \
                  first, then cluster-scoped objects, then namespaced ones, then admission \
                  webhooks and APIServices (after the workloads they call). Objects applied \
                  earlier from PATH that left git are pruned last, tracked with a Kubernetes \
                  ApplySet (the standard kubectl apply --applyset uses). Nothing is pruned when \
                  anything failed. A Helm chart's hooks run as helm upgrade runs them: the pre \
                  hooks after the Namespaces and CRDs, the post hooks after the prune, each \
                  waited for (see --timeout).",
    after_help = "Examples:
  # Review and apply deploy/ to the current context
  kubectl gitops apply deploy/

  # In CI: no prompt, wait for rollouts, fail after 10 minutes
  kubectl gitops apply deploy/ --yes --wait --timeout 10m

  # Everything except the writes
  kubectl gitops apply deploy/ --dry-run

  # Exactly the plan saved by `diff --out`, as a pull request showed it
  kubectl gitops apply deploy/ --plan plan.json --expect-digest sha256:3f1c...

  # Prune at most 5 objects (or 10% of the set); over that, nothing is pruned (exit code 3)
  kubectl gitops apply deploy/ --yes --max-prune 5"
)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    #[command(flatten)]
    pub secrets: ShowSecretsArg,

    #[command(flatten)]
    pub color: ColorArg,

    #[arg(short = 'o', long, value_enum, default_value_t = ApplyFormat::Text, help = help::OUTPUT)]
    pub output: ApplyFormat,

    /// Apply without asking (required when standard input is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,

    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "server",
        default_value_t = DryRun::None,
        value_name = "STRATEGY",
        help = help::DRY_RUN
    )]
    pub dry_run: DryRun,

    #[arg(long, help = help::ALLOW_EMPTY)]
    pub allow_empty: bool,

    #[arg(long, help = help::WAIT)]
    pub wait: bool,

    #[arg(long, default_value = "5m", value_parser = super::duration::positive, value_name = "DURATION", help = help::TIMEOUT)]
    pub timeout: Duration,

    /// Apply exactly the plan in this file (written by `kubectl gitops diff --out`): PATH is
    /// planned again with the file's settings and applied only if every object still matches
    /// it (same render, same live object in the same version); otherwise nothing is written
    /// and each object that moved is named.
    #[arg(
        long = "plan",
        id = "plan_file",
        value_name = "PLAN",
        value_hint = clap::ValueHint::FilePath,
        conflicts_with_all = ["force_conflicts", "prune_protected", "adopt"]
    )]
    pub plan_file: Option<PathBuf>,

    /// Refuse the plan file unless its digest is this one (as a pull-request preview shows
    /// it).
    #[arg(long, value_name = "DIGEST", requires = "plan_file")]
    pub expect_digest: Option<String>,

    #[arg(long, value_name = "N|P%|unlimited", default_value_t = PruneLimit::Unlimited, help = help::MAX_PRUNE)]
    pub max_prune: PruneLimit,
}

/// What `apply -o` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    /// The plan, then each write as it is done, for a person.
    Text,
    /// One JSON document in the schema of `diff -o json`, with what was done (docs/json-output.md).
    Json,
}

/// kubectl's `--dry-run` strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Apply.
    None,
    /// Plan against the cluster (server-side dry-run) and show everything; write nothing.
    Server,
    /// Render and list the objects; the cluster is not contacted.
    Client,
}

pub async fn run(args: &ApplyArgs, shell: &mut Shell) -> Result<u8> {
    if args.dry_run == DryRun::Client {
        return client_dry_run(args, shell);
    }
    let messages = shell.messages();
    // From here Ctrl-C stops between writes and the apply accounts for what it did.
    ui::terminal::stop_on_interrupt(crate::cluster::stop::request, messages.clone());
    match args.output {
        ApplyFormat::Text => {
            let style = shell.style();
            apply(args, &style, shell.out(), &messages, None).await
        }
        ApplyFormat::Json => {
            // stdout holds one JSON document; what is said to a person goes to stderr.
            let mut stderr = messages.writer();
            let mut document = Vec::new();
            let applied = apply(
                args,
                &Style::plain(),
                &mut stderr,
                &messages,
                Some(&mut document),
            )
            .await;
            drop(stderr);
            // A refused plan is recorded in the document too, before its error is told.
            shell.out().write_all(&document)?;
            shell.flush_out()?;
            applied
        }
    }
}

/// `--dry-run=client`: the render alone, as `kubectl apply --dry-run=client` lists what it
/// would send; nothing is compared with the cluster.
fn client_dry_run(args: &ApplyArgs, shell: &mut Shell) -> Result<u8> {
    if args.output == ApplyFormat::Json {
        bail!(
            "--dry-run=client lists the rendered objects as text; for JSON, use \
             `kubectl gitops diff -o json` (which compares with the cluster) or --dry-run=server"
        );
    }
    let rev = args.plan.git_ref.as_deref();
    let snapshot = super::common::read_source(&args.plan.path, rev, shell)?;
    let manifests = super::common::render_snapshot_with(
        &snapshot,
        &args.plan.path,
        rev,
        &args.plan.render_options(),
        shell,
    )?;
    let out = shell.out();
    for manifest in &manifests {
        writeln!(out, "{} (dry run: client)", manifest.object_ref())?;
    }
    writeln!(
        out,
        "Dry run (client): {} objects rendered from {}; the cluster was not contacted, so \
         nothing was compared with it, and nothing was written.",
        manifests.len(),
        args.plan.path.display()
    )?;
    Ok(EXIT_OK)
}

/// A plan apply would not run. Told as the error it is, on stderr with exit code 2, as
/// kubectl tells an apply it refuses; the plan above it shows why.
#[derive(Debug, thiserror::Error)]
#[error("Nothing was applied: {why}")]
pub struct NothingApplied {
    pub why: String,
    /// What to do instead, when the reason alone does not say.
    pub hint: Option<String>,
}

impl NothingApplied {
    fn because(why: String) -> Self {
        NothingApplied { why, hint: None }
    }
}

/// `-o json`'s document, if one is asked for, and how it shows the plan.
struct Document<'a> {
    out: Option<&'a mut Vec<u8>>,
    options: report::Options,
}

/// A plan apply would not run: recorded in the JSON document (when one is asked for) with
/// `note` as the reason, then returned as the error it is.
fn refuse(
    json: &mut Document,
    prepared: &super::common::Prepared,
    plan_args: &PlanArgs,
    note: String,
    refused: NothingApplied,
) -> Result<u8> {
    record(
        json,
        prepared,
        plan_args,
        ApplyResult::Refused,
        None,
        Some(note),
    )?;
    Err(refused.into())
}

/// `-o json`'s document, recorded once the apply has ended, whichever way.
fn record(
    json: &mut Document,
    prepared: &super::common::Prepared,
    plan_args: &PlanArgs,
    result: ApplyResult,
    execution: Option<&pipeline::Execution>,
    note: Option<String>,
) -> Result<()> {
    let Some(document) = json.out.as_mut() else {
        return Ok(());
    };
    let count = |action| execution.map_or(0, |e| e.count(action));
    let outcome = report::json::Outcome {
        result,
        writes: execution.map_or(&[][..], |e| &e.results),
        created: count(Action::Create),
        updated: count(Action::Update),
        pruned: count(Action::Prune),
        failed: execution.map_or(0, |e| e.failed),
        prunes_skipped: execution.map_or(0, |e| e.prunes_skipped),
        note,
    };
    let destination = report::Destination {
        context: prepared.cluster.context.clone(),
        server: prepared.cluster.server.clone(),
        plan_digest: plan_file(prepared, plan_args).ok().map(|file| file.digest),
    };
    report::write_applied(
        &prepared.planned.plan,
        &destination,
        &json.options,
        &outcome,
        &mut **document,
    )?;
    Ok(())
}

async fn apply(
    args: &ApplyArgs,
    style: &Style,
    out: &mut dyn Write,
    messages: &Messages,
    json: Option<&mut Vec<u8>>,
) -> Result<u8> {
    let mut json = Document {
        out: json,
        options: args.plan.report_options(args.secrets.show_secrets),
    };
    let pinned = match &args.plan_file {
        Some(path) => Some((
            path,
            PlanFile::read_expecting(path, args.expect_digest.as_deref())?,
        )),
        None => None,
    };
    // A plan file is planned again with the settings it was made with.
    let mut plan_args = args.plan.clone();
    if let Some((_, file)) = &pinned {
        plan_args.force_conflicts = file.settings.force_conflicts;
        plan_args.prune_protected = file.settings.prune_protected;
        plan_args.adopt = file.settings.adopt;
    }
    let prepared = match prepare(&plan_args, args.secrets.show_secrets, messages).await {
        Ok(prepared) if !ui::terminal::interrupted() => prepared,
        Err(err) if !ui::terminal::interrupted() => return Err(err),
        _ => {
            writeln!(out, "Interrupted while planning: nothing was written.")?;
            return Ok(EXIT_INTERRUPTED);
        }
    };
    if let Some((path, file)) = &pinned
        && let Err(mismatches) = still_holds(file, &prepared, &plan_args)
    {
        let note = format!("the plan in {} no longer holds", path.display());
        let mut why = format!("{note}:");
        for mismatch in &mismatches {
            why.push_str(&format!("\n  {mismatch}"));
        }
        let refused = NothingApplied {
            why,
            hint: Some(
                "review the plan as it is now with `kubectl gitops diff --out PLAN` and apply \
                 that"
                    .to_string(),
            ),
        };
        return refuse(&mut json, &prepared, &plan_args, note, refused);
    }
    let plan = &prepared.planned.plan;
    let summary = plan.summary();
    let context = &prepared.cluster.context;

    if pipeline::refuse_empty(&prepared.manifests, plan, args.allow_empty).is_err() {
        bail!(
            "{} rendered no objects, and applying that would prune all {} members of ApplySet {}; \
             pass --allow-empty if that is what you want",
            args.plan.path.display(),
            summary.prune,
            prepared.set
        );
    }
    if prepared.manifests.is_empty() {
        if summary.prune == 0 {
            bail!(
                "{} rendered no objects: there is nothing to apply (is PATH the directory \
                 holding your manifests?)",
                args.plan.path.display()
            );
        }
        writeln!(
            out,
            "{} {} rendered no objects: pruning all {} members of ApplySet {} (--allow-empty)",
            style.error("!"),
            args.plan.path.display(),
            summary.prune,
            prepared.set
        )?;
    }

    if json.out.is_none() {
        report::write(
            plan,
            Format::Text,
            &report::Destination::default(),
            style,
            &json.options,
            out,
        )?;
    }
    if summary.prune > 0 {
        writeln!(out, "{}", blast_radius(&prepared.planned.work, plan))?;
    }
    let withheld = args.max_prune.check(summary.prune, prepared.members).err();
    if let Some(withheld) = &withheld {
        writeln!(
            out,
            "{} Nothing will be pruned: {withheld}; everything else is applied. Pass a higher \
             --max-prune (or --max-prune unlimited) to prune them.",
            style.error("!")
        )?;
    }
    out.flush()?;

    if !summary.has_changes() && summary.blocked() == 0 {
        writeln!(
            out,
            "No changes: the cluster matches {}.",
            args.plan.path.display()
        )?;
        record(
            &mut json,
            &prepared,
            &plan_args,
            ApplyResult::NoChanges,
            None,
            None,
        )?;
        return Ok(EXIT_OK);
    }
    if args.dry_run == DryRun::Server {
        writeln!(out, "Dry run: nothing was written.")?;
        record(
            &mut json,
            &prepared,
            &plan_args,
            ApplyResult::DryRun,
            None,
            None,
        )?;
        return Ok(if summary.blocked() > 0 {
            EXIT_ERROR
        } else {
            EXIT_OK
        });
    }
    // Like Argo CD and Flux, a plan the server already refused in part is not applied in part:
    // the user approves whole plans, and a half-applied change is harder to reason about.
    if summary.errors > 0 {
        let refused = NothingApplied::because(format!(
            "{} {} failed to plan; fix {} and run apply again.",
            summary.errors,
            if summary.errors == 1 {
                "object"
            } else {
                "objects"
            },
            if summary.errors == 1 { "it" } else { "them" },
        ));
        let note = "objects failed to plan".to_string();
        return refuse(&mut json, &prepared, &plan_args, note, refused);
    }
    // The same for field conflicts: taking fields from another manager is the user's decision.
    if summary.conflicts > 0 {
        let n = summary.conflicts;
        let refused = NothingApplied::because(format!(
            "{n} {} fields another field manager owns; pass --force-conflicts to take them \
             (the change shown above), or leave them to their manager.",
            if n == 1 {
                "object would change"
            } else {
                "objects would change"
            },
        ));
        let note = "fields another field manager owns would change".to_string();
        return refuse(&mut json, &prepared, &plan_args, note, refused);
    }
    if let Err(refused) = ssa::moves::refuse_moves(plan) {
        // The report above lists them, grouped by the set each comes from.
        let note = refused.headline();
        let refused = NothingApplied::because(format!("{note}."));
        return refuse(&mut json, &prepared, &plan_args, note, refused);
    }
    // The prompt asks for what will be done: withheld prunes are not among it.
    let asked = Summary {
        prune: if withheld.is_some() { 0 } else { summary.prune },
        ..summary
    };
    if !args.yes && !confirm(&asked, context, messages)? {
        writeln!(out, "Apply cancelled; nothing was changed.")?;
        record(
            &mut json,
            &prepared,
            &plan_args,
            ApplyResult::Cancelled,
            None,
            None,
        )?;
        return Ok(if ui::terminal::interrupted() {
            EXIT_INTERRUPTED
        } else {
            EXIT_OK
        });
    }

    let work = &prepared.planned.work;
    let cluster = &prepared.cluster;
    let writes = work
        .iter()
        .filter(|w| matches!(w.action, Action::Create | Action::Update | Action::Prune))
        .count()
        + [ssa::runs::Side::Before, ssa::runs::Side::After]
            .into_iter()
            .map(|side| ssa::runs::due(&prepared.planned.runs, side).len())
            .sum::<usize>();
    let writes = writes as u64;
    let bar = messages.progress(writes, "applying");
    let tick = |done: &Applied| {
        bar.inc(1);
        bar.set_message(done.object.to_string());
    };
    let execution = pipeline::execute(
        cluster,
        &prepared.set,
        &prepared.inventory,
        &prepared.planned,
        &ExecuteOptions {
            partial: prepared.partial,
            max_prune: args.max_prune,
            members: prepared.members,
            pinned: pinned.is_some(),
            hook_timeout: args.timeout,
            // A plan file is applied exactly: what a second render would change is left to
            // the next plan.
            rerender: prepared.rerender.clone().filter(|_| pinned.is_none()),
        },
        &tick,
    )
    .await;
    bar.finish_and_clear();
    // Plan errors returned above; execute counts them again, which keeps prune safe if that
    // ever changes.
    let execution = match execution {
        Err(_) if ui::terminal::interrupted() => {
            writeln!(
                out,
                "Interrupted before the first write: nothing was written."
            )?;
            return Ok(EXIT_INTERRUPTED);
        }
        execution => execution?,
    };
    let results = &execution.results;
    let failed = execution.failed;
    let prune_skipped = execution.prunes_skipped > 0;
    let all_ok = execution.succeeded();

    report_results(results, style, out)?;
    if let Some(rerendered) = &execution.rerendered {
        let mark = match rerendered.error {
            Some(_) => style.error("!"),
            None => style.changed("~"),
        };
        writeln!(out, "{mark} {}", capitalized(&rerendered.line()))?;
    }
    if ui::terminal::interrupted() {
        let made = results.iter().filter(|r| r.error.is_none()).count();
        let pruned = execution.count(Action::Prune);
        let note = format!(
            "Interrupted: {made} of {writes} writes made (listed above), {} not made; {}.",
            writes as usize - made.min(writes as usize),
            if pruned == 0 {
                "nothing was pruned".to_string()
            } else {
                format!("{pruned} pruned, listed above")
            }
        );
        writeln!(out, "{} {note}", style.error("!"))?;
        record(
            &mut json,
            &prepared,
            &plan_args,
            ApplyResult::Interrupted,
            Some(&execution),
            Some(note),
        )?;
        return Ok(EXIT_INTERRUPTED);
    }
    if let Some(withheld) = &execution.prunes_withheld {
        writeln!(
            out,
            "{} {} prunes withheld: {withheld}.",
            style.error("!"),
            summary.prune
        )?;
    } else if prune_skipped {
        writeln!(
            out,
            "{} {} prunes skipped because something failed; fix it and run apply again.",
            style.error("!"),
            summary.prune
        )?;
    }

    let mut unhealthy = 0;
    if args.wait && all_ok {
        unhealthy = wait(cluster, work, args.timeout, style, out, messages).await?;
    }
    let counts = |action: Action| execution.count(action);
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "Applied to context \"{context}\": {} created, {} updated, {} pruned, {} failed{}.",
            counts(Action::Create),
            counts(Action::Update),
            counts(Action::Prune),
            failed,
            if unhealthy > 0 {
                format!(", {unhealthy} not ready")
            } else {
                String::new()
            }
        ))
    )?;
    let result = if failed > 0 {
        ApplyResult::Failed
    } else {
        ApplyResult::Applied
    };
    let note = (unhealthy > 0).then(|| format!("{unhealthy} objects did not become ready"));
    record(
        &mut json,
        &prepared,
        &plan_args,
        result,
        Some(&execution),
        note,
    )?;
    Ok(if failed > 0 || unhealthy > 0 {
        EXIT_ERROR
    } else if execution.prunes_withheld.is_some() {
        EXIT_PRUNE_LIMIT
    } else {
        EXIT_OK
    })
}

/// Whether the plan just made is the one in the file; else every difference.
fn still_holds(
    file: &PlanFile,
    prepared: &super::common::Prepared,
    args: &PlanArgs,
) -> std::result::Result<(), Vec<planfile::Mismatch>> {
    let fresh = match plan_file(prepared, args) {
        Ok(fresh) => fresh,
        // Errors and conflicts are refused below, as for any plan.
        Err(_) => return Ok(()),
    };
    let mismatches = planfile::verify(file, &fresh);
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}

/// Asks on a terminal; anywhere else refuses rather than hang or guess.
fn confirm(summary: &Summary, context: &str, messages: &Messages) -> Result<bool> {
    if !messages.can_prompt() {
        bail!(
            "refusing to apply without confirmation: standard input is not a terminal; \
             pass --yes to apply non-interactively"
        );
    }
    let mut parts = Vec::new();
    for (n, one, many) in [
        (summary.create, "create", "creates"),
        (summary.update, "update", "updates"),
        (summary.prune, "prune", "prunes"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    let prompt = format!("Apply {} to context \"{context}\"?", parts.join(", "));
    Ok(messages.confirm(&prompt)?)
}

/// "Will delete 3 objects: 2 ConfigMap, 1 Deployment in namespaces a, b, and with them 4 more
/// the cluster deletes (listed above)."
fn blast_radius(work: &[Work], plan: &ssa::Plan) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut namespaces = BTreeSet::new();
    let mut total = 0;
    for w in work.iter().filter(|w| w.action == Action::Prune) {
        total += 1;
        *kinds.entry(&w.object.kind).or_default() += 1;
        if let Some(ns) = &w.object.namespace {
            namespaces.insert(ns.as_str());
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut line = format!("Will delete {total} objects: {}", kinds.join(", "));
    if !namespaces.is_empty() {
        line.push_str(&format!(
            " in namespaces {}",
            namespaces.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let cascaded: usize = plan.cascades.iter().map(|c| c.total()).sum();
    if cascaded > 0 {
        line.push_str(&format!(
            ", and with them {cascaded} more the cluster deletes (listed above)"
        ));
    }
    line.push('.');
    line
}

fn report_results(results: &[Applied], style: &Style, out: &mut dyn Write) -> Result<()> {
    let (results, unattempted) =
        crate::report::unattempted::split(results, |r| (&r.object, r.not_attempted.as_ref()));
    for r in results {
        match (&r.error, r.action) {
            (Some(error), _) => {
                writeln!(out, "{} {}: {}", style.error("! failed"), r.object, error)?
            }
            (None, Action::Create) => writeln!(out, "{} {}", style.added("created"), r.object)?,
            (None, Action::Update) => {
                writeln!(out, "{} {}", style.changed("configured"), r.object)?
            }
            (None, Action::Prune) => writeln!(out, "{} {}", style.removed("pruned"), r.object)?,
            (None, Action::Run) => writeln!(out, "{} {}", style.changed("ran hook"), r.object)?,
            (None, Action::Unchanged | Action::Conflict) => {}
        }
    }
    if let Some(unattempted) = unattempted {
        writeln!(out, "{} {}", style.error("! failed"), unattempted.line())?;
    }
    Ok(())
}

/// Waits for health; returns how many objects did not become ready.
async fn wait(
    cluster: &crate::cluster::Cluster,
    work: &[Work],
    timeout: Duration,
    style: &Style,
    out: &mut dyn Write,
    messages: &Messages,
) -> Result<usize> {
    let watched: Vec<&Work> = work
        .iter()
        .filter(|w| w.action != Action::Prune && ssa::wait::has_rule(&w.object))
        .collect();
    if watched.is_empty() {
        return Ok(0);
    }
    let bar = messages.progress(watched.len() as u64, "waiting");
    let states = ssa::wait::wait(cluster, &watched, timeout, &|ready, _, waiting| {
        bar.set_position(ready as u64);
        bar.set_message(waiting.to_string());
    })
    .await;
    bar.finish_and_clear();
    let mut unhealthy = 0;
    for (object, health) in states {
        match health {
            Health::Ready => writeln!(out, "{} {object}", style.added("ready"))?,
            Health::Progressing(why) => {
                unhealthy += 1;
                writeln!(
                    out,
                    "{} {object}: not ready after {}: {why}",
                    style.error("! timeout"),
                    humantime::format_duration(timeout)
                )?;
            }
            Health::Failed(why) => {
                unhealthy += 1;
                writeln!(out, "{} {object}: {why}", style.error("! failed"))?;
            }
        }
    }
    Ok(unhealthy)
}

/// `text` with its first letter a capital, as a sentence of its own.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
