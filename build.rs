//! Records the git commit and target triple for `kubectl gitops version`.
use std::process::Command;

fn main() {
    let commit = std::env::var("KUBECTL_GITOPS_COMMIT")
        .ok()
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KUBECTL_GITOPS_COMMIT={commit}");
    println!(
        "cargo:rustc-env=KUBECTL_GITOPS_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rerun-if-env-changed=KUBECTL_GITOPS_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
}
