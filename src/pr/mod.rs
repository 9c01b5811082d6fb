//! Pull requests: turn a change in the working tree into a branch, a commit, a push and a pull
//! request whose body carries the cluster preview; or keep one preview comment on an existing
//! pull request up to date (for CI).
//!
//! Git work goes through the user's own `git` (their configuration, hooks and credentials;
//! gix does not push). The forge is behind a trait; GitHub is the first one.

mod branch;
mod forge;
mod reach;
mod remote;

pub use branch::{
    CommitRequest, Committed, Staged, commit_staged, commit_to_new_branch, delete_branch, push,
    stage,
};
pub use forge::{Forge, ForgeError, GitHub, PREVIEW_MARKER, PullRequest};
pub use reach::{Managed, Reach};
pub use remote::{GitHubRepo, parse_github_remote};
