//! The flags that bound each render (see `render::limits`), shared by every command that
//! renders a repository it may not trust.

use std::time::Duration;

use clap::Args;

use crate::render::limits::{self, Limits};

#[derive(Debug, Args, Clone)]
pub struct RenderLimitArgs {
    /// How long one render may take, helm and kustomize and what they fetch included. At the
    /// deadline their processes are killed and the render fails; nothing is applied or pruned.
    #[arg(long, default_value = "3m", value_parser = super::duration::positive, value_name = "DURATION")]
    pub render_timeout: Duration,

    /// Most bytes one render may read from helm and kustomize, all processes together (e.g.
    /// 64Mi, 1Gi). Past it the process is killed and the render fails.
    #[arg(long, default_value = "32Mi", value_parser = limits::parse_bytes, value_name = "SIZE")]
    pub max_render_bytes: u64,

    /// Most objects one render may produce.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_OBJECTS, value_parser = at_least_one, value_name = "N")]
    pub max_render_objects: usize,
}

impl RenderLimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.render_timeout,
            max_bytes: self.max_render_bytes,
            max_objects: self.max_render_objects,
        }
    }
}

/// Whether a render fetches remote kustomize bases. Off unless asked: the same commands run in
/// CI on strangers' pull requests, where a tree naming URLs would make the runner fetch
/// whatever they point at and publish it in the preview.
#[derive(Debug, Args, Clone)]
pub struct RemoteBaseArgs {
    /// Build remote kustomize bases (https://host/org/repo//dir?ref=v1, git@host:org/repo,
    /// ssh://...) as `kubectl kustomize` does: fetched with kubectl-gitops's own git client,
    /// no credential sent (ssh uses your own keys), checked like the repository, and shown in
    /// origins with the commit fetched. Without it a remote base is refused, naming the file
    /// and URL.
    #[arg(long, env = "GITOPS_ALLOW_REMOTE_BASES")]
    pub allow_remote_bases: bool,
}

impl RemoteBaseArgs {
    pub fn remote_bases(&self) -> crate::render::RemoteBases {
        if self.allow_remote_bases {
            crate::render::RemoteBases::Fetched
        } else {
            crate::render::RemoteBases::Refused
        }
    }
}

/// Why a count flag's value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadCount {
    #[error("must be at least 1")]
    Zero,
    #[error(transparent)]
    Unreadable(#[from] std::num::ParseIntError),
}

fn at_least_one(text: &str) -> Result<usize, BadCount> {
    match text.trim().parse::<usize>()? {
        0 => Err(BadCount::Zero),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        limits: RenderLimitArgs,
    }

    #[test]
    fn the_flags_default_to_the_documented_limits() {
        let flags = Flags::try_parse_from(["x"]).unwrap();
        assert_eq!(flags.limits.limits(), Limits::default());
    }

    #[test]
    fn the_flags_take_sizes_and_refuse_zero() {
        let flags = Flags::try_parse_from([
            "x",
            "--render-timeout",
            "10s",
            "--max-render-bytes",
            "1Gi",
            "--max-render-objects",
            "50",
        ])
        .unwrap();
        assert_eq!(
            flags.limits.limits(),
            Limits {
                timeout: Duration::from_secs(10),
                max_bytes: 1 << 30,
                max_objects: 50,
            }
        );
        for zero in [
            ["x", "--render-timeout", "0s"],
            ["x", "--max-render-bytes", "0"],
            ["x", "--max-render-objects", "0"],
        ] {
            assert!(Flags::try_parse_from(zero).is_err(), "{zero:?}");
        }
    }
}
