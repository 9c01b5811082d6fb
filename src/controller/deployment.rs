//! The Deployment that runs kubectl-gitops in a cluster, as `install` prints it for the
//! controller (one per shard) and for the reconciler: one function, built from k8s-openapi's
//! types, so the two cannot drift apart in how they run (non-root, read-only root filesystem,
//! probes on /healthz and /readyz, metrics on 9090, a cache volume).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Where the runners cache git, charts and discovery: a volume, the root filesystem being
/// read-only.
pub const CACHE_DIR: &str = "/var/cache/kubectl-gitops";
/// The port of /metrics, /healthz and /readyz (`--listen=0.0.0.0:9090`).
pub const METRICS_PORT: i32 = 9090;
/// The user the image runs as (distroless `nonroot`).
const NONROOT: i64 = 65532;

/// What differs between the runners' Deployments.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The Deployment's name, and its `app.kubernetes.io/name`.
    pub name: String,
    pub namespace: String,
    pub service_account: String,
    /// The container's name: the subcommand it runs.
    pub container: String,
    pub image: String,
    /// More than one is safe: replicas elect a leader with a Lease and only it applies.
    pub replicas: u32,
    /// The subcommand and its flags.
    pub args: Vec<String>,
    /// Environment beyond what every runner gets (its pod name, HOME and the cache).
    pub env: Vec<(String, String)>,
    /// CPU and memory requested; every runner is limited to 512Mi.
    pub requests: (&'static str, &'static str),
    /// A Secret mounted read-only (the git credentials): volume name, Secret, mount path.
    pub secret: Option<(String, String, String)>,
}

/// The Deployment that runs `runner`.
pub fn deployment(runner: &Runner) -> Deployment {
    let labels = BTreeMap::from([("app.kubernetes.io/name".to_string(), runner.name.clone())]);
    let annotations = BTreeMap::from(
        [
            ("prometheus.io/scrape", "true".to_string()),
            ("prometheus.io/port", METRICS_PORT.to_string()),
            ("prometheus.io/path", "/metrics".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    Deployment {
        metadata: ObjectMeta {
            name: Some(runner.name.clone()),
            namespace: Some(runner.namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(runner.replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod(runner)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The Deployment as YAML, one document ending in a newline.
pub fn to_yaml(deployment: &Deployment) -> String {
    let value = serde_json::to_value(deployment).unwrap_or_default();
    crate::yaml::emit::to_yaml(&value)
}

fn pod(runner: &Runner) -> PodSpec {
    let mut volumes = vec![empty_dir("cache"), empty_dir("tmp")];
    let mut mounts = vec![mount("cache", CACHE_DIR), mount("tmp", "/tmp")];
    if let Some((volume, secret, path)) = &runner.secret {
        volumes.push(Volume {
            name: volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            read_only: Some(true),
            ..mount(volume, path)
        });
    }
    PodSpec {
        service_account_name: Some(runner.service_account.clone()),
        // SIGTERM lets the work in progress finish (up to --shutdown-grace, 20s) and releases
        // the Lease so a standby takes over at once.
        termination_grace_period_seconds: Some(30),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT),
            run_as_group: Some(NONROOT),
            fs_group: Some(NONROOT),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(runner, mounts)],
        volumes: Some(volumes),
        ..PodSpec::default()
    }
}

fn container(runner: &Runner, mounts: Vec<VolumeMount>) -> Container {
    let pod_name = EnvVar {
        name: "POD_NAME".to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".to_string(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    // Anything cached without --cache-dir still goes to the cache volume, not $HOME.
    let fixed = [("HOME", "/tmp"), ("KUBECTL_GITOPS_CACHE_DIR", CACHE_DIR)]
        .map(|(name, value)| (name.to_string(), value.to_string()));
    let env = std::iter::once(pod_name)
        .chain(
            fixed
                .into_iter()
                .chain(runner.env.iter().cloned())
                .map(|(name, value)| EnvVar {
                    name,
                    value: Some(value),
                    ..EnvVar::default()
                }),
        )
        .collect();
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("metrics".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        ..Probe::default()
    };
    let (cpu, memory) = runner.requests;
    Container {
        name: runner.container.clone(),
        image: Some(runner.image.clone()),
        command: Some(vec!["kubectl-gitops".to_string()]),
        args: Some(runner.args.clone()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".to_string()),
            container_port: METRICS_PORT,
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(probe("/healthz", 20)),
        readiness_probe: Some(probe("/readyz", 5)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity(cpu.to_string())),
                ("memory".to_string(), Quantity(memory.to_string())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("512Mi".to_string()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        ..VolumeMount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runner() -> Runner {
        Runner {
            name: "kubectl-gitops".into(),
            namespace: "gitops-system".into(),
            service_account: "kubectl-gitops".into(),
            container: "reconcile".into(),
            image: "registry.example.com/kubectl-gitops:1".into(),
            replicas: 2,
            args: vec![
                "reconcile".into(),
                "--repo=https://git.example.com/a".into(),
            ],
            env: vec![("XDG_CACHE_HOME".into(), "/var/cache".into())],
            requests: ("50m", "64Mi"),
            secret: Some((
                "git-credentials".into(),
                "git-token".into(),
                "/var/run/secrets/kubectl-gitops/git".into(),
            )),
        }
    }

    fn printed(runner: &Runner) -> serde_json::Value {
        crate::yaml::from_str(&to_yaml(&deployment(runner))).expect("valid YAML")
    }

    #[test]
    fn a_runner_runs_as_nobody_on_a_read_only_root_with_its_cache_on_a_volume() {
        let printed = printed(&runner());
        assert_eq!(printed["apiVersion"], "apps/v1");
        assert_eq!(printed["kind"], "Deployment");
        assert_eq!(printed["spec"]["replicas"], 2);
        let pod = &printed["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 65532);
        let container = &pod["containers"][0];
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(container["volumeMounts"][0]["mountPath"], CACHE_DIR);
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["port"], "metrics");
        assert_eq!(container["resources"]["requests"]["cpu"], "50m");
        assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
        let env: Vec<&str> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(
            env,
            [
                "POD_NAME",
                "HOME",
                "KUBECTL_GITOPS_CACHE_DIR",
                "XDG_CACHE_HOME"
            ]
        );
    }

    #[test]
    fn the_selector_matches_the_pods_it_makes() {
        let printed = printed(&runner());
        assert_eq!(
            printed["spec"]["selector"]["matchLabels"],
            printed["spec"]["template"]["metadata"]["labels"]
        );
        assert_eq!(
            printed["metadata"]["labels"]["app.kubernetes.io/name"],
            "kubectl-gitops"
        );
    }

    #[test]
    fn a_secret_is_mounted_read_only_and_readable_by_its_owner_alone() {
        let with = printed(&runner());
        let pod = &with["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"][2]["secret"]["secretName"], "git-token");
        // 0400, as a number: what the API server stores for the octal YAML 1.1 spelling.
        assert_eq!(pod["volumes"][2]["secret"]["defaultMode"], 0o400);
        assert_eq!(pod["containers"][0]["volumeMounts"][2]["readOnly"], true);

        let without = printed(&Runner {
            secret: None,
            ..runner()
        });
        let pod = &without["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"].as_array().map(Vec::len), Some(2));
    }
}
