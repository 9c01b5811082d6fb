//! Integration tests against the real test API server (see tests/cluster.sh), one module per
//! feature.

mod chart_repo;
mod support;

mod apply;
mod cluster_access;
mod conflicts;
mod controller;
mod controller_restarts;
mod diff;
mod distribution;
mod faults;
mod helm;
mod helm_charts_repo;
mod helm_dependencies;
mod helm_hooks;
mod hostile;
mod identity;
mod ignore;
mod origins;
mod overload;
mod plan_files;
mod plan_noise;
mod plan_reads;
mod pr;
mod proof;
mod readable_plan;
mod reconcile;
mod render_oracle;
mod revisions;
mod tenancy_bounds;
mod tenancy_claims;
mod tenancy_guard;
mod tenancy_previews;
mod tenancy_trees;
