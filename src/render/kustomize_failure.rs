//! kustomize's complaint in plain words: kubectl wraps it in a log line (`"command failed"
//! err="..."`, quotes escaped), and the everyday mistakes come out as a chain of internal steps
//! that says the cause twice. This turns them into one sentence about the kustomization.

/// The cause kustomize gave, said once: unwrapped from kubectl's log line, and for the
/// everyday mistakes (a resource that is not there, a patch that matches nothing) in the
/// kustomization's own terms.
pub(crate) fn plain(message: &str) -> String {
    let message = unwrap_logged(message.trim());
    let message = message.strip_prefix("Error: ").unwrap_or(&message);
    missing_resource(message)
        .or_else(|| unmatched_patch(message))
        .unwrap_or_else(|| message.to_string())
}

/// `"command failed" err="..."`, kubectl's structured log of the error, as the error itself.
fn unwrap_logged(message: &str) -> String {
    let Some(quoted) = message
        .strip_prefix("\"command failed\" err=\"")
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return message.to_string();
    };
    let mut plain = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => plain.push('\n'),
                Some('t') => plain.push('\t'),
                Some(other) => plain.push(other),
                None => plain.push('\\'),
            },
            (c, false) => plain.push(c),
        }
    }
    plain
}

/// `accumulating resources from 'x.yaml': ... no such file or directory` (and the same again
/// for the directory kustomize then tried).
fn missing_resource(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("accumulating resources from '")?;
    let (resource, _) = rest.split_once('\'')?;
    let missing = message.contains("no such file or directory")
        || message.contains("does not exist")
        || message.contains("not a valid directory");
    missing.then(|| format!("resources lists {resource}, which does not exist"))
}

/// `no resource matches strategic merge patch "ConfigMap.v1.[noGrp]/nope.[noNs]"`, or `no
/// matches for Id ...`: a patch naming an object the kustomization does not hold.
fn unmatched_patch(message: &str) -> Option<String> {
    let id = if let Some((_, rest)) =
        message.split_once("no resource matches strategic merge patch \"")
    {
        rest.split_once('"')?.0
    } else {
        let (_, rest) = message.split_once("no matches for Id ")?;
        rest.split([';', ' ', '\n']).next()?
    };
    Some(format!(
        "a patch targets {}, which no resource of this kustomization is",
        object_of(id)
    ))
}

/// kustomize's resource id `Kind.version.[group]/name.[namespace]` as `Kind name` (with
/// `in namespace ns` when it has one).
fn object_of(id: &str) -> String {
    let Some((gvk, name_ns)) = id.split_once('/') else {
        return id.to_string();
    };
    let kind = gvk.split('.').next().unwrap_or(gvk);
    match name_ns.rsplit_once('.') {
        Some((name, "[noNs]")) => format!("{kind} {name}"),
        Some((name, namespace)) => format!("{kind} {name} in namespace {namespace}"),
        None => format!("{kind} {name_ns}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_resource_is_named_once() {
        let logged = r#""command failed" err="accumulating resources: accumulation err='accumulating resources from 'deployment.yaml': evalsymlink failure on '/tmp/k/deployment.yaml' : lstat /tmp/k/deployment.yaml: no such file or directory': must build at directory: not a valid directory: evalsymlink failure on '/tmp/k/deployment.yaml' : lstat /tmp/k/deployment.yaml: no such file or directory""#;
        assert_eq!(
            plain(logged),
            "resources lists deployment.yaml, which does not exist"
        );
    }

    #[test]
    fn a_patch_matching_nothing_names_the_object_it_targets() {
        let logged = r#""command failed" err="no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/nope.[noNs]\": no matches for Id ConfigMap.v1.[noGrp]/nope.[noNs]; failed to find unique target for patch ConfigMap.v1.[noGrp]/nope.[noNs]""#;
        assert_eq!(
            plain(logged),
            "a patch targets ConfigMap nope, which no resource of this kustomization is"
        );
        assert_eq!(
            plain("Error: no matches for Id apps_v1_Deployment|x; failed"),
            "a patch targets apps_v1_Deployment|x, which no resource of this kustomization is"
        );
        assert_eq!(
            object_of("Deployment.v1.apps/web.prod"),
            "Deployment web in namespace prod"
        );
    }

    #[test]
    fn other_failures_are_unwrapped_and_kept_whole() {
        assert_eq!(
            plain(r#""command failed" err="invalid Kustomization: yaml: \"x\" at line 2""#),
            r#"invalid Kustomization: yaml: "x" at line 2"#
        );
        assert_eq!(plain("Error: something else"), "something else");
        assert_eq!(
            plain("exit status: 1 with no message"),
            "exit status: 1 with no message"
        );
    }
}
