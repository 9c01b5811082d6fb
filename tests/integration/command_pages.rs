//! docs/commands/ is the command line's reference: a page per subcommand written from the clap
//! definitions (`cli::pages`). These tests fail when a committed page is not what the binary's
//! definitions would write, or when a flag `--help` prints is missing from its page.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubectl_gitops::cli::pages::{self, DIR};

/// Set to rewrite the pages instead of comparing them.
const WRITE: &str = "GITOPS_WRITE_COMMAND_PAGES";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR)
}

#[test]
fn command_pages_are_what_the_command_line_definitions_write() {
    let pages = pages::pages();
    if std::env::var_os(WRITE).is_some_and(|v| !v.is_empty()) {
        std::fs::create_dir_all(dir()).expect("docs/commands");
        for entry in std::fs::read_dir(dir()).expect("docs/commands") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                std::fs::remove_file(&path).expect("remove a stale page");
            }
        }
        for page in &pages {
            std::fs::write(dir().join(&page.file), &page.text).expect("write a page");
        }
        return;
    }
    let regenerate = format!("{WRITE}=1 cargo test --test integration command_pages");
    let mut stale = Vec::new();
    for page in &pages {
        let committed = std::fs::read_to_string(dir().join(&page.file)).unwrap_or_default();
        if committed != page.text {
            stale.push(format!("{DIR}/{}", page.file));
        }
    }
    let expected: BTreeSet<String> = pages.iter().map(|p| p.file.clone()).collect();
    let extra: Vec<String> = std::fs::read_dir(dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".md") && !expected.contains(name))
                .map(|name| format!("{DIR}/{name} (no such command)"))
                .collect()
        })
        .unwrap_or_default();
    stale.extend(extra);
    assert!(
        stale.is_empty(),
        "out of date with the command line definitions:\n  {}\nRegenerate the pages with \
         `{regenerate}` and commit them.",
        stale.join("\n  ")
    );
}

/// The long flags `--help` lists for `args` (lines that start with a flag).
fn help_flags(args: &[&str]) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-gitops"))
        .args(args)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{args:?} --help");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            let at = line.find("--")?;
            let flag: String = line[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!flag.is_empty()).then(|| format!("--{flag}"))
        })
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect()
}

#[test]
fn every_flag_help_prints_is_on_its_command_page() {
    let mut checked = 0;
    for page in pages::pages().iter().filter(|p| p.file != "README.md") {
        // The title names the command: `# kubectl gitops diff`.
        let title = page
            .text
            .lines()
            .find(|l| l.starts_with("# "))
            .expect("a title");
        let words: Vec<&str> = title
            .trim_start_matches("# kubectl gitops")
            .split_whitespace()
            .collect();
        for flag in help_flags(&words) {
            checked += 1;
            assert!(
                page.text.contains(&format!("{flag}`"))
                    || page.text.contains(&format!("{flag} <"))
                    || page.text.contains(&format!("{flag}[="))
                    || page.text.contains(&format!("{flag}=<")),
                "{flag} of `kubectl gitops {}` is not on {DIR}/{}",
                words.join(" "),
                page.file
            );
        }
    }
    assert!(
        checked > 50,
        "only {checked} flags read from --help: is its layout still read?"
    );
}
