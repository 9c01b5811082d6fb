//! A git server the cluster's Pods reach: `git daemon` on the node's address serving the
//! repositories a test writes, as a team's git host serves a GitSync (a git remote at a private
//! address is allowed; only loopback and link-local ones are refused).

use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::kubectl_json;

/// `git daemon` serving every repository under a directory on the node's address; stopped on
/// drop.
pub struct GitDaemon {
    child: Child,
    address: String,
}

impl GitDaemon {
    pub fn start(base: &Path, ip: IpAddr) -> Self {
        let port = TcpListener::bind((ip, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port on the node's address")
            .port();
        // git-daemon itself, not the `git` wrapper: killing the wrapper would leave the daemon
        // listening.
        let exec_path = git(Path::new("."), &["--exec-path"]);
        let child = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg(format!("--listen={ip}"))
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        GitDaemon {
            child,
            address: format!("{ip}:{port}"),
        }
    }

    pub fn url(&self, repository: &str) -> String {
        format!("git://{}/{repository}", self.address)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs git in `dir`, failing the test unless it succeeds; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=tenant",
            "-c",
            "user.email=tenant@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The node's InternalIP, as the Node reports it.
pub fn node_ip() -> IpAddr {
    let nodes = kubectl_json(&["get", "nodes"]).expect("listing");
    nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|node| node["status"]["addresses"].as_array().into_iter().flatten())
        .find(|address| address["type"] == "InternalIP")
        .and_then(|address| address["address"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no Node with an InternalIP: {nodes}"))
}
