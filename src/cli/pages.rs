//! The command reference in `docs/commands/`: one Markdown page per subcommand (nested ones
//! included) and an index, written from the same clap definitions `--help` prints, so the pages
//! say what the binary does. `tests/integration/command_pages.rs` fails when a committed page
//! differs from what this writes, and rewrites them when asked.

use clap::{Arg, ArgAction, Command, CommandFactory};

use super::Cli;

/// Where the pages live, relative to the repository root.
pub const DIR: &str = "docs/commands";

/// One file of the reference: its name in [`DIR`] and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub file: String,
    pub text: String,
}

/// Every page, the index (`README.md`) first, then one per subcommand in the order `--help`
/// lists them.
pub fn pages() -> Vec<Page> {
    let mut root = Cli::command();
    root.build();
    let mut commands = Vec::new();
    collect(&root, &mut Vec::new(), &mut commands);
    let mut pages = vec![Page {
        file: "README.md".into(),
        text: index(&root, &commands),
    }];
    pages.extend(commands.iter().map(|(path, command)| Page {
        file: file_name(path),
        text: page(path, command),
    }));
    for page in &mut pages {
        page.text = tidy(&page.text);
    }
    pages
}

/// One blank line between blocks, and one newline at the end.
fn tidy(text: &str) -> String {
    let mut out = text.to_string();
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    format!("{}\n", out.trim_end())
}

/// The page file of a subcommand: `diff.md`, `parent-child.md` for a nested one.
pub fn file_name(path: &[String]) -> String {
    format!("{}.md", path.join("-"))
}

/// Each visible subcommand with the words that name it, depth first.
fn collect(command: &Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Command)>) {
    for sub in visible_subcommands(command) {
        path.push(sub.get_name().to_string());
        out.push((path.clone(), sub.clone()));
        collect(sub, path, out);
        path.pop();
    }
}

fn visible_subcommands(command: &Command) -> impl Iterator<Item = &Command> {
    // clap's own `help` subcommand is `--help` said another way.
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
}

fn index(root: &Command, commands: &[(Vec<String>, Command)]) -> String {
    let mut out = String::from(GENERATED);
    out.push_str("# Commands\n\n");
    if let Some(about) = root.get_long_about().or(root.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    out.push_str("| command | what it does |\n|---|---|\n");
    for (path, command) in commands {
        out.push_str(&format!(
            "| [`kubectl gitops {}`]({}) | {} |\n",
            path.join(" "),
            file_name(path),
            table_cell(
                &command
                    .get_about()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            )
        ));
    }
    if let Some(after) = root.get_after_long_help().or(root.get_after_help()) {
        out.push_str(&format!(
            "\n```text\n{}\n```\n",
            after.to_string().trim_end()
        ));
    }
    out
}

/// The page of one subcommand: what it does, usage, arguments, options, examples.
fn page(path: &[String], command: &Command) -> String {
    let mut out = String::from(GENERATED);
    out.push_str(&format!("# kubectl gitops {}\n\n", path.join(" ")));
    if let Some(about) = command.get_about() {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    if let Some(long) = command.get_long_about() {
        out.push_str(&format!("{}\n\n", long.to_string().trim()));
    }
    let usage = command.clone().render_usage().to_string();
    out.push_str(&format!(
        "## Usage\n\n```text\n{}\n```\n",
        usage.trim().trim_start_matches("Usage: ")
    ));

    let arguments: Vec<&Arg> = shown_args(command).filter(|a| a.is_positional()).collect();
    if !arguments.is_empty() {
        out.push_str("\n## Arguments\n\n");
        for arg in arguments {
            out.push_str(&entry(&positional_name(arg), arg));
        }
    }
    let options: Vec<&Arg> = shown_args(command).filter(|a| !a.is_positional()).collect();
    if !options.is_empty() {
        out.push_str("\n## Options\n\n");
        for arg in options {
            out.push_str(&entry(&flag_name(arg), arg));
        }
    }
    let subcommands: Vec<&Command> = visible_subcommands(command).collect();
    if !subcommands.is_empty() {
        out.push_str("\n## Subcommands\n\n");
        for sub in subcommands {
            let mut sub_path = path.to_vec();
            sub_path.push(sub.get_name().to_string());
            out.push_str(&format!(
                "- [`{}`]({}): {}\n",
                sub.get_name(),
                file_name(&sub_path),
                sub.get_about().map(|a| a.to_string()).unwrap_or_default()
            ));
        }
    }
    if let Some(after) = command.get_after_long_help().or(command.get_after_help()) {
        out.push_str(&format!(
            "\n## Examples\n\n```text\n{}\n```\n",
            after.to_string().trim_end()
        ));
    }
    out
}

const GENERATED: &str = "<!-- Generated from the command line definitions (src/cli/pages.rs); do not \
                         edit. Regenerate: GITOPS_WRITE_COMMAND_PAGES=1 cargo test --test \
                         integration command_pages -->\n\n";

/// The arguments a page lists: the visible ones, without `--help` and `--version` (every
/// command has those).
fn shown_args(command: &Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|arg| {
        !arg.is_hide_set()
            && !matches!(
                arg.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
    })
}

/// `<PATH>`, `[PATH]`, `[PATH]...`, as the usage line writes a positional.
fn positional_name(arg: &Arg) -> String {
    let name = value_name(arg);
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let shown = if arg.is_required_set() {
        format!("<{name}>")
    } else {
        format!("[{name}]")
    };
    if many { format!("{shown}...") } else { shown }
}

/// `-n, --namespace <NAMESPACE>`, `--v[=<N>]`, `--adopt`, as `--help` writes a flag.
fn flag_name(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let mut name = names.join(", ");
    if arg.get_action().takes_values() {
        let value = value_name(arg);
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        if optional {
            name.push_str(&format!("[=<{value}>]"));
        } else if arg.is_require_equals_set() {
            name.push_str(&format!("=<{value}>"));
        } else {
            name.push_str(&format!(" <{value}>"));
        }
    }
    name
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// One argument: its name, its help, then its values, default and environment variable.
fn entry(name: &str, arg: &Arg) -> String {
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut out = format!("### `{name}`\n\n");
    if !help.trim().is_empty() {
        out.push_str(&format!("{}\n\n", help.trim()));
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("- `{}`: {help}", v.get_name()),
            None => format!("- `{}`", v.get_name()),
        })
        .collect();
    if !values.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        out.push_str(&format!("Values:\n\n{}\n\n", values.join("\n")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty()
        && !arg.is_hide_default_value_set()
        && !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
    {
        out.push_str(&format!("Default: {}\n\n", defaults.join(", ")));
    }
    if let Some(env) = arg.get_env()
        && !arg.is_hide_env_set()
    {
        out.push_str(&format!(
            "Environment variable: `{}`\n\n",
            env.to_string_lossy()
        ));
    }
    out
}

/// Text for one table cell: on one line, its pipes escaped.
fn table_cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_a_page_for_every_subcommand_and_an_index_linking_each() {
        let pages = pages();
        let files: Vec<&str> = pages.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files[0], "README.md");
        for verb in [
            "diff",
            "apply",
            "pr",
            "reconcile",
            "controller",
            "completion",
        ] {
            let file = format!("{verb}.md");
            assert!(files.contains(&file.as_str()), "{file} in {files:?}");
            assert!(
                pages[0].text.contains(&format!("]({file})")),
                "the index links {file}"
            );
        }
        assert!(!files.contains(&"help.md"), "clap's help is not a command");
    }

    #[test]
    fn a_page_has_the_usage_each_flag_with_its_help_and_the_examples() {
        let pages = pages();
        let diff = &pages
            .iter()
            .find(|p| p.file == "diff.md")
            .expect("diff")
            .text;
        assert!(diff.starts_with("<!-- Generated"), "{diff}");
        assert!(diff.contains("# kubectl gitops diff\n"), "{diff}");
        assert!(
            diff.contains("```text\nkubectl gitops diff [OPTIONS] [PATH]\n```"),
            "{diff}"
        );
        assert!(diff.contains("### `[PATH]`"), "{diff}");
        assert!(diff.contains("Default: `.`"), "{diff}");
        assert!(diff.contains("### `-f, --filename <PATH>`"), "{diff}");
        assert!(diff.contains("### `--adopt`\n\nMove objects"), "{diff}");
        assert!(diff.contains("## Examples"), "{diff}");
        assert!(!diff.contains("--help`"), "help is not listed: {diff}");
    }

    #[test]
    fn an_optional_value_is_written_with_its_equals_sign() {
        let arg = Arg::new("v")
            .long("v")
            .value_name("N")
            .num_args(0..=1)
            .require_equals(true);
        assert_eq!(flag_name(&arg), "--v[=<N>]");
        let arg = Arg::new("namespace")
            .short('n')
            .long("namespace")
            .value_name("NAMESPACE");
        assert_eq!(flag_name(&arg), "-n, --namespace <NAMESPACE>");
    }
}
