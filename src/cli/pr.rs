use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::EXIT_OK;
use super::common::{PlanArgs, prepare};
use super::flags::help;
use crate::pr::{self, CommitRequest, Forge, GitHub, GitHubRepo, PREVIEW_MARKER};
use crate::report;
use crate::source::{self, SourceOrigin};
use crate::ui::{Messages, Shell};

/// Open a pull request with the change under PATH and its cluster preview.
#[derive(Debug, Args)]
#[command(
    long_about = "Commits the working tree's changes under PATH on a new branch (your current \
                  branch, index and files stay as they are), pushes it with your own git \
                  configuration and credentials, and opens a GitHub pull request whose body is \
                  the plan against the current cluster. With --comment N it instead keeps one \
                  preview comment on pull request N up to date (for CI). The token comes from \
                  GITHUB_TOKEN or GH_TOKEN.",
    after_help = "Examples:
  # Turn the edits under deploy/ into a pull request with its preview
  kubectl gitops pr deploy/ -m \"Scale the web tier\"

  # In CI, on every push to a pull request: post or refresh the preview comment
  kubectl gitops pr deploy/ --comment \"$PR_NUMBER\"

  # GitHub Enterprise
  kubectl gitops pr deploy/ --api-url https://github.example.com/api/v3",
    // pr commits and previews the working tree: a revision is refused with the reason, and
    // not listed.
    mut_arg("git_ref", |arg| arg.hide(true))
)]
pub struct PrArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Branch to create (default: gitops/<path>-<the change's tree hash>, so a rerun of the
    /// same change reuses it).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,

    /// Commit message (default: derived from the plan summary).
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,

    /// Pull request title (default: the commit message's first line).
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    #[arg(long, value_name = "REV", help = help::BASE)]
    pub base: Option<String>,

    /// Refused with the reason: a pull request's preview always masks Secret values.
    #[arg(long, hide = true)]
    pub show_secrets: bool,

    /// Git remote to push to.
    #[arg(long, default_value = "origin", value_name = "NAME")]
    pub remote: String,

    /// GitHub repository as OWNER/NAME (default: inferred from the remote's URL).
    #[arg(long = "github-repo", value_name = "OWNER/NAME")]
    pub github_repo: Option<GitHubRepo>,

    /// GitHub API base URL.
    #[arg(
        long,
        env = "GITHUB_API_URL",
        default_value = "https://api.github.com",
        value_name = "URL"
    )]
    pub api_url: String,

    /// Create or update the preview comment on this pull request instead of opening one.
    #[arg(long, value_name = "NUMBER")]
    pub comment: Option<u64>,
}

/// Room left in a PR body or comment after our own lines around the preview.
const PREVIEW_LIMIT: usize = report::COMMENT_LIMIT - 2_048;

pub async fn run(args: &PrArgs, shell: &mut Shell) -> Result<u8> {
    // `--ref` comes with the shared plan flags; pr commits the working tree, so it cannot apply.
    if args.plan.git_ref.is_some() {
        bail!("--ref does not apply to pr: it commits and previews the working tree's changes");
    }
    if args.show_secrets {
        bail!(
            "--show-secrets does not apply to pr: a pull request is read by everyone who can \
             read the repository, so its preview always masks Secret values \
             (use `kubectl gitops diff --show-secrets` on your own terminal)"
        );
    }
    let token = std::env::var("GITHUB_TOKEN")
        .ok()
        .or_else(|| std::env::var("GH_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
        .context("no GitHub token: set GITHUB_TOKEN (or GH_TOKEN) to a token allowed to open pull requests")?;
    crate::scrub::learn_credential(&token);

    let snapshot = source::read_working_tree(&args.plan.path, &source::Limits::default())
        .with_context(|| format!("reading {}", args.plan.path.display()))?;
    let SourceOrigin::Worktree { repo_root } = &snapshot.origin else {
        bail!(
            "{} is not inside a git repository; `kubectl gitops pr` commits and pushes, so PATH must be in one",
            args.plan.path.display()
        );
    };
    let repo = match &args.github_repo {
        Some(repo) => repo.clone(),
        None => infer_repo(repo_root, &args.remote, &args.api_url)?,
    };
    let forge = GitHub::new(&args.api_url, token)?;
    let key = snapshot.display_prefix.to_string_lossy().into_owned();
    let (preview, summary) = preview(args, shell).await;
    let out = shell.out();

    if let Some(number) = args.comment {
        let marker = format!("{PREVIEW_MARKER} path={key} -->");
        let body = format!("{marker}\n{preview}");
        let (url, created) = forge
            .upsert_comment(&repo, number, &marker, &body)
            .await
            .with_context(|| format!("posting the preview on {repo}#{number}"))?;
        writeln!(
            out,
            "{} the preview comment on {repo}#{number}: {url}",
            if created { "Created" } else { "Updated" }
        )?;
        return Ok(EXIT_OK);
    }

    let path_name = if key.is_empty() {
        "the repository".to_string()
    } else {
        key.clone()
    };
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| format!("Update {path_name}: {summary}"));
    let staged = pr::stage(repo_root, &snapshot.display_prefix)?;
    // Named after the change itself, so a rerun of a run that failed after its push finds the
    // branch it pushed and goes on from there.
    let branch = args
        .branch
        .clone()
        .unwrap_or_else(|| default_branch(&key, &staged.tree));
    let base = match &args.base {
        Some(base) => base.clone(),
        None => current_branch(repo_root)?,
    };
    let committed = pr::commit_staged(
        &CommitRequest {
            repo_root,
            path: &snapshot.display_prefix,
            branch: &branch,
            message: &message,
        },
        &staged,
    )?;
    if let Err(err) = pr::push(repo_root, &args.remote, &branch) {
        // Leave nothing behind: the user can fix the remote and run the same command again.
        if !committed.reused {
            let _ = pr::delete_branch(repo_root, &branch);
        }
        return Err(err.into());
    }
    writeln!(
        out,
        "Pushed {branch} ({} files) to {}{}.",
        committed.files.len(),
        args.remote,
        if committed.reused {
            " (the branch a previous run made for this change)"
        } else {
            ""
        }
    )?;

    let title = args
        .title
        .clone()
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().to_string());
    let body = format!(
        "{message}\n\n{PREVIEW_MARKER} path={key} -->\n{preview}\n\n_Opened by `kubectl gitops pr`._\n"
    );
    let opened = forge
        .open_pull_request(&repo, &branch, &base, &title, &body)
        .await
        .with_context(|| {
            format!(
                "branch {branch} was pushed to {}, but the pull request on {repo} was not opened; \
                 run the same command again to open it (the pushed branch is reused)",
                args.remote
            )
        })?;
    if opened.already_open {
        writeln!(
            out,
            "Pull request #{} for {branch} is open already: {}",
            opened.number, opened.url
        )?;
    } else {
        writeln!(
            out,
            "Opened pull request #{}: {}",
            opened.number, opened.url
        )?;
    }
    Ok(EXIT_OK)
}

/// The markdown preview and a one-line summary. A cluster that cannot be reached does not
/// stop the pull request: the body says why the preview is missing.
async fn preview(args: &PrArgs, shell: &Messages) -> (String, String) {
    match prepare(&args.plan, false, shell).await {
        Ok(prepared) => {
            let destination = report::Destination {
                context: prepared.cluster.context.clone(),
                server: String::new(),
                plan_digest: super::common::plan_file(&prepared, &args.plan)
                    .ok()
                    .map(|file| file.digest),
            };
            let plan = &prepared.planned.plan;
            let withheld = reach(&prepared).withheld(plan);
            if !withheld.is_empty() {
                shell.note(format_args!(
                    "the preview leaves out the live body of objects outside what this set \
                     manages, still counting them: {}",
                    withheld.len()
                ));
            }
            (
                report::markdown_within(
                    plan,
                    &destination,
                    &args.plan.report_options(false),
                    &withheld,
                    PREVIEW_LIMIT,
                ),
                report::summary_line(plan),
            )
        }
        Err(err) => {
            // The details go to the log of whoever ran us; the pull request gets the gist.
            shell.warn(format_args!("no preview: {err:#}"));
            (
                format!(
                    "### kubectl gitops plan\n\nNo preview: {}\n",
                    preview_failure(&err)
                ),
                "preview unavailable".to_string(),
            )
        }
    }
}

/// How far into the live cluster the preview may show: what the set already manages. The
/// tree of a pull request may be a stranger's, and names whatever it likes (see `pr::reach`).
fn reach(prepared: &super::common::Prepared) -> pr::Reach {
    let member_ids = prepared.inventory.member_ids(&prepared.set);
    pr::Reach::of(
        &prepared.planned.plan,
        &pr::Managed {
            member_ids: &member_ids,
            target_namespace: &prepared.cluster.default_namespace,
            parent_namespace: &prepared.set.namespace,
            recorded_namespaces: &prepared.inventory.namespaces,
        },
    )
}

/// Longest reason a pull request shows for a missing preview.
const FAILURE_LIMIT: usize = 300;

/// Why the preview is missing, short and fit for everyone who reads the pull request: a
/// render or source problem is the repository's own and is told (scrubbed, its first line);
/// anything from the cluster side (server addresses, identities, what a refusal quoted) is
/// summed up, the details left to the log of the run.
fn preview_failure(err: &anyhow::Error) -> String {
    use crate::render::RenderFailure;
    let repository_side = err.chain().any(|cause| {
        cause.downcast_ref::<RenderFailure>().is_some()
            || cause.downcast_ref::<crate::render::RenderError>().is_some()
            || cause.downcast_ref::<source::SourceError>().is_some()
    });
    if !repository_side {
        return "the cluster could not be asked for a plan (unreachable, or the credentials \
                were refused); the run's log has the details."
            .to_string();
    }
    let said = crate::scrub::text(&format!("{err:#}"));
    let first = said.lines().next().unwrap_or_default();
    format!(
        "the change does not render: `{}`",
        crate::source::redact::truncate(first, FAILURE_LIMIT).replace('`', "'")
    )
}

/// `gitops/<path>-<the change's tree hash, short>`: the same change gets the same name.
fn default_branch(key: &str, tree: &str) -> String {
    let slug: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    let stamp: String = tree.chars().take(12).collect();
    if slug.is_empty() {
        format!("gitops/change-{stamp}")
    } else {
        format!("gitops/{slug}-{stamp}")
    }
}

fn git_output(repo_root: &Path, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            crate::scrub::text(String::from_utf8_lossy(&output.stderr).trim())
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn current_branch(repo_root: &Path) -> Result<String> {
    let name = git_output(repo_root, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    if name == "HEAD" {
        bail!("HEAD is detached: pass --base BRANCH to say where the pull request should merge");
    }
    Ok(name)
}

fn infer_repo(repo_root: &Path, remote: &str, api_url: &str) -> Result<GitHubRepo> {
    let url = git_output(repo_root, &["remote", "get-url", remote])?;
    let host = web_host(api_url);
    pr::parse_github_remote(&url, &host).with_context(|| {
        format!(
            "remote {remote} ({}) is not a {host} repository; pass --github-repo OWNER/NAME",
            crate::scrub::url(&url)
        )
    })
}

/// api.github.com serves github.com; Enterprise serves its API on the web host itself.
fn web_host(api_url: &str) -> String {
    let host = api_url
        .split_once("://")
        .map_or(api_url, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    if host == "api.github.com" {
        "github.com".to_string()
    } else {
        host.to_string()
    }
}
