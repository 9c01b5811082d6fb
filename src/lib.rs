//! kubectl-gitops: GitOps from the developer's terminal and from the cluster, one pipeline.
//!
//! Source (git) -> Render (objects) -> Plan (changes against the cluster) -> Report or Apply.
//! Each stage is a function of its inputs; only `cluster` and `ssa` talk to the API server and
//! only `source` reads git.

pub mod cli;
pub mod cluster;
pub mod controller;
pub mod inventory;
pub mod meta;
pub mod object;
pub mod pipeline;
pub mod planfile;
pub mod pr;
pub mod prune_limit;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod scrub;
pub mod source;
pub mod ssa;
pub mod ui;
pub mod yaml;
