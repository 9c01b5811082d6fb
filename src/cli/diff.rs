use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use super::common::{
    PlanArgs, ShowSecretsArg, plan_file, prepare, read_source, render_snapshot_noting,
    render_snapshot_with,
};
use super::flags::{ColorArg, help};
use super::{EXIT_DRIFT, EXIT_ERROR, EXIT_OK};
use crate::render;
use crate::report::{self, Format};
use crate::source::Snapshot;
use crate::source::SourceError;
use crate::ssa::{self, OfflineOptions, Plan};
use crate::ui::{Messages, Shell, Style};

/// Show what applying the manifests under PATH would change in the cluster.
#[derive(Debug, Args)]
#[command(
    long_about = "Reads the git working tree under PATH as you see it (uncommitted edits and \
                  untracked files included, ignored files not), renders it (YAML, JSON, \
                  kustomize) and compares it with the live cluster through a server-side apply \
                  dry-run. Objects applied earlier from PATH that left git show as prunes. \
                  Secret values are masked.",
    after_help = "Examples:
  # What would change if the manifests under deploy/ were applied?
  kubectl gitops diff deploy/

  # Against another context, as a PR comment
  kubectl gitops diff deploy/ --context staging --output markdown

  # For scripts: exit code 0 in sync, 1 drift, 2 error
  kubectl gitops diff deploy/ --output json > plan.json

  # What a pull request changes, and which differences were drift in the cluster already
  kubectl gitops diff deploy/ --base origin/main --ref HEAD

  # The same without a cluster: the two renders compared with each other
  kubectl gitops diff deploy/ --base origin/main --offline

  # Save the plan for `kubectl gitops apply deploy/ --plan plan.json`, which applies exactly it
  # (or nothing, naming what moved since)
  kubectl gitops diff deploy/ --out plan.json"
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    #[command(flatten)]
    pub secrets: ShowSecretsArg,

    #[command(flatten)]
    pub color: ColorArg,

    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text, help = help::OUTPUT)]
    pub output: Format,

    #[arg(long, value_name = "REV", help = help::BASE)]
    pub base: Option<String>,

    /// Compare the render of --base with that of --ref (default: the working tree) without
    /// contacting any cluster: objects only in --ref are creates, objects only in --base are
    /// prunes. Namespaces are compared as written.
    #[arg(long, requires = "base")]
    pub offline: bool,

    /// Also write the plan to this file (JSON, see docs/plan-format.md), for
    /// `kubectl gitops apply --plan`: no Secret value is in it, only digests. Not written when
    /// the plan has errors or conflicts.
    #[arg(long, value_name = "PLAN", conflicts_with = "offline", value_hint = clap::ValueHint::FilePath)]
    pub out: Option<PathBuf>,
}

pub async fn run(args: &DiffArgs, shell: &mut Shell) -> Result<u8> {
    if args.offline {
        return offline(args, shell);
    }
    // The base is read and, without charts, rendered first, so a broken base fails before the
    // cluster is contacted. Charts render for the cluster, at the base as at the head: the same
    // namespace and capabilities, or every object a template places in `.Release.Namespace`
    // (or shapes by `.Capabilities`) would look changed by the pull request.
    let base = match &args.base {
        Some(rev) => Some((rev.as_str(), read_base(&args.plan.path, rev, shell)?)),
        None => None,
    };
    let mut base_render = match &base {
        Some((_, None)) => Some(Vec::new()),
        Some((rev, Some(snapshot))) if !render::has_charts(snapshot) => Some(render_snapshot_with(
            snapshot,
            &args.plan.path,
            Some(rev),
            &args.plan.render_options(),
            shell,
        )?),
        _ => None,
    };
    // With apply's force setting (`--force-conflicts`, off by default), so a conflict apply
    // would refuse shows as one.
    let mut prepared = prepare(&args.plan, args.secrets.show_secrets, shell).await?;
    if let (Some((rev, Some(snapshot))), None) = (&base, &base_render) {
        let mut options = render::target::options_for(&prepared.cluster).await?;
        options.limits = args.plan.render_limits();
        options.remote_bases = args.plan.remote_bases.remote_bases();
        base_render = Some(render_snapshot_with(
            snapshot,
            &args.plan.path,
            Some(rev),
            &options,
            shell,
        )?);
    }
    drop(base);
    if let Some(base) = &base_render {
        ssa::classify(
            &mut prepared.planned.plan,
            &prepared.manifests,
            base,
            &prepared.cluster.default_namespace,
        );
    }
    // The text report shows no digest, and a Secret's digest costs thousands of rounds: the
    // plan file is made only for a report or a file that carries it.
    let file = (args.out.is_some() || args.output != Format::Text)
        .then(|| plan_file(&prepared, &args.plan));
    let destination = report::Destination {
        context: prepared.cluster.context.clone(),
        server: prepared.cluster.server.clone(),
        plan_digest: file
            .as_ref()
            .and_then(|f| f.as_ref().ok())
            .map(|f| f.digest.clone()),
    };
    let empty = empty_render(
        &args.plan.path,
        prepared.manifests.is_empty(),
        &prepared.planned.plan,
    )?
    .map(|prunes| {
        format!(
            "{} rendered no objects: this plan prunes all {prunes} members of ApplySet {}, \
             which apply refuses without --allow-empty",
            args.plan.path.display(),
            prepared.set
        )
    });
    let code = report_plan(&prepared.planned.plan, args, &destination, shell)?;
    say_empty(empty.as_deref(), args.output, shell)?;
    if let (Some(path), Some(file)) = (&args.out, file) {
        // The report above shows what keeps the plan from being applied; the error says the
        // file was not written.
        let file = file.map_err(anyhow::Error::new)?;
        file.write(path)?;
        shell.say(format_args!(
            "Plan written to {} ({}).",
            path.display(),
            file.digest
        ));
    }
    Ok(code)
}

/// `--offline`: the render of `--base` against that of `--ref` (or the working tree).
fn offline(args: &DiffArgs, shell: &mut Shell) -> Result<u8> {
    let Some(base_rev) = args.base.as_deref() else {
        bail!("--offline compares two revisions: pass --base REV");
    };
    // No cluster: charts take Helm's default capabilities, and `-n` as their namespace.
    let mut options = args.plan.render_options();
    options.helm.namespace = args.plan.cluster.namespace().map(str::to_string);
    // The renders are all that is needed; each temporary copy goes as soon as it is rendered.
    // What the lookups of the head's charts saw is said once, in the report.
    let base = match read_base(&args.plan.path, base_rev, shell)? {
        Some(snapshot) => render_snapshot_noting(
            &snapshot,
            &args.plan.path,
            Some(base_rev),
            &options,
            &mut Vec::new(),
            shell,
        )?,
        None => Vec::new(),
    };
    let snapshot = read_source(&args.plan.path, args.plan.git_ref.as_deref(), shell)?;
    let mut lookups = Vec::new();
    let head = render_snapshot_noting(
        &snapshot,
        &args.plan.path,
        args.plan.git_ref.as_deref(),
        &options,
        &mut lookups,
        shell,
    )?;
    drop(snapshot);
    let plan = ssa::offline_plan(
        &base,
        &head,
        &OfflineOptions {
            show_secrets: args.secrets.show_secrets,
            prune_protected: args.plan.prune_protected,
        },
    );
    let empty = empty_render(&args.plan.path, head.is_empty(), &plan)?.map(|prunes| {
        format!(
            "{} rendered no objects: this plan prunes all {prunes} objects rendered at {base_rev}",
            args.plan.path.display()
        )
    });
    // No cluster: the JSON report's context and server stay empty.
    let code = report_plan(&plan, args, &report::Destination::default(), shell)?;
    say_empty(empty.as_deref(), args.output, shell)?;
    say_note(
        render::unseen_lookups(&lookups).as_deref(),
        args.output,
        shell,
    )?;
    Ok(code)
}

/// A PATH that rendered no objects: an error, unless the plan prunes what the set holds (the
/// render emptied on purpose, or by mistake: either way the reader must see it). Some(prunes)
/// for the latter.
fn empty_render(path: &Path, empty: bool, plan: &Plan) -> Result<Option<usize>> {
    if !empty {
        return Ok(None);
    }
    match plan.summary().prune {
        0 => bail!(
            "{} rendered no objects: there is nothing to compare (is PATH the directory \
             holding your manifests?)",
            path.display()
        ),
        prunes => Ok(Some(prunes)),
    }
}

/// Says an empty render under the report: in it for text and markdown, on stderr for JSON
/// (which stays one document).
fn say_empty(note: Option<&str>, format: Format, shell: &mut Shell) -> Result<()> {
    let Some(note) = note else { return Ok(()) };
    let style = shell.style();
    match format {
        Format::Json => shell.note(note),
        Format::Text => writeln!(shell.out(), "{} {note}", style.error("!"))?,
        Format::Markdown => writeln!(shell.out(), "\n> **Note:** {note}")?,
    }
    shell.flush_out()?;
    Ok(())
}

/// Says a note under the report: in it for text and markdown, on stderr for JSON (which stays
/// one document).
fn say_note(note: Option<&str>, format: Format, shell: &mut Shell) -> Result<()> {
    let Some(note) = note else { return Ok(()) };
    match format {
        Format::Json => shell.note(note),
        Format::Text => writeln!(shell.out(), "note: {note}")?,
        Format::Markdown => writeln!(shell.out(), "\n> **Note:** {note}")?,
    }
    shell.flush_out()?;
    Ok(())
}

/// PATH at the base revision; None when PATH is missing there (a pull request adding it): an
/// empty render, so everything in the head is new.
fn read_base(path: &Path, rev: &str, shell: &Messages) -> Result<Option<Snapshot>> {
    match read_source(path, Some(rev), shell) {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(err)
            if matches!(
                err.downcast_ref::<SourceError>(),
                Some(SourceError::NotADirectory { .. })
            ) =>
        {
            shell.note(format_args!(
                "{} is not a directory at {rev}; comparing with an empty base",
                path.display()
            ));
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Writes the report and maps the plan to the exit code.
fn report_plan(
    plan: &Plan,
    args: &DiffArgs,
    destination: &report::Destination,
    shell: &mut Shell,
) -> Result<u8> {
    let style = if args.output == Format::Text {
        shell.style()
    } else {
        Style::plain()
    };
    report::write(
        plan,
        args.output,
        destination,
        &style,
        &args.plan.report_options(args.secrets.show_secrets),
        shell.out(),
    )?;
    shell.flush_out()?;

    let summary = plan.summary();
    // A conflict exits like apply's refusal of it.
    Ok(if summary.blocked() > 0 {
        EXIT_ERROR
    } else if summary.has_changes() {
        EXIT_DRIFT
    } else {
        EXIT_OK
    })
}
