//! `kubectl gitops install`: the manifests that run the reconciler in a cluster (or, with
//! `--controller`, the controller), printed for review and `kubectl apply -f -`.

use anyhow::Result;
use clap::Args;

use super::EXIT_OK;
use super::flags::{FollowArgs, NamespaceArg, help};
use crate::controller::deployment;
use crate::inventory::identity;
use crate::runtime::DriftMode;
use crate::source::redact;
use crate::source::tree;
use crate::ui::Shell;

/// Print the manifests that run the reconciler in a cluster.
#[derive(Debug, Args)]
#[command(
    long_about = "Prints YAML for a Namespace, a ServiceAccount, least-privilege RBAC and a \
                  Deployment running `kubectl-gitops reconcile`. Nothing is sent to the \
                  cluster: review the output, then pipe it to `kubectl apply -f -`. Build the \
                  image with examples/in-cluster/Dockerfile.",
    after_help = "Examples:
  # Write the manifests for review, then apply them
  kubectl gitops install --repo git://git.example.com/platform.git --path deploy/ > gitops.yaml

  # Another namespace (-n) and your own image build
  kubectl gitops install -n gitops --repo /srv/git/platform --image registry.example.com/gitops:1

The reconciler applies namespace-less objects to --target-namespace (default: its own), and keeps
the ApplySet parent, status ConfigMap, Lease and Events there, as `kubectl gitops diff -n
TARGET` in a checkout expects them. The RBAC grants what it needs for itself there and,
cluster-wide, the kinds the examples use. To manage
other kinds, add rules to the ClusterRole kubectl-gitops-apply (see the comment there)."
)]
pub struct InstallArgs {
    /// Container image holding kubectl-gitops, git and kubectl.
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,

    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "controller",
        help = help::REPO
    )]
    pub repo: Option<String>,

    #[command(flatten)]
    pub follow: FollowArgs,

    /// Namespace namespace-less objects are applied to, which holds the ApplySet parent too
    /// (default: the namespace the reconciler runs in).
    #[arg(long, value_name = "NAMESPACE")]
    pub target_namespace: Option<String>,

    /// Replicas (more than one stand by; a Lease makes sure only one applies).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replicas: u32,

    /// A Secret in the reconciler's namespace holding the https token under the key `token`
    /// (create it with `kubectl create secret generic NAME --from-file=token=FILE`). It is
    /// mounted into the pod and read with --token-file; the token never appears in the
    /// Deployment. Credentials in --repo are refused.
    #[arg(long, value_name = "NAME")]
    pub credentials_secret: Option<String>,

    /// Namespaces in which the reconciler may manage Secrets (repeat or comma-separate).
    /// Reading Secrets is reading every credential in them, so it is granted per namespace
    /// only; without this flag no Secret can be managed.
    #[arg(long, value_name = "NAMESPACE", value_delimiter = ',')]
    pub secret_namespaces: Vec<String>,

    #[arg(long, value_name = "NAME", requires = "credentials_secret", help = help::TOKEN_USERNAME)]
    pub token_username: Option<String>,

    #[arg(long, value_enum, default_value_t = DriftMode::Heal, value_name = "MODE", help = help::DRIFT)]
    pub drift: DriftMode,

    /// Print the GitSync CRD, the controller's RBAC and Deployment instead (`kubectl gitops
    /// controller`; syncs are then GitSync objects, and --repo/--path do not apply).
    #[arg(long)]
    pub controller: bool,

    /// With --controller: also N shard Deployments, each owning the GitSyncs labelled
    /// kubectl-gitops.io/shard: shard-<i> (the first Deployment owns unlabelled ones).
    #[arg(long, default_value_t = 0, value_name = "N", requires = "controller")]
    pub shards: u32,

    #[arg(long, value_name = "NAME", requires = "controller", help = help::DEFAULT_SERVICE_ACCOUNT)]
    pub default_service_account: Option<String>,

    /// With --controller: print only the CRD.
    #[arg(long, requires = "controller")]
    pub crd_only: bool,

    #[command(flatten)]
    pub namespace: NamespaceArg,
}

impl InstallArgs {
    /// --repo, which clap requires unless --controller is given.
    fn repo(&self) -> &str {
        self.repo.as_deref().unwrap_or_default()
    }
}

/// Where the credentials Secret is mounted in the pod.
const CREDENTIALS_DIR: &str = "/var/run/secrets/kubectl-gitops/git";

const DEFAULT_NAMESPACE: &str = "gitops-system";

/// The image examples/in-cluster/Dockerfile builds; no registry serves it.
const DEFAULT_IMAGE: &str = concat!("kubectl-gitops:", env!("CARGO_PKG_VERSION"));

pub fn run(args: &InstallArgs, shell: &mut Shell) -> Result<u8> {
    let namespace = args
        .namespace
        .namespace
        .as_deref()
        .unwrap_or(DEFAULT_NAMESPACE);
    if args.controller {
        let text = if args.crd_only {
            crate::controller::manifests::crd()
        } else {
            crate::controller::manifests::render(&crate::controller::manifests::Install {
                namespace: namespace.to_string(),
                image: args.image.clone(),
                shards: args.shards,
                replicas: args.replicas,
                default_service_account: args.default_service_account.clone(),
            })
        };
        shell.out().write_all(text.as_bytes())?;
        shell.flush_out()?;
        return Ok(EXIT_OK);
    }
    let path = tree::normalize_path(&args.follow.path).map_err(anyhow::Error::msg)?;
    let path = path.to_string_lossy().into_owned();
    refuse_credentials_in_url(args.repo())?;
    if args.image == DEFAULT_IMAGE {
        shell.note(format_args!(
            "the Deployment runs the image {DEFAULT_IMAGE}, which no registry serves: build it \
             with examples/in-cluster/Dockerfile into your cluster, or pass --image"
        ));
    }
    shell
        .out()
        .write_all(manifests(args, namespace, &path).as_bytes())?;
    shell.flush_out()?;
    Ok(EXIT_OK)
}

/// `https://user:TOKEN@host/...` would put the token in the Deployment's arguments, readable
/// by everyone who may read Deployments (and in every `kubectl describe`).
fn refuse_credentials_in_url(repo: &str) -> Result<()> {
    if crate::scrub::strip_userinfo(repo) != repo {
        anyhow::bail!(
            "--repo {} carries credentials: they would be written into the Deployment for \
             anyone to read. Put the token in a Secret instead:\n  kubectl create secret \
             generic kubectl-gitops-git -n NAMESPACE --from-file=token=TOKEN_FILE\nand pass \
             --credentials-secret kubectl-gitops-git with the URL without credentials",
            crate::scrub::url(repo)
        );
    }
    Ok(())
}

/// One RoleBinding to `kubectl-gitops-secrets` per namespace the reconciler may manage
/// Secrets in, each followed by a document separator.
fn secret_bindings(namespaces: &[String], own: &str) -> String {
    namespaces
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| {
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  \
                 name: kubectl-gitops-secrets\n  namespace: {}\nroleRef:\n  apiGroup: \
                 rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: kubectl-gitops-secrets\n\
                 subjects:\n  - kind: ServiceAccount\n    name: kubectl-gitops\n    namespace: {}\n---\n",
                q(n),
                q(own)
            )
        })
        .collect()
}

/// A YAML scalar: JSON strings are valid YAML and need no further escaping.
fn q(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn manifests(args: &InstallArgs, namespace: &str, path: &str) -> String {
    let target = args.target_namespace.as_deref().unwrap_or(namespace);
    // The set the reconciler will resolve from the same flags (see `reconcile`).
    let applyset = identity::for_remote(args.repo(), path, target, None, None).name;
    let interval = humantime::format_duration(args.follow.interval).to_string();
    let ns = q(namespace);
    let target_ns = q(target);
    let mut container_args = vec![
        "reconcile".to_string(),
        format!("--repo={}", args.repo()),
        format!("--ref={}", args.follow.reference),
        format!("--path={}", if path.is_empty() { "." } else { path }),
        format!("--interval={interval}"),
        format!("--namespace={target}"),
        "--listen=0.0.0.0:9090".to_string(),
        "--log-format=json".to_string(),
        format!("--cache-dir={}", deployment::CACHE_DIR),
        format!("--drift={}", args.drift),
    ];
    let mut secret = None;
    if let Some(name) = &args.credentials_secret {
        container_args.push(format!("--token-file={CREDENTIALS_DIR}/token"));
        if let Some(user) = &args.token_username {
            container_args.push(format!("--token-username={user}"));
        }
        secret = Some((
            "git-credentials".to_string(),
            name.clone(),
            CREDENTIALS_DIR.to_string(),
        ));
    }
    let runner = deployment::Runner {
        name: "kubectl-gitops".to_string(),
        namespace: namespace.to_string(),
        service_account: "kubectl-gitops".to_string(),
        container: "reconcile".to_string(),
        image: args.image.clone(),
        replicas: args.replicas,
        args: container_args,
        // Chart dependencies fetched by helm are cached beside the repository, on the cache
        // volume.
        env: vec![("XDG_CACHE_HOME".to_string(), "/var/cache".to_string())],
        requests: ("50m", "64Mi"),
        secret,
    };
    format!(
        r#"# kubectl-gitops reconciler, generated by `kubectl gitops install` {version}.
# Follows {repo} @ {reference}, path {shown_path}; ApplySet {applyset} in namespace {target}.
# Status: kubectl gitops status --applyset {applyset} -n {target}
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kubectl-gitops
  namespace: {ns}
---
# What the reconciler needs for itself, in the target namespace only, each object by name.
# Kubernetes cannot restrict "create" by name, so creating is granted per kind and the rest
# per object.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: kubectl-gitops
  namespace: {target_ns}
rules:
  # The ApplySet parent: read to find what the set contains, patched to record its kinds.
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: [{applyset_q}]
    verbs: ["get", "patch", "update"]
  # The status ConfigMap `kubectl gitops status` reads.
  - apiGroups: [""]
    resources: ["configmaps"]
    resourceNames: [{status_q}]
    verbs: ["get", "patch", "update"]
  # The leader Lease: read, taken over and renewed.
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    resourceNames: [{lease_q}]
    verbs: ["get", "update"]
  # The first run creates the three of them.
  - apiGroups: [""]
    resources: ["secrets", "configmaps"]
    verbs: ["create"]
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["create"]
  # Applied, Pruned, DriftCorrected and ReconcileFailed on the parent.
  - apiGroups: [""]
    resources: ["events"]
    verbs: ["create", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kubectl-gitops
  namespace: {target_ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kubectl-gitops
subjects:
  - kind: ServiceAccount
    name: kubectl-gitops
    namespace: {ns}
---
# The kinds the reconciler may manage, cluster-wide: those of the examples in this repository,
# except Secrets (granted per namespace below). Each verb is used: get and list to read what
# is live (a LIST per kind and namespace), watch to put drift back within seconds, patch for
# server-side apply (and its dry-run), create where an apply creates, delete to prune.
# To manage more, add a rule per API group, e.g.
#   - apiGroups: ["networking.k8s.io"]
#     resources: ["ingresses"]
#     verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# (custom resources need their CRD's group and plural; CRDs themselves need
# apiextensions.k8s.io/customresourcedefinitions). To confine it to some namespaces, replace
# the ClusterRoleBinding below with a RoleBinding to this ClusterRole in each of them
# (Namespaces themselves then cannot be managed). Granting cluster-admin instead is one
# `kubectl create clusterrolebinding` away, and rarely what you want.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubectl-gitops-apply
rules:
  - apiGroups: [""]
    resources: ["namespaces", "configmaps", "services"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
  # --wait reads rollouts: the ReplicaSets and Pods behind a Deployment.
  - apiGroups: ["apps"]
    resources: ["replicasets"]
    verbs: ["get", "list"]
---
# Secrets, the same verbs, but only where a RoleBinding below grants them (--secret-namespaces):
# list and watch on Secrets read every credential in a namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubectl-gitops-secrets
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  # Named after the namespace: installs into two namespaces keep one binding each.
  name: kubectl-gitops-apply-{namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kubectl-gitops-apply
subjects:
  - kind: ServiceAccount
    name: kubectl-gitops
    namespace: {ns}
---
{secret_bindings}{deployment}"#,
        version = env!("CARGO_PKG_VERSION"),
        applyset_q = q(&applyset),
        status_q = q(&format!("{applyset}-status")),
        lease_q = q(&format!("{applyset}-leader")),
        secret_bindings = secret_bindings(&args.secret_namespaces, namespace),
        repo = redact::redact_url(args.repo()),
        reference = args.follow.reference,
        shown_path = if path.is_empty() { "/" } else { path },
        deployment = deployment::to_yaml(&deployment::deployment(&runner)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        install: InstallArgs,
    }

    #[test]
    fn prints_every_object_as_valid_yaml() {
        let args = Wrapper::parse_from([
            "x",
            "--repo",
            "git://git.example.com/platform.git",
            "--path",
            "deploy/prod/",
            "--image",
            "registry.example.com/kubectl-gitops:1",
        ])
        .install;
        let text = manifests(&args, "gitops-system", "deploy/prod");
        let objects =
            crate::render::load_file(std::path::Path::new("install.yaml"), text.as_bytes())
                .expect("valid manifests");
        let kinds: Vec<String> = objects.iter().map(|m| m.kind().to_string()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment"
            ]
        );
        let set = identity::for_remote(
            "git://git.example.com/platform.git",
            "deploy/prod",
            "gitops-system",
            None,
            None,
        );
        assert!(
            set.name.starts_with("gitops-platform-deploy-prod-"),
            "{}",
            set.name
        );
        assert!(text.contains(&set.name), "{text}");
        let container = &objects[7].object["spec"]["template"]["spec"]["containers"][0];
        let flags: Vec<&str> = container["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .collect();
        for flag in [
            "--namespace=gitops-system",
            "--path=deploy/prod",
            "--drift=heal",
        ] {
            assert!(flags.contains(&flag), "{flag} in {flags:?}");
        }
        assert_eq!(container["image"], "registry.example.com/kubectl-gitops:1");
    }

    #[test]
    fn credentials_come_from_a_mounted_secret_never_from_the_url() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["x", "--repo"];
            argv.extend(extra);
            Wrapper::parse_from(argv).install
        };
        let leaky = parse(&["https://user:tok3n-canary@git.example.com/org/platform.git"]);
        let err = refuse_credentials_in_url(leaky.repo())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("tok3n-canary"), "{err}");
        assert!(err.contains("--credentials-secret"), "{err}");

        let args = parse(&[
            "https://git.example.com/org/platform.git",
            "--credentials-secret",
            "git-token",
            "--token-username",
            "oauth2",
        ]);
        refuse_credentials_in_url(args.repo()).expect("a URL without userinfo");
        let text = manifests(&args, "gitops-system", ".");
        let docs: Vec<serde_json::Value> = text
            .split("\n---\n")
            .filter(|doc| !doc.trim().is_empty())
            .map(|doc| crate::yaml::from_str(doc).expect("valid YAML"))
            .collect();
        let pod = &docs.last().unwrap()["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(args.contains(&"--token-file=/var/run/secrets/kubectl-gitops/git/token"));
        assert!(args.contains(&"--token-username=oauth2"));
        assert_eq!(pod["volumes"][2]["secret"]["secretName"], "git-token");
        assert_eq!(container["volumeMounts"][2]["mountPath"], CREDENTIALS_DIR);
        assert_eq!(container["volumeMounts"][2]["readOnly"], true);
    }
}
