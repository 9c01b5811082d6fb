//! Symlink confinement as pure path logic, apart from the filesystem so it can be tested and
//! fuzzed on its own: where a link points, and whether that place is inside the repository.

use std::path::{Component, Path, PathBuf};

/// Where `raw` (the text of the symlink at `link`) points, with `.` and `..` folded lexically.
/// Used when the target does not exist, so there is nothing to canonicalize.
pub fn lexical_target(link: &Path, raw: &Path) -> PathBuf {
    let joined = match link.parent() {
        Some(parent) => parent.join(raw),
        None => raw.to_path_buf(),
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            // Popping at the filesystem root is a no-op, as it is for the kernel.
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// True when `target` lies inside `boundary` (the canonical repository root, or PATH for a
/// plain directory) and neither inside `git_dir` nor under any directory named `.git`.
/// `target` must be absolute and free of `..`, as canonical and lexically folded paths are;
/// anything else is judged outside, since `/repo/../etc` starts with `/repo` component-wise.
pub fn is_confined(target: &Path, boundary: &Path, git_dir: Option<&Path>) -> bool {
    let normal = target.is_absolute()
        && target
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !normal {
        return false;
    }
    let Ok(inside) = target.strip_prefix(boundary) else {
        return false;
    };
    let in_git_dir = git_dir.is_some_and(|git_dir| target.starts_with(git_dir));
    let through_dot_git = inside.components().any(|c| c.as_os_str() == ".git");
    !in_git_dir && !through_dot_git
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined(target: &str) -> bool {
        is_confined(
            Path::new(target),
            Path::new("/repo"),
            Some(Path::new("/gitdir")),
        )
    }

    #[test]
    fn paths_inside_the_boundary_are_confined_and_others_not() {
        assert!(confined("/repo/app/cm.yaml"));
        assert!(confined("/repo/./app/cm.yaml"));
        assert!(!confined("/repository/cm.yaml"));
        assert!(!confined("/etc/passwd"));
        assert!(!confined("/repo/.git/config"));
        assert!(!confined("/repo/sub/.git/HEAD"));
        assert!(!confined("/gitdir/HEAD"));
        assert!(!confined("repo/app/cm.yaml"));
    }

    /// Found by the path_confinement fuzz target's invariant: `..` after the boundary passed
    /// the component-wise prefix check. Unreachable from `read_working_tree`, which only ever
    /// judges canonical or lexically folded paths, but a trap for any other caller.
    #[test]
    fn a_target_climbing_out_with_dot_dot_is_not_confined() {
        assert!(!confined("/repo/../etc/passwd"));
        assert!(!confined("/repo/app/../../etc/passwd"));
        assert!(!confined("/repo/app/.."));
    }

    #[test]
    fn lexical_targets_fold_dot_and_dot_dot_from_the_link_directory() {
        let link = Path::new("/repo/app/link.yaml");
        let target = |raw: &str| lexical_target(link, Path::new(raw));
        assert_eq!(target("../base/cm.yaml"), Path::new("/repo/base/cm.yaml"));
        assert_eq!(target("./x/../y.yaml"), Path::new("/repo/app/y.yaml"));
        assert_eq!(target("../../../../../etc"), Path::new("/etc"));
        assert_eq!(target("/abs/./path/.."), Path::new("/abs"));
    }
}
