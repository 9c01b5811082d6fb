//! What diff and apply share: the flags that decide the plan, and the pipeline up to it.
//! Both commands go through `prepare`, so `apply` executes exactly the plan `diff` shows.

use std::num::NonZeroU32;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::GlobalArgs;
use crate::cluster::Cluster;
use crate::inventory::{ApplySet, Inventory};
use crate::pipeline::{self, PlanSettings, SetPlan};
use crate::render::{self, Manifest};
use crate::source::{self, Snapshot};
use crate::ssa::Planned;

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Directory holding the manifests (inside a git repository or not).
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// Name of the ApplySet recording what this PATH manages (default: derived from the
    /// repository's directory name and PATH, e.g. gitops-platform-deploy-prod).
    #[arg(long, value_name = "NAME")]
    pub applyset: Option<String>,

    /// Namespace of the ApplySet's parent Secret.
    #[arg(long, value_name = "NAMESPACE", default_value = "default")]
    pub applyset_namespace: String,

    /// Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left
    /// git (deleting them deletes everything in them).
    #[arg(long)]
    pub prune_protected: bool,

    /// Print Secret values instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,

    /// Client-side limit of requests per second (bursts may go to twice this).
    #[arg(long, default_value_t = NonZeroU32::new(500).expect("non-zero"), value_name = "QPS")]
    pub qps: NonZeroU32,
}

/// Everything up to and including the plan.
pub struct Prepared {
    pub snapshot: Snapshot,
    pub manifests: Vec<Manifest>,
    pub cluster: Cluster,
    pub set: ApplySet,
    pub inventory: Inventory,
    pub planned: Planned,
}

/// Source -> Render -> Plan. A render failure stops here, before anything touches the cluster.
pub async fn prepare(args: &PlanArgs, global: &GlobalArgs, force: bool) -> Result<Prepared> {
    let snapshot = source::read_working_tree(&args.path, &source::Limits::default())
        .with_context(|| format!("reading {}", args.path.display()))?;
    if snapshot.origin == source::SourceOrigin::PlainDirectory {
        eprintln!(
            "note: {} is not inside a git repository; reading it as plain files",
            args.path.display()
        );
    }
    let manifests = render::render(&snapshot, &render::RenderOptions::default())?;

    let mut options = global.cluster_options();
    options.concurrency = args.concurrency;
    options.qps = args.qps;
    options.burst = args
        .qps
        .saturating_mul(NonZeroU32::new(2).expect("non-zero"));
    let cluster = Cluster::connect(&options).await?;

    let set = ApplySet {
        name: args
            .applyset
            .clone()
            .unwrap_or_else(|| ApplySet::default_name(&snapshot)),
        namespace: args.applyset_namespace.clone(),
    };
    let settings = PlanSettings {
        show_secrets: args.show_secrets,
        force,
        prune_protected: args.prune_protected,
        render: render::RenderOptions::default(),
    };
    let SetPlan {
        manifests,
        set,
        inventory,
        planned,
    } = pipeline::plan_manifests(&cluster, manifests, &set, &settings).await?;
    Ok(Prepared {
        snapshot,
        manifests,
        cluster,
        set,
        inventory,
        planned,
    })
}
