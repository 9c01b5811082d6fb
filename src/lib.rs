//! kubectl-gitops: GitOps from the developer's terminal and from the cluster, one pipeline.
//!
//! Source (git) -> Render (objects) -> Plan (changes against the cluster) -> Report or Apply.
//! Each stage is a function of its inputs; only `cluster` and `ssa` talk to the API server and
//! only `source` reads git.
//!
//! # Layers
//!
//! The modules form layers, and a module uses only modules of the layers below its own (modules
//! of one layer do not use each other), so no import points up and none closes a circle. From
//! the top:
//!
//! | layer | modules | job |
//! |---|---|---|
//! | commands | `cli` | flags, prompts, exit codes: glue over the layers below |
//! | runners | `reconcile`, `controller` | one sync in a loop; GitSync objects, many syncs |
//! | runtime | `runtime` | what a sync runs in: the cycle, watches, lease, Events, endpoints |
//! | pull requests | `pr` | a plan's preview as a branch and a comment |
//! | the plan whole | `pipeline`, `report`, `planfile` | made (one function), shown, saved |
//! | plan and apply | `ssa` | changes against the cluster, server-side apply, prune, wait |
//! | sets | `inventory` | ApplySets: what a set owns and who may take it over |
//! | render | `render` | files to objects (plain YAML, kustomize, Helm) |
//! | source, cluster | `source`, `cluster` | git and files; the API server connection |
//! | terminal | `ui` | the Shell: stdout, stderr, color, progress, prompts |
//! | leaves | `meta`, `object`, `yaml`, `scrub`, `prune_limit` | names, object refs, YAML, scrubbing |
//!
//! Data flows up this table (a source is rendered, the objects planned, the plan applied) while
//! each layer is written against the ones beneath it. The table is checked, not just stated:
//! `tests/integration/layers.rs` reads every `crate::` path in `src/` and fails on one that
//! points up or sideways; its `LAYERS` list is the one statement of the order.

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
pub mod runtime;
pub mod scrub;
pub mod source;
pub mod ssa;
pub mod ui;
pub mod yaml;
