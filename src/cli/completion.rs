//! Shell completion, two ways:
//!
//! - `kubectl gitops completion SHELL` prints a static script (clap_complete) for the binary
//!   invoked by its own name, `kubectl-gitops`. The generated copies live in `completions/`.
//! - `kubectl gitops …<TAB>` is completed by kubectl itself (v1.26 and later): it runs an
//!   executable named `kubectl_complete-gitops` from PATH with the words typed after `gitops`
//!   (the last one being the word under the cursor, possibly empty) and reads back cobra's
//!   `__complete` format: one candidate per line, optionally `value<TAB>description`, then a
//!   `:<directive>` line. `completions/kubectl_complete-gitops` forwards those words to
//!   `kubectl-gitops __complete`, answered by [`complete`] from the same clap definition.

use std::io::Write;
use std::path::PathBuf;

use clap::{Arg, Args, Command, CommandFactory, ValueEnum, ValueHint};

use super::Cli;

/// The binary name the static scripts complete.
pub const BIN_NAME: &str = "kubectl-gitops";

/// The hidden first argument that asks the binary for completions (cobra's spelling, which
/// `kubectl_complete-gitops` uses).
pub const COMPLETE_REQUEST: &str = "__complete";

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(
    long_about = "Prints a completion script for SHELL on standard output. The script completes \
                  the binary invoked by its own name, `kubectl-gitops` (or an alias of it). \
                  Completing `kubectl gitops ...` is kubectl's job instead: kubectl 1.26 and \
                  later, with its own completion enabled, runs an executable named \
                  kubectl_complete-gitops from PATH. The two-line script below (also \
                  completions/kubectl_complete-gitops in the repository) hands the words to \
                  `kubectl-gitops __complete`, which answers.",
    after_help = "Examples:
  # bash: complete kubectl-gitops in every new shell
  kubectl gitops completion bash > ~/.local/share/bash-completion/completions/kubectl-gitops

  # zsh: into a directory on $fpath, then start a new shell
  kubectl gitops completion zsh > \"${fpath[1]}/_kubectl-gitops\"

  # fish
  kubectl gitops completion fish > ~/.config/fish/completions/kubectl-gitops.fish

  # PowerShell: add this line to your $PROFILE
  kubectl gitops completion powershell | Out-String | Invoke-Expression

Completing `kubectl gitops ...` (kubectl 1.26+ with its completion enabled):
  f=~/.local/bin/kubectl_complete-gitops  # any directory on PATH
  printf '#!/bin/sh\\nexec kubectl-gitops __complete \"$@\"\\n' > $f && chmod +x $f"
)]
pub struct CompletionArgs {
    /// The shell to print a script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// Shells with a committed script in `completions/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    #[value(name = "powershell")]
    PowerShell,
}

impl CompletionShell {
    /// Every shell, in the order the scripts are listed.
    pub const ALL: [CompletionShell; 4] = [
        CompletionShell::Bash,
        CompletionShell::Zsh,
        CompletionShell::Fish,
        CompletionShell::PowerShell,
    ];

    /// The committed script's path relative to the repository root.
    pub fn committed_file(self) -> &'static str {
        match self {
            CompletionShell::Bash => "completions/kubectl-gitops.bash",
            CompletionShell::Zsh => "completions/_kubectl-gitops",
            CompletionShell::Fish => "completions/kubectl-gitops.fish",
            CompletionShell::PowerShell => "completions/kubectl-gitops.ps1",
        }
    }

    /// The argument `kubectl gitops completion` takes for this shell.
    pub fn name(self) -> &'static str {
        match self {
            CompletionShell::Bash => "bash",
            CompletionShell::Zsh => "zsh",
            CompletionShell::Fish => "fish",
            CompletionShell::PowerShell => "powershell",
        }
    }

    fn generator(self) -> clap_complete::Shell {
        match self {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
            CompletionShell::PowerShell => clap_complete::Shell::PowerShell,
        }
    }
}

/// The static completion script for `shell`.
pub fn script(shell: CompletionShell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), &mut Cli::command(), BIN_NAME, &mut out);
    out
}

pub fn run(args: &CompletionArgs, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(&script(args.shell))
}

/// Cobra's completion directives (a bit set), as kubectl understands them.
pub mod directive {
    /// Let the shell fall back to completing file names.
    pub const DEFAULT: u32 = 0;
    /// Offer only the candidates given (no file names).
    pub const NO_FILE_COMP: u32 = 4;
    /// Let the shell complete directory names only.
    pub const FILTER_DIRS: u32 = 16;
}

/// One answer to a completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    /// `(value, description)` pairs, already filtered by the word under the cursor.
    pub candidates: Vec<(String, Option<String>)>,
    /// A [`directive`] bit set.
    pub directive: u32,
}

impl Completions {
    fn only(candidates: Vec<(String, Option<String>)>) -> Completions {
        Completions {
            candidates,
            directive: directive::NO_FILE_COMP,
        }
    }

    fn shell(directive: u32) -> Completions {
        Completions {
            candidates: Vec::new(),
            directive,
        }
    }

    /// Cobra's `__complete` output format.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for (value, help) in &self.candidates {
            match help {
                Some(help) => writeln!(out, "{value}\t{help}")?,
                None => writeln!(out, "{value}")?,
            }
        }
        writeln!(out, ":{}", self.directive)
    }
}

/// Completes `words`: what was typed after `kubectl gitops`, the last one being the word under
/// the cursor (empty when the cursor follows a space). Reads nothing but the kubeconfig (for
/// `--context` names) and never contacts a cluster.
pub fn complete(words: &[String]) -> Completions {
    let mut root = Cli::command();
    root.build();
    let (current, typed) = match words.split_last() {
        Some((current, typed)) => (current.as_str(), typed),
        None => ("", &[][..]),
    };

    let mut cmd: &Command = &root;
    let mut pending: Option<&Arg> = None;
    let mut positionals = 0;
    let mut only_positionals = false;
    let mut kubeconfig: Option<PathBuf> = None;
    for word in typed {
        if let Some(arg) = pending.take() {
            if arg.get_id() == "kubeconfig" {
                kubeconfig = Some(PathBuf::from(word));
            }
            continue;
        }
        if only_positionals {
            positionals += 1;
        } else if word == "--" {
            only_positionals = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            if let Some(arg) = find_long(cmd, name).filter(|a| takes_value(a)) {
                match value {
                    None => pending = Some(arg),
                    Some(value) if arg.get_id() == "kubeconfig" => {
                        kubeconfig = Some(PathBuf::from(value));
                    }
                    Some(_) => {}
                }
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster like -vv, or -n with its value attached (-nfoo) or following (-n foo).
            for (i, c) in shorts.char_indices() {
                if let Some(arg) = find_short(cmd, c).filter(|a| takes_value(a)) {
                    if i + c.len_utf8() == shorts.len() {
                        pending = Some(arg);
                    }
                    break;
                }
            }
        } else if let Some(sub) = (positionals == 0)
            .then(|| cmd.find_subcommand(word))
            .flatten()
        {
            cmd = sub;
        } else {
            positionals += 1;
        }
    }

    if let Some(arg) = pending {
        return values(arg, current, "", kubeconfig.as_ref());
    }
    if !only_positionals && current.starts_with('-') {
        if let Some((name, value)) = current
            .strip_prefix("--")
            .and_then(|long| long.split_once('='))
        {
            return match find_long(cmd, name).filter(|a| takes_value(a)) {
                Some(arg) => values(arg, value, &format!("--{name}="), kubeconfig.as_ref()),
                None => Completions::only(Vec::new()),
            };
        }
        return Completions::only(flags(cmd, current));
    }
    if positionals == 0 && cmd.has_subcommands() {
        let subcommands = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name().starts_with(current))
            .map(|s| (s.get_name().to_string(), help_line(s.get_about())))
            .collect();
        return Completions::only(subcommands);
    }
    match cmd.get_positionals().nth(positionals) {
        Some(arg) => values(arg, current, "", kubeconfig.as_ref()),
        None => Completions::only(Vec::new()),
    }
}

/// Whether the next word is this flag's value (`-v` takes one only as `-v=N`).
fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && !arg.is_require_equals_set()
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name)
            || a.get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// The flags `cmd` lists matching `current`; short spellings only
/// when nothing but `-` was typed.
fn flags(cmd: &Command, current: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
    {
        let help = help_line(arg.get_help());
        if let Some(long) = arg.get_long() {
            let flag = format!("--{long}");
            if flag.starts_with(current) {
                out.push((flag, help.clone()));
            }
        }
        if current == "-"
            && let Some(short) = arg.get_short()
        {
            out.push((format!("-{short}"), help));
        }
    }
    out
}

/// Candidates for one value of `arg`, each prefixed with `prefix` (for `--flag=value`).
fn values(arg: &Arg, current: &str, prefix: &str, kubeconfig: Option<&PathBuf>) -> Completions {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        return Completions::only(
            possible
                .iter()
                .filter(|v| !v.is_hide_set() && v.get_name().starts_with(current))
                .map(|v| (format!("{prefix}{}", v.get_name()), help_line(v.get_help())))
                .collect(),
        );
    }
    if arg.get_id() == "context" {
        return Completions::only(
            context_names(kubeconfig)
                .into_iter()
                .filter(|name| name.starts_with(current))
                .map(|name| (format!("{prefix}{name}"), None))
                .collect(),
        );
    }
    match arg.get_value_hint() {
        // The shell knows file names better than we do, but cannot complete after `--flag=`.
        ValueHint::DirPath if prefix.is_empty() => Completions::shell(directive::FILTER_DIRS),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath if prefix.is_empty() => {
            Completions::shell(directive::DEFAULT)
        }
        _ => Completions::only(Vec::new()),
    }
}

/// Context names from `--kubeconfig` if it was typed, else as kubectl finds them.
fn context_names(kubeconfig: Option<&PathBuf>) -> Vec<String> {
    let read = match kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path),
        None => kube::config::Kubeconfig::read(),
    };
    read.map(|k| k.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

/// The first line of a help text, with no tabs (they separate value and description).
fn help_line(help: Option<&clap::builder::StyledStr>) -> Option<String> {
    let text = help?.to_string();
    let line = text.lines().next()?.replace('\t', " ");
    let line = line.trim().trim_end_matches('.').to_string();
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        // The last word is the one under the cursor: "diff " completes an empty word.
        line.split(' ').map(str::to_string).collect()
    }

    fn values_of(c: &Completions) -> Vec<&str> {
        c.candidates.iter().map(|(v, _)| v.as_str()).collect()
    }

    #[test]
    fn subcommands_first() {
        let c = complete(&words(""));
        assert_eq!(c.directive, directive::NO_FILE_COMP);
        for sub in ["diff", "apply", "version", "completion"] {
            assert!(values_of(&c).contains(&sub), "{sub} missing: {c:?}");
        }
        let c = complete(&words("di"));
        assert_eq!(values_of(&c), ["diff"]);
        assert!(
            c.candidates[0]
                .1
                .as_deref()
                .unwrap()
                .starts_with("Show what")
        );
    }

    #[test]
    fn path_completes_directories() {
        assert_eq!(complete(&words("diff ")).directive, directive::FILTER_DIRS);
        assert_eq!(
            complete(&words("apply --yes --timeout 5m dep")).directive,
            directive::FILTER_DIRS
        );
        // Past the only positional there is nothing to offer.
        assert_eq!(complete(&words("diff deploy/ ")), Completions::only(vec![]));
    }

    #[test]
    fn flags_include_the_shared_groups() {
        let c = complete(&words("diff --co"));
        assert_eq!(values_of(&c), ["--concurrency", "--context", "--color"]);
        let c = complete(&words("apply -"));
        assert!(values_of(&c).contains(&"-y"));
        assert!(values_of(&c).contains(&"--kubeconfig"));
    }

    #[test]
    fn flag_values() {
        let c = complete(&words("diff -o "));
        assert_eq!(values_of(&c), ["text", "markdown", "json"]);
        let c = complete(&words("diff --output=m"));
        assert_eq!(values_of(&c), ["--output=markdown"]);
        let c = complete(&words("diff --color a"));
        assert_eq!(values_of(&c), ["auto", "always"]);
        let c = complete(&words("completion "));
        assert_eq!(values_of(&c), ["bash", "zsh", "fish", "powershell"]);
        assert_eq!(
            complete(&words("diff --kubeconfig ")).directive,
            directive::DEFAULT
        );
        // A value that cannot be guessed: no file names either.
        assert_eq!(complete(&words("diff -n ")), Completions::only(Vec::new()));
        // The word after a flag's value is positional again.
        assert_eq!(
            complete(&words("diff -n prod ")).directive,
            directive::FILTER_DIRS
        );
    }

    #[test]
    fn contexts_come_from_the_typed_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n\
             - name: prod\n  context: {cluster: a, user: a}\n\
             - name: staging\n  context: {cluster: a, user: a}\n",
        )
        .unwrap();
        let line = format!("diff --kubeconfig {} --context ", path.display());
        assert_eq!(values_of(&complete(&words(&line))), ["prod", "staging"]);
        let line = format!("diff --kubeconfig={} --context=st", path.display());
        assert_eq!(values_of(&complete(&words(&line))), ["--context=staging"]);
    }

    #[test]
    fn protocol_output() {
        let mut out = Vec::new();
        complete(&words("completion z")).write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "zsh\n:4\n");
    }

    #[test]
    fn scripts_complete_the_binary_name() {
        for shell in CompletionShell::ALL {
            let text = String::from_utf8(script(shell)).unwrap();
            assert!(text.contains("kubectl-gitops"), "{shell:?}");
            assert!(text.contains("diff"), "{shell:?}");
        }
    }
}
