//! The controller's Pod dies mid-apply, and its standby takes over: a shard Deployment of two
//! replicas (from `kubectl gitops install --controller --shards 1 --replicas 2`) applies a
//! GitSync of many ConfigMaps; its leader is deleted with `--grace-period=0 --force` while the
//! ConfigMaps are being written. The Lease moves to the other replica (the failover time is
//! printed), the Deployment brings a Pod back, and the next cycle converges: every ConfigMap
//! there once, none written before the kill recreated, the ApplySet holding exactly them.
//! Then the new leader is frozen (SIGSTOP: it neither renews nor releases its Lease), and the
//! standby takes the Lease once it expires; that failover time is printed too.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::cluster::{PATIENCE, eventually, kubectl, kubectl_json};
use crate::git_server::{GitDaemon, git, node_ip};
use crate::in_cluster::{image, install_controller, kubectl_apply, ready_condition, tenant};
use crate::support;

const NAMESPACE: &str = "gitops-system";
/// The shard `--shards 1` adds: its Deployment, its Pods' name label and its Lease.
const SHARD: &str = "shard-1";
const SHARD_CONTROLLER: &str = "kubectl-gitops-controller-shard-1";
const CONFIG_MAPS: usize = 300;

/// The shard's Deployment, as `install --controller --shards 1 --replicas 2` prints it (the
/// rest of what it prints is the main install, applied by `install_controller`).
fn install_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = support::gitops(
        &[
            "install",
            "--controller",
            "--shards",
            "1",
            "--replicas",
            "2",
            "--image",
            &image(),
        ],
        dir.path(),
    );
    let (stdout, stderr) = support::text(&out);
    assert!(out.status.success(), "{stderr}");
    let shard = stdout
        .split("\n---\n")
        .find(|doc| doc.contains("kind: Deployment") && doc.contains(SHARD_CONTROLLER))
        .unwrap_or_else(|| panic!("no shard Deployment in: {stdout}"));
    kubectl_apply(shard.as_bytes());
}

/// The shard's Pods that are not being deleted, by name, with whether each is Ready.
fn shard_pods() -> BTreeMap<String, bool> {
    let pods = kubectl_json(&[
        "get",
        "pods",
        "-n",
        NAMESPACE,
        "-l",
        &format!("app.kubernetes.io/name={SHARD_CONTROLLER}"),
    ])
    .expect("listing");
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| {
            let name = p["metadata"]["name"].as_str()?.to_string();
            let ready = p["status"]["containerStatuses"][0]["ready"] == true;
            Some((name, ready))
        })
        .collect()
}

/// Who holds the shard's Lease.
fn holder() -> Option<String> {
    let lease = kubectl_json(&["get", "lease", SHARD_CONTROLLER, "-n", NAMESPACE])?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

fn config_maps(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: v1
kind: ConfigMap
metadata:
  name: bulk-{i:03}
  labels: {{app: bulk}}
data:
  index: \"{i}\"
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The ConfigMaps of the set in `ns`, by name, with their uid.
fn uids(ns: &str) -> BTreeMap<String, String> {
    let list = kubectl_json(&["get", "configmaps", "-n", ns, "-l", "app=bulk"]).expect("listing");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|cm| {
            (
                cm["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                cm["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_leader_killed_mid_apply_hands_over_its_lease_and_the_next_cycle_converges() {
    install_controller();
    install_shard();
    let leader = eventually(
        "the shard's two replicas Ready, one holding the Lease",
        || {
            let pods = shard_pods();
            let holder = holder();
            match &holder {
                Some(h) if pods.len() == 2 && pods.values().all(|r| *r) && pods.contains_key(h) => {
                    Ok(h.clone())
                }
                _ => Err(format!("pods {pods:?}, Lease held by {holder:?}")),
            }
        },
    );

    let base = tempfile::tempdir().expect("tempdir");
    let repo = base.path().join("bulk");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join("bulk.yaml"), config_maps(CONFIG_MAPS)).expect("write");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "many ConfigMaps"]);
    let head = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let daemon = GitDaemon::start(base.path(), node_ip());
    let ns = tenant("failover");
    kubectl_apply(
        format!(
            "apiVersion: gitops.kubectl-gitops.io/v1alpha1
kind: GitSync
metadata:
  name: bulk
  namespace: {ns}
  labels:
    kubectl-gitops.io/shard: {SHARD}
spec:
  repository:
    url: {url}
    ref: main
  targetNamespace: {ns}
  serviceAccountName: deployer
",
            url = daemon.url("bulk")
        )
        .as_bytes(),
    );

    // Killed once the first ConfigMaps are written, before the last: looked for without the
    // pause `eventually` takes between looks, so the apply is caught early.
    let deadline = Instant::now() + PATIENCE;
    let written = loop {
        let written = uids(&ns);
        if !written.is_empty() {
            break written;
        }
        assert!(
            Instant::now() < deadline,
            "the leader wrote no ConfigMap within {PATIENCE:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    kubectl(
        &[
            "delete",
            "pod",
            &leader,
            "-n",
            NAMESPACE,
            "--grace-period=0",
            "--force",
            "--wait=false",
        ],
        "test",
    )
    .expect("deleting the leader");
    let killed = Instant::now();
    assert!(
        written.len() < CONFIG_MAPS,
        "the leader was killed mid-apply: {} of {CONFIG_MAPS} ConfigMaps were written",
        written.len()
    );

    let successor = eventually("the Lease moving to the other replica", || match holder() {
        Some(h) if h != leader => Ok(h),
        other => Err(format!("held by {other:?}")),
    });
    let failover = killed.elapsed();
    eventually("the GitSync Ready at the commit", || {
        let ready = ready_condition(&ns, "bulk")?;
        let sync = kubectl_json(&["get", "gitsync", "bulk", "-n", &ns]).expect("the sync");
        let applied = sync["status"]["lastAppliedRevision"].as_str().unwrap_or("");
        match ready["status"] == "True" && applied.ends_with(&head) {
            true => Ok(()),
            false => Err(format!("{ready} at {applied}")),
        }
    });
    let converged = killed.elapsed();
    println!(
        "leader failover: killed with {} of {CONFIG_MAPS} ConfigMaps written; Lease moved to {successor} after {:.1} s; the sync converged after {:.1} s",
        written.len(),
        failover.as_secs_f64(),
        converged.as_secs_f64()
    );

    let after = uids(&ns);
    assert_eq!(
        after.len(),
        CONFIG_MAPS,
        "every ConfigMap is there: {after:?}"
    );
    for (name, uid) in &written {
        assert_eq!(
            after.get(name),
            Some(uid),
            "{name}, written before the kill, was kept, not deleted and written again"
        );
    }
    let sync = kubectl_json(&["get", "gitsync", "bulk", "-n", &ns]).expect("the sync");
    assert_eq!(
        sync["status"]["counts"]["managed"].as_u64(),
        Some(CONFIG_MAPS as u64),
        "{}",
        sync["status"]
    );
    // The ApplySet holds exactly them: every member labelled with its id, its parent
    // listing ConfigMaps only.
    let inventory = &sync["status"]["inventory"];
    let id = inventory["id"].as_str().expect("the set's id");
    let members = kubectl_json(&[
        "get",
        "configmaps",
        "-n",
        &ns,
        "-l",
        &format!("applyset.kubernetes.io/part-of={id}"),
    ])
    .expect("listing");
    assert_eq!(
        members["items"].as_array().map(Vec::len),
        Some(CONFIG_MAPS),
        "the members of the ApplySet"
    );
    let parent = kubectl_json(&[
        "get",
        "secret",
        inventory["name"].as_str().expect("named"),
        "-n",
        inventory["namespace"].as_str().expect("namespaced"),
    ])
    .expect("the ApplySet parent");
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        Value::from("ConfigMap"),
        "{}",
        parent["metadata"]
    );
    eventually("the Deployment bringing a second replica back", || {
        let pods = shard_pods();
        match pods.len() == 2 && pods.values().all(|r| *r) && !pods.contains_key(&leader) {
            true => Ok(()),
            false => Err(format!("{pods:?}")),
        }
    });

    // A leader that stops without a word (a hung process, a node cut off: frozen with
    // SIGSTOP, so it neither renews nor releases) loses the Lease once it expires.
    let frozen = holder().expect("a leader");
    let pid = process_of(&frozen);
    signal("STOP", pid);
    let stopped = Instant::now();
    let taken = eventually(
        "the standby taking the Lease of the frozen leader",
        || match holder() {
            Some(h) if h != frozen => Ok(h),
            other => Err(format!("held by {other:?}")),
        },
    );
    let expiry = stopped.elapsed();
    signal("CONT", pid);
    println!(
        "leader failover: a frozen leader's Lease taken by {taken} after {:.1} s",
        expiry.as_secs_f64()
    );
    drop(daemon);
}

/// The controller process of Pod `pod` on this machine (the node): the one whose environment
/// has `POD_NAME=pod`.
fn process_of(pod: &str) -> u32 {
    let wanted = format!("POD_NAME={pod}");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            comm.trim() == "kubectl-gitops"
                && environ
                    .split(|b| *b == 0)
                    .any(|var| var == wanted.as_bytes())
        })
        .unwrap_or_else(|| panic!("no process of Pod {pod} on this machine"))
}

/// `kill -SIGNAL pid`.
fn signal(name: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{name} {pid}");
}
