//! The image `tests/image.sh build gitops` makes is the one examples/in-cluster/Dockerfile
//! describes: the runtime stage's user, environment, entrypoint, command, port and volume, the
//! files it copies in and the programs it installs are all in the built archive.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn archive() -> PathBuf {
    let state = std::env::var_os("GITOPS_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-cluster"));
    let archive = state.join("images/gitops.tar");
    assert!(
        archive.is_file(),
        "no image archive at {}: build it with `tests/image.sh build gitops` (tests/node.sh does)",
        archive.display()
    );
    archive
}

/// One member of the OCI archive, through the real `tar`.
fn member(archive: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(path)
        .output()
        .expect("running tar");
    assert!(
        out.status.success(),
        "tar -xOf {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn blob(archive: &Path, digest: &Value) -> Vec<u8> {
    let digest = digest.as_str().expect("a digest");
    member(
        archive,
        &format!("./blobs/sha256/{}", digest.trim_start_matches("sha256:")),
    )
}

/// The instructions of the Dockerfile's last stage, continuation lines joined: (keyword, rest).
fn runtime_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = joined
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("the Dockerfile has a FROM");
    joined[last_from + 1..]
        .iter()
        .filter_map(|l| {
            let (keyword, rest) = l.split_once(' ')?;
            Some((keyword.to_string(), rest.trim().to_string()))
        })
        .collect()
}

#[test]
fn the_release_image_holds_what_the_dockerfile_runtime_stage_describes() {
    let dockerfile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/in-cluster/Dockerfile"),
    )
    .expect("reading the Dockerfile");
    let archive = archive();
    let index: Value = serde_json::from_slice(&member(&archive, "./index.json")).unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(&archive, &index["manifests"][0]["digest"])).unwrap();
    let config: Value = serde_json::from_slice(&blob(&archive, &manifest["config"]["digest"]))
        .expect("the image config");
    let config = &config["config"];
    let mut files = String::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        let digest = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"tar -xOf "$1" "./blobs/sha256/$2" | tar -tzf -"#)
            .args(["sh"])
            .arg(&archive)
            .arg(digest)
            .output()
            .expect("listing a layer");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        files.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let has_file = |path: &str| {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        files
            .lines()
            .any(|f| f.trim_start_matches("./").trim_end_matches('/') == path)
    };

    let stage = runtime_stage(&dockerfile);
    let mut checked = 0;
    for (keyword, rest) in &stage {
        match keyword.as_str() {
            "USER" => assert_eq!(config["User"], rest.as_str(), "USER"),
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let env = config["Env"].as_array().expect("Env");
                    assert!(env.iter().any(|e| e == pair), "ENV {pair} not in {env:?}");
                }
            }
            "ENTRYPOINT" | "CMD" => {
                let want: Value = serde_json::from_str(rest).expect("exec form");
                let key = if keyword == "CMD" {
                    "Cmd"
                } else {
                    "Entrypoint"
                };
                assert_eq!(config[key], want, "{keyword}");
            }
            "EXPOSE" => assert!(
                config["ExposedPorts"].get(format!("{rest}/tcp")).is_some(),
                "EXPOSE {rest}: {}",
                config["ExposedPorts"]
            ),
            "VOLUME" => {
                let want: Vec<String> = serde_json::from_str(rest).expect("exec form");
                for volume in want {
                    assert!(config["Volumes"].get(&volume).is_some(), "VOLUME {volume}");
                    assert!(has_file(&volume), "{volume} is not in the image");
                }
            }
            "COPY" => {
                let destination = rest.split_whitespace().last().expect("a destination");
                assert!(
                    has_file(destination),
                    "COPY {rest}: {destination} is not in the image"
                );
            }
            "RUN" if rest.contains("apt-get install") => {
                // The programs of the packages the stage installs.
                for (package, path) in [
                    ("git", "usr/bin/git"),
                    ("ca-certificates", "etc/ssl/certs/ca-certificates.crt"),
                ] {
                    if rest.split_whitespace().any(|w| w == package) {
                        assert!(has_file(path), "{package}: {path} is not in the image");
                    }
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} instructions of the runtime stage checked: {stage:?}"
    );
}
