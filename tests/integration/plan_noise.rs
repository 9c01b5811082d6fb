//! A plan says what matters once: failures that share a cause (a missing namespace, a kind the
//! server does not serve) are one line each, and a created object shows the fields git sets,
//! with what the server defaulted folded into one counted line.

use serde_json::Value;

use crate::support::{self, Workdir, gitops, text};

fn config_map(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n---\n"
    )
}

fn widget(name: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n---\n")
}

#[tokio::test]
async fn a_missing_namespace_and_a_missing_kind_are_each_said_once() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "noise").await;
    let missing = support::unique_name("absent");
    let mut manifests = String::new();
    for i in 0..5 {
        manifests.push_str(&config_map(&missing, &format!("cm-{i}")));
    }
    for i in 0..3 {
        manifests.push_str(&widget(&format!("w-{i}")));
    }
    manifests.push_str(&config_map(&ns, "fine"));
    let repo = Workdir::new(&[("app.yaml", &manifests)]);
    repo.git_commit_all();

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("! error"))
        .collect();
    assert_eq!(
        errors,
        [
            format!(
                "! error 5 objects in namespace {missing} (5 ConfigMap): namespace {missing} \
                 does not exist; add a Namespace {missing} to the tree, or create it \
                 (kubectl create namespace {missing})"
            )
            .as_str(),
            "! error 3 Widget objects: the server has no kind Widget in example.com/v1; add its \
             CustomResourceDefinition to the tree, or install it on the cluster",
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("1 to create, 0 to update, 0 to prune, 0 unchanged, 8 errors"),
        "{stdout}"
    );

    let out = gitops(&["diff", ".", "-n", &ns, "-o", "markdown"], repo.path());
    let (markdown, _) = text(&out);
    let shared: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("**Error**"))
        .collect();
    assert_eq!(shared.len(), 2, "{markdown}");
    assert!(
        shared[0].contains(&format!("5 objects in namespace {missing}")),
        "{markdown}"
    );
    assert!(shared[1].contains("3 Widget objects"), "{markdown}");

    // JSON keeps one entry per object, each with its shared reason.
    let out = gitops(&["diff", ".", "-n", &ns, "-o", "json"], repo.path());
    let (json, _) = text(&out);
    let plan: Value = serde_json::from_str(&json).unwrap();
    let reasons: Vec<String> = plan["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"]["type"].as_str().unwrap_or("none").to_string())
        .collect();
    assert_eq!(
        reasons,
        [vec!["namespaceNotFound"; 5], vec!["kindNotFound"; 3]].concat()
    );
    assert_eq!(plan["errors"][0]["reason"]["namespace"], missing.as_str());
    assert_eq!(plan["errors"][5]["reason"]["kind"], "Widget");
    assert_eq!(plan["errors"][5]["reason"]["apiVersion"], "example.com/v1");
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[tokio::test]
async fn a_created_deployment_shows_what_git_sets_and_counts_the_server_defaults() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "quiet").await;
    let repo = Workdir::new(&[("web.yaml", DEPLOYMENT)]);
    repo.git_commit_all();

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (quiet, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{quiet}\n{stderr}");
    for written in [
        "+        image: nginx:1.27",
        "+      app: web",
        "+  name: web",
    ] {
        assert!(quiet.contains(written), "{written:?} is shown\n{quiet}");
    }
    for defaulted in [
        "dnsPolicy",
        "terminationMessagePath",
        "schedulerName",
        "maxSurge",
    ] {
        assert!(!quiet.contains(defaulted), "{defaulted} is folded\n{quiet}");
    }
    let fold = quiet
        .lines()
        .find(|l| l.contains("defaulted by the server (--show-defaults)"))
        .unwrap_or_else(|| panic!("a fold line\n{quiet}"));
    let count: usize = fold
        .trim_start()
        .trim_start_matches("# ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{fold}"));
    assert!(count >= 10, "a Deployment gets many defaults: {fold}");

    let out = gitops(&["diff", ".", "-n", &ns, "--show-defaults"], repo.path());
    let (full, _) = text(&out);
    assert!(full.contains("+      dnsPolicy: ClusterFirst"), "{full}");
    assert!(
        full.contains("+        imagePullPolicy: IfNotPresent"),
        "{full}"
    );
    assert!(!full.contains("defaulted by the server"), "{full}");
    let added = |text: &str| text.lines().filter(|l| l.starts_with('+')).count();
    assert!(
        added(&full) >= added(&quiet) + count / 2,
        "the defaults come back: {} vs {} lines\n{full}",
        added(&full),
        added(&quiet)
    );

    // JSON lists the defaulted fields and keeps them in `after`.
    let out = gitops(&["diff", ".", "-n", &ns, "-o", "json"], repo.path());
    let (json, _) = text(&out);
    let plan: Value = serde_json::from_str(&json).unwrap();
    let defaulted = plan["changes"][0]["defaulted"].as_array().unwrap();
    assert_eq!(defaulted.len(), count, "{defaulted:?}");
    assert!(defaulted.contains(&Value::from("spec.template.spec.dnsPolicy")));
    assert_eq!(
        plan["changes"][0]["after"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );

    // An update shows every changed field, the server's defaults included.
    let out = gitops(&["apply", ".", "-n", &ns, "--yes"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    repo.write(
        "web.yaml",
        &format!("{DEPLOYMENT}        ports:\n        - containerPort: 8080\n"),
    );
    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (update, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{update}\n{stderr}");
    assert!(
        update.contains(&format!("~ update Deployment/{ns}/web")),
        "{update}"
    );
    assert!(
        update.contains("+        - containerPort: 8080"),
        "{update}"
    );
    assert!(
        update.contains("+          protocol: TCP"),
        "the defaulted protocol of the new port is shown\n{update}"
    );
    assert!(!update.contains("defaulted by the server"), "{update}");
}

#[tokio::test]
async fn a_created_secret_written_with_string_data_shows_its_keys_masked() {
    let client = support::admin().await;
    let ns = support::namespace(&client, "quiet-secret").await;
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {ns}\n\
         stringData:\n  password: plain-canary-4821\n  user: app\n"
    );
    let repo = Workdir::new(&[("secret.yaml", &secret)]);
    repo.git_commit_all();

    let out = gitops(&["diff", ".", "-n", &ns], repo.path());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // The server keeps stringData as data: the keys git wrote are shown there, masked, and
    // only what the server added (type: Opaque) is folded.
    assert!(stdout.contains("+  password: '***'"), "{stdout}");
    assert!(stdout.contains("+  user: '***'"), "{stdout}");
    assert!(!stdout.contains("plain-canary-4821"), "{stdout}");
    assert!(!stdout.contains("type: Opaque"), "{stdout}");
    assert!(
        stdout.contains("# 1 field defaulted by the server"),
        "{stdout}"
    );
}
