//! The API server's refusals, made readable. A person reads the server's own message once,
//! never the Rust structure around it (`Status { status: Some(Failure), ... }`): an
//! invalid-field message has the long value it quotes cut (a Job's pod template as a Go struct
//! runs to thousands of characters, burying the field and the rule that matter), and a 403
//! says which right is missing, how `kubectl auth can-i` checks it and how to grant it.

use kube::core::Status;

/// Quoted values longer than this are cut to `{…}` / `[…]` / `"…"`.
const LONGEST_VALUE: usize = 120;

/// `message` with every long `Invalid value: …` cut, and a hint for the immutable pod template
/// of a Job (the usual case: a migration Job whose image follows the app's).
pub fn tidy(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(at) = rest.find("Invalid value: ") {
        let start = at + "Invalid value: ".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        // A value whose end cannot be found is left as it is, rule and all.
        let Some(len) = value_len(rest) else {
            continue;
        };
        if len > LONGEST_VALUE {
            out.push_str(match rest.as_bytes()[0] {
                b'{' => "{…}",
                b'[' => "[…]",
                _ => "\"…\"",
            });
        } else {
            out.push_str(&rest[..len]);
        }
        rest = &rest[len..];
    }
    out.push_str(rest);
    if out.contains("Job.batch")
        && out.contains("spec.template")
        && out.contains("field is immutable")
    {
        out.push_str(
            " (a Job's pod template cannot change once it exists: delete the Job so the next \
             apply creates it anew, or give the new one another name)",
        );
    }
    out
}

/// What the server said, as a person reads it: its message once, tidied, and for a 403 the
/// right that is missing (see [`MissingRight`]).
pub fn explain(status: &Status) -> String {
    let mut said = if status.message.is_empty() {
        format!(
            "the server refused the request: {} (HTTP {})",
            if status.reason.is_empty() {
                "no reason given"
            } else {
                &status.reason
            },
            status.code
        )
    } else {
        tidy(&status.message)
    };
    if status.code == 403
        && let Some(missing) = MissingRight::of(&status.message)
    {
        said.push_str(" (");
        said.push_str(&missing.advice());
        said.push(')');
    }
    said
}

/// An error and its causes on one line, like anyhow's `{:#}`, for every error a person reads
/// (the terminal, a GitSync's status, Events): the server's refusal is said once through
/// [`explain`] and the layers below it (kube's `Status` dump) are left out; no answer from the
/// server is said in its own words; a cause the line already holds is not repeated.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let push = |line: &mut String, text: &str| {
        if text.is_empty() || line.ends_with(text) {
            return;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    };
    for cause in err.chain() {
        if let Some(said) = no_answer(cause) {
            push(&mut line, &said);
            break;
        }
        if let Some(status) = refusal_of(cause) {
            let said = explain(status);
            // A context that already quoted the server's message gets only what it lacks.
            let message = tidy(&status.message);
            if !message.is_empty() && line.contains(&message) {
                push(&mut line, said.trim_start_matches(&message).trim_start());
            } else {
                push(&mut line, &said);
            }
            break;
        }
        push(&mut line, &cause.to_string());
    }
    line
}

/// The server's refusal, if `cause` is one: kube's error around it, or the `Status` itself.
fn refusal_of<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a Status> {
    if let Some(kube::Error::Api(status)) = cause.downcast_ref::<kube::Error>() {
        return Some(status);
    }
    cause.downcast_ref::<Status>()
}

fn no_answer(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    let kube = cause.downcast_ref::<kube::Error>()?;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(kube);
    while let Some(layer) = source {
        if let Some(said) = layer.downcast_ref::<super::NoAnswer>() {
            return Some(said.0.clone());
        }
        if let Some(gone) = layer.downcast_ref::<super::NotAttempted>() {
            return Some(gone.to_string());
        }
        source = layer.source();
    }
    None
}

/// The right a 403 says is missing, read from the authorizer's message: `User "u" cannot get
/// resource "secrets" in API group "" in the namespace "ns"` (or `at the cluster scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRight {
    pub user: String,
    pub verb: String,
    /// The resource as `kubectl auth can-i` names it: `secrets`, `deployments.apps`.
    pub resource: String,
    pub subresource: Option<String>,
    /// None at the cluster scope.
    pub namespace: Option<String>,
}

impl MissingRight {
    pub fn of(message: &str) -> Option<MissingRight> {
        let rest = &message[message.find("User \"")? + "User \"".len()..];
        let (user, rest) = rest.split_once("\" cannot ")?;
        let (verb, rest) = rest.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once("\" in API group \"")?;
        let (group, rest) = rest.split_once('"')?;
        let namespace = match rest.strip_prefix(" in the namespace \"") {
            Some(ns) => Some(ns.split_once('"')?.0.to_string()),
            None if rest.starts_with(" at the cluster scope") => None,
            None => return None,
        };
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, sub)) => (r, Some(sub.to_string())),
            None => (resource, None),
        };
        let resource = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let plain = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
        if !(plain(user) && plain(verb) && plain(&resource)) {
            return None;
        }
        Some(MissingRight {
            user: user.to_string(),
            verb: verb.to_string(),
            resource,
            subresource,
            namespace,
        })
    }

    /// One clause: the right, how to check it, how to grant it.
    pub fn advice(&self) -> String {
        let MissingRight {
            user,
            verb,
            resource,
            subresource,
            namespace,
        } = self;
        let (scope, can_i_scope, role_kind, ns_flag) = match namespace {
            Some(ns) => (
                format!("in namespace {ns}"),
                format!("-n {ns}"),
                "role",
                format!(" -n {ns}"),
            ),
            None => (
                "cluster-wide".to_string(),
                "-A".to_string(),
                "clusterrole",
                String::new(),
            ),
        };
        let sub_flag = subresource
            .as_ref()
            .map(|s| format!(" --subresource={s}"))
            .unwrap_or_default();
        let sub_resource = subresource
            .as_ref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        let what = match subresource {
            Some(sub) => format!("{resource} {sub}"),
            None => resource.clone(),
        };
        let role = format!(
            "gitops-{verb}-{}",
            resource.replace('.', "-") + &sub_resource.replace('/', "-")
        );
        let subject = match user.strip_prefix("system:serviceaccount:") {
            Some(account) => format!("--serviceaccount={account}"),
            None => format!("--user={user}"),
        };
        let role_flag = if namespace.is_some() {
            "--role"
        } else {
            "--clusterrole"
        };
        format!(
            "missing right: {user} may not {verb} {what} {scope}; \
             `kubectl auth can-i {verb} {resource}{sub_flag} {can_i_scope} --as={user}` checks it, \
             and `kubectl create {role_kind} {role} --verb={verb} --resource={resource}{sub_resource}{ns_flag}` \
             with `kubectl create {role_kind}binding {role} {role_flag}={role} {subject}{ns_flag}` grants it"
        )
    }
}

/// How many bytes of `text` the value at its start takes: a balanced `{…}` or `[…]` (quoted
/// strings inside skipped), a quoted string, or up to the next `": "`; None when it does not end.
fn value_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut quoted = false;
            let mut escaped = false;
            for (i, &b) in bytes.iter().enumerate() {
                if quoted {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => quoted = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => quoted = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        Some(b'"') => {
            let mut escaped = false;
            for (i, &b) in bytes.iter().enumerate().skip(1) {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => return Some(i + 1),
                    _ => {}
                }
            }
            None
        }
        _ => Some(text.find(": ").unwrap_or(text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(message: &str) -> Status {
        Status::failure(message, "Forbidden").with_code(403)
    }

    const SECRETS_FORBIDDEN: &str = "secrets \"db\" is forbidden: User \"system:serviceaccount:team:deployer\" cannot get resource \"secrets\" in API group \"\" in the namespace \"apps\"";

    #[test]
    fn a_403_names_the_missing_right_and_how_to_check_and_grant_it() {
        assert_eq!(
            explain(&forbidden(SECRETS_FORBIDDEN)),
            format!(
                "{SECRETS_FORBIDDEN} (missing right: system:serviceaccount:team:deployer may not \
                 get secrets in namespace apps; `kubectl auth can-i get secrets -n apps \
                 --as=system:serviceaccount:team:deployer` checks it, and `kubectl create role \
                 gitops-get-secrets --verb=get --resource=secrets -n apps` with `kubectl create \
                 rolebinding gitops-get-secrets --role=gitops-get-secrets \
                 --serviceaccount=team:deployer -n apps` grants it)"
            )
        );
    }

    #[test]
    fn a_cluster_scoped_right_in_an_api_group_is_granted_by_a_cluster_role() {
        let message = "customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"restricted\" cannot list resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope";
        let missing = MissingRight::of(message).unwrap();
        assert_eq!(missing.namespace, None);
        let advice = missing.advice();
        for part in [
            "restricted may not list customresourcedefinitions.apiextensions.k8s.io cluster-wide",
            "kubectl auth can-i list customresourcedefinitions.apiextensions.k8s.io -A --as=restricted",
            "kubectl create clusterrole gitops-list-customresourcedefinitions-apiextensions-k8s-io",
            "--clusterrole=gitops-list-customresourcedefinitions-apiextensions-k8s-io --user=restricted",
        ] {
            assert!(advice.contains(part), "{part}\n{advice}");
        }
    }

    #[test]
    fn a_subresource_is_checked_and_granted_as_kubectl_spells_it() {
        let message = "deployments.apps \"web\" is forbidden: User \"u\" cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"n\"";
        let advice = MissingRight::of(message).unwrap().advice();
        assert!(
            advice.contains("kubectl auth can-i patch deployments.apps --subresource=scale -n n"),
            "{advice}"
        );
        assert!(
            advice.contains("--resource=deployments.apps/scale -n n"),
            "{advice}"
        );
    }

    #[test]
    fn a_refusal_in_an_error_chain_is_said_once_without_the_structure() {
        let err = kube::Error::Api(Box::new(forbidden(SECRETS_FORBIDDEN)));
        let err = anyhow::Error::new(err).context("reading Secret/apps/db");
        let line = one_line(&err);
        assert!(
            line.starts_with(&format!(
                "reading Secret/apps/db: {SECRETS_FORBIDDEN} (missing right:"
            )),
            "{line}"
        );
        assert_eq!(line.matches("is forbidden").count(), 1, "{line}");
        for dump in ["Status {", "Some(", "ListMeta", "ApiError"] {
            assert!(!line.contains(dump), "{dump} in {line}");
        }
        // A context that quoted the server already gets only the advice.
        let err = kube::Error::Api(Box::new(forbidden(SECRETS_FORBIDDEN)));
        let err =
            anyhow::Error::new(err).context(format!("reading Secret/apps/db: {SECRETS_FORBIDDEN}"));
        let line = one_line(&err);
        assert_eq!(line.matches("is forbidden").count(), 1, "{line}");
        assert!(line.contains("missing right"), "{line}");
    }

    #[test]
    fn other_refusals_are_the_servers_message_alone() {
        let status = Status::failure("namespaces \"gone\" not found", "NotFound").with_code(404);
        assert_eq!(explain(&status), "namespaces \"gone\" not found");
        let escalation = "rolebindings.rbac.authorization.k8s.io \"x\" is forbidden: user \"u\" is attempting to grant RBAC permissions not currently held";
        assert_eq!(explain(&forbidden(escalation)), escalation);
        let silent = Status::failure("", "Forbidden").with_code(403);
        assert_eq!(
            explain(&silent),
            "the server refused the request: Forbidden (HTTP 403)"
        );
    }

    #[test]
    fn a_long_refused_value_is_cut_and_the_rule_stays() {
        let dump = format!(
            "{{\"labels\":{{\"job-name\":\"migrate\"}},\"Spec\":{{\"Containers\":[{{\"Name\":\"m\",\
             \"Image\":\"busybox:1.37\",\"Command\":null}}],\"Note\":\"a }} in a string\",{}}}}}",
            "\"Pad\":0,".repeat(30).trim_end_matches(',')
        );
        let message = format!(
            "Job.batch \"migrate\" is invalid: spec.template: Invalid value: {dump}: field is immutable"
        );
        let tidy = tidy(&message);
        assert!(
            tidy.starts_with(
                "Job.batch \"migrate\" is invalid: spec.template: Invalid value: {…}: field is immutable (a Job's pod template cannot change"
            ),
            "{tidy}"
        );
    }

    #[test]
    fn short_values_and_other_messages_are_left_as_the_server_wrote_them() {
        for message in [
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "Service \"web\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "ConfigMap \"a\" is invalid: metadata.name: Invalid value: \"A_b\": a lowercase RFC 1123 subdomain must consist of ...",
            "namespaces \"gone\" not found",
        ] {
            assert_eq!(tidy(message), message);
        }
    }

    #[test]
    fn a_value_that_never_ends_is_left_whole() {
        let message = format!(
            "X \"a\" is invalid: spec: Invalid value: {{\"a\":{}",
            "1".repeat(300)
        );
        assert_eq!(tidy(&message), message);
    }

    #[test]
    fn several_values_in_one_message_are_each_judged() {
        let long = format!("\"{}\"", "x".repeat(200));
        let message = format!(
            "X \"a\" is invalid: [spec.a: Invalid value: {long}: too long, spec.b: Invalid value: 3: too big]"
        );
        assert_eq!(
            tidy(&message),
            "X \"a\" is invalid: [spec.a: Invalid value: \"…\": too long, spec.b: Invalid value: 3: too big]"
        );
    }
}
