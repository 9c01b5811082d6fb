//! End-to-end tests on the node cluster (`tests/cluster.sh up --node`): controllers, a
//! scheduler and a kubelet really run, so Deployments roll out to real Pods, garbage
//! collection follows a prune, Namespaces finish deleting, and the controller runs as a Pod from
//! the image of the release binary. Run with `tests/node.sh`; the fast suite (`tests/run.sh`)
//! builds none of this.

#[allow(dead_code)] // shared with the fast suite, which uses more of it
#[path = "../integration/support.rs"]
mod support;

mod cluster;
mod git_server;

mod aggregation;
mod deploying;
mod deployments;
mod drift;
mod failover;
mod hooks;
mod image;
mod in_cluster;
mod krew;
mod prune;
mod reconciler;
mod tenancy;
mod waiting;
mod workloads;
