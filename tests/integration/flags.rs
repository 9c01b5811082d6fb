//! The command line as a whole, read as a user reads it: every subcommand's `--help`. A flag
//! means the same wherever it appears, each command lists only the flags it honours, and
//! every duration reads the same spellings.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn gitops(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("HOME", cwd)
        .env("KUBECONFIG", cwd.join("no-kubeconfig"))
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .output()
        .expect("running kubectl-gitops")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The subcommands `kubectl gitops --help` lists.
fn subcommands(cwd: &Path) -> Vec<String> {
    let help = text(&gitops(&["--help"], cwd).stdout);
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Continuation lines of a wrapped summary are indented further.
        .filter(|l| !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|name| name != "help")
        .collect()
}

/// One flag as `--help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    /// "-n, --namespace <NAMESPACE>": spellings and value.
    header: String,
    /// The help text, joined across wrapped lines, without the command's own default.
    help: String,
}

/// The flags of one `--help`, by long name.
fn listed_flags(help: &str) -> BTreeMap<String, Listed> {
    let mut flags = BTreeMap::new();
    let mut current: Option<(String, Listed)> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if (2..=6).contains(&indent) && trimmed.starts_with('-') {
            flags.extend(current.take());
            let long = trimmed
                .split([',', ' ', '[', '=', '<'])
                .map(str::trim)
                .find(|part| part.starts_with("--"))
                .unwrap_or(trimmed)
                .trim_start_matches('-')
                .to_string();
            current = Some((
                long,
                Listed {
                    header: trimmed.to_string(),
                    help: String::new(),
                },
            ));
        } else if indent >= 8 {
            if let Some((_, listed)) = &mut current {
                if !listed.help.is_empty() {
                    listed.help.push(' ');
                }
                listed.help.push_str(trimmed);
            }
        } else if !trimmed.is_empty() {
            // A heading or the text after the options.
            flags.extend(current.take());
        }
    }
    flags.extend(current);
    flags.remove("help");
    flags.remove("version");
    for (name, listed) in &mut flags {
        listed.help = without_defaults(&listed.help);
        // -o lists the formats the command writes (as kubectl's -o does); the flag and its
        // help are the same everywhere.
        if name == "output"
            && let Some(at) = listed
                .help
                .find("Possible values")
                .or(listed.help.find("[possible values"))
        {
            listed.help.truncate(at);
            listed.help = listed.help.trim_end().to_string();
        }
    }
    flags
}

/// A help text without the command's own default (`[default: 5m]`, `[env: GITOPS_REPO=]`).
fn without_defaults(help: &str) -> String {
    let mut text = help.to_string();
    for opening in ["[default: ", "[env: "] {
        while let Some(start) = text.find(opening) {
            let end = text[start..]
                .find(']')
                .map_or(text.len(), |e| start + e + 1);
            text.replace_range(start..end, "");
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn every_help(cwd: &Path) -> BTreeMap<String, BTreeMap<String, Listed>> {
    subcommands(cwd)
        .into_iter()
        .map(|name| {
            let output = gitops(&[&name, "--help"], cwd);
            assert!(output.status.success(), "{name} --help failed");
            (name, listed_flags(&text(&output.stdout)))
        })
        .collect()
}

#[test]
fn every_flag_has_one_help_text_and_one_value_wherever_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let helps = every_help(dir.path());
    assert!(helps.len() >= 12, "{:?}", helps.keys());
    let mut first: BTreeMap<&str, (&str, &Listed)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (command, flags) in &helps {
        for (flag, listed) in flags {
            match first.get(flag.as_str()) {
                None => {
                    first.insert(flag, (command, listed));
                }
                Some((other, theirs)) if *theirs != listed => disagreements.push(format!(
                    "--{flag}\n  {other}: {} | {}\n  {command}: {} | {}",
                    theirs.header, theirs.help, listed.header, listed.help
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "flags that differ between commands:\n{}",
        disagreements.join("\n")
    );
    // The parser agrees too: every flag a command takes parses what another command's does.
    assert!(first.contains_key("namespace") && first.contains_key("request-timeout"));
}

#[test]
fn no_command_lists_a_flag_it_ignores() {
    let dir = tempfile::tempdir().unwrap();
    let helps = every_help(dir.path());
    let lists = |command: &str, flag: &str| helps[command].contains_key(flag);
    for command in ["version", "completion"] {
        for flag in [
            "kubeconfig",
            "context",
            "namespace",
            "request-timeout",
            "helm-binary",
            "color",
            "v",
        ] {
            assert!(!lists(command, flag), "{command} lists --{flag}");
        }
    }
    for command in ["get", "status", "sync", "suspend", "resume", "install"] {
        assert!(
            !lists(command, "helm-binary"),
            "{command} lists --helm-binary"
        );
    }
    for command in ["get", "sync", "suspend", "resume", "install", "pr"] {
        assert!(!lists(command, "color"), "{command} lists --color");
    }
    assert!(!lists("pr", "show-secrets"), "pr lists --show-secrets");
    assert!(!lists("pr", "ref"), "pr lists --ref, which it refuses");
    assert!(
        !lists("install", "kubeconfig"),
        "install contacts no cluster"
    );

    // Listed means honoured: a command listing --kubeconfig reads the file it names, one not
    // listing it refuses the flag instead of ignoring it.
    std::fs::write(dir.path().join("app.yaml"), CONFIGMAP).unwrap();
    let nowhere = dir.path().join("nowhere.yaml");
    let nowhere = nowhere.to_str().unwrap();
    for (command, args) in minimal_runs() {
        if command == "pr" {
            // pr's preview says only that the cluster could not be reached (it is public).
            continue;
        }
        let mut argv = args.clone();
        argv.extend(["--kubeconfig", nowhere]);
        let output = gitops(&argv, dir.path());
        let stderr = text(&output.stderr);
        if lists(command, "kubeconfig") {
            assert!(
                stderr.contains("nowhere.yaml"),
                "{command} lists --kubeconfig but did not read it: {stderr}"
            );
        } else {
            assert!(
                stderr.contains("unexpected argument '--kubeconfig'"),
                "{command} neither lists nor refuses --kubeconfig: {stderr}"
            );
        }
    }
}

#[test]
fn every_duration_flag_reads_the_same_spellings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.yaml"), CONFIGMAP).unwrap();
    let helps = every_help(dir.path());
    let mut checked = 0;
    for (command, args) in minimal_runs() {
        for (flag, listed) in &helps[command] {
            if !listed.header.contains("<DURATION>") {
                continue;
            }
            for (value, accepted) in [("5", true), ("90s", true), ("1m30s", true), ("soon", false)]
            {
                let mut argv = args.clone();
                let spelled = format!("--{flag}={value}");
                argv.push(&spelled);
                let output = gitops(&argv, dir.path());
                let stderr = text(&output.stderr);
                let refused = stderr.contains("invalid value");
                assert_eq!(!refused, accepted, "{command} --{flag}={value}: {stderr}");
                if !accepted {
                    assert!(stderr.contains(&format!("--{flag}")), "{stderr}");
                }
            }
            checked += 1;
        }
    }
    // --timeout (apply, sync), --request-timeout, the runners' and the render's durations.
    assert!(checked >= 20, "only {checked} duration flags found");
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n";

/// Each subcommand with the arguments it needs to get past parsing.
fn minimal_runs() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("diff", vec!["diff", "."]),
        ("apply", vec!["apply", ".", "--yes"]),
        ("pr", vec!["pr", "."]),
        ("reconcile", vec!["reconcile", "--repo", "."]),
        ("controller", vec!["controller"]),
        ("get", vec!["get"]),
        ("sync", vec!["sync", "app"]),
        ("suspend", vec!["suspend", "app"]),
        ("resume", vec!["resume", "app"]),
        ("status", vec!["status"]),
        ("install", vec!["install"]),
        ("version", vec!["version"]),
        ("completion", vec!["completion", "bash"]),
    ]
}

#[test]
fn the_old_verbose_spelling_still_works_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.yaml"), CONFIGMAP).unwrap();
    let output = gitops(&["diff", ".", "--verbose"], dir.path());
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    assert!(
        stderr.contains("note: --verbose is deprecated: use -v"),
        "{stderr}"
    );
    // It still says the stages, as -v does.
    assert!(stderr.contains("] source: "), "{stderr}");
}
