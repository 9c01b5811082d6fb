//! Integration tests against the real test API server (see tests/cluster.sh), one module per
//! feature.

mod support;

mod apply;
mod cluster_access;
mod conflicts;
mod diff;
mod distribution;
mod faults;
mod helm;
mod hostile;
mod identity;
mod origins;
mod overload;
mod plan_noise;
mod plan_reads;
mod pr;
mod proof;
mod reconcile;
mod render_oracle;
mod revisions;
