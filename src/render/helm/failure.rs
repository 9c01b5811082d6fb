//! Why a fetch by helm failed, in our own words. helm's messages quote what the server sent (a
//! status line's text, a registry's error body, a URL from an index): whoever runs a chart
//! repository could so write into a GitSync's status, its Events and the controller's log. The
//! reason is read from helm's output but never copied from it: an HTTP status code, a class of
//! network failure, the fetch proxy's own refusal, or a fixed sentence.

/// Our account of helm's failed fetch (`output` is its stderr and stdout), for the command
/// `what`.
pub(crate) fn describe(output: &str, what: &str) -> String {
    if let Some(refusal) = crate::source::egress::refusal_in(output) {
        return refusal;
    }
    let lower = output.to_ascii_lowercase();
    if let Some(code) = status_code(&lower) {
        return format!("the server answered HTTP {code}");
    }
    let classes: &[(&[&str], &str)] = &[
        (
            &["digest mismatch", "does not match", "checksum"],
            "the archive does not match the digest its lock or index gives",
        ),
        (
            &[
                "no chart version found",
                "not found in",
                "no chart name found",
            ],
            "the repository's index does not list this chart version",
        ),
        (
            &["proxyconnect"],
            "the controller's fetch proxy could not be reached",
        ),
        (&["connection refused"], "the connection was refused"),
        (
            &["no such host", "server misbehaving", "lookup "],
            "the host name does not resolve",
        ),
        (
            &[
                "i/o timeout",
                "deadline exceeded",
                "timeout awaiting",
                "handshake timeout",
                "client.timeout",
            ],
            "the server did not answer in time",
        ),
        (
            &["x509:", "tls:", "certificate"],
            "the TLS handshake failed (the server's certificate is not trusted or not valid)",
        ),
        (
            &["connection reset", "eof", "broken pipe"],
            "the connection closed before a complete answer",
        ),
        (
            &[
                "not a valid chart repository",
                "yaml:",
                "json:",
                "gzip:",
                "tar:",
            ],
            "what the server sent is not a chart repository index or chart archive",
        ),
        (
            &["unauthorized", "authentication required", "denied"],
            "the server refused the credentials",
        ),
    ];
    for (markers, reason) in classes {
        if markers.iter().any(|m| lower.contains(m)) {
            return (*reason).to_string();
        }
    }
    format!(
        "`{what}` failed; its message is not shown, as it may quote what the server sent (run \
         `{what}` with the chart to see it)"
    )
}

/// The HTTP status code helm reports: `failed to fetch URL : 404 Not Found`, or a registry's
/// `... status code 401 ...` / `response status code 403`.
fn status_code(lower: &str) -> Option<u16> {
    let after = |marker: &str| -> Option<u16> {
        lower.match_indices(marker).find_map(|(at, _)| {
            let rest = &lower[at + marker.len()..];
            let rest = match marker {
                // The URL runs to ` : `, then the code.
                "failed to fetch " => rest.split_once(" : ")?.1,
                _ => rest,
            };
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (digits.len() == 3)
                .then(|| digits.parse().ok())
                .flatten()
                .filter(|code| (100..600).contains(code))
        })
    };
    after("failed to fetch ")
        .or_else(|| after("status code "))
        .or_else(|| after("status: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-7f3e";

    #[test]
    fn an_http_status_is_reported_by_its_code_never_its_text() {
        let helm = format!(
            "Error: looks like \"http://charts.example.com\" is not a valid chart repository or \
             cannot be reached: failed to fetch http://charts.example.com/index.yaml : 404 \
             {CANARY} gone"
        );
        assert_eq!(
            describe(&helm, "helm dependency build"),
            "the server answered HTTP 404"
        );
        let oci = format!(
            "Error: failed to authorize: unexpected status code 401: unauthorized: {CANARY}"
        );
        assert_eq!(describe(&oci, "helm pull"), "the server answered HTTP 401");
    }

    #[test]
    fn network_failures_are_named_by_their_class() {
        for (helm, class) in [
            (
                "Get \"http://127.0.0.1:1/index.yaml\": dial tcp 127.0.0.1:1: connect: connection refused",
                "refused",
            ),
            (
                "dial tcp: lookup charts.invalid on 10.0.0.10:53: no such host",
                "does not resolve",
            ),
            ("net/http: TLS handshake timeout", "in time"),
            (
                "tls: failed to verify certificate: x509: unknown authority",
                "TLS",
            ),
        ] {
            assert!(describe(helm, "helm pull").contains(class), "{helm}");
        }
    }

    #[test]
    fn anything_else_is_a_fixed_sentence_without_helms_words() {
        let reason = describe(&format!("Error: {CANARY}"), "helm pull");
        assert!(!reason.contains(CANARY), "{reason}");
        assert!(reason.contains("`helm pull` failed"), "{reason}");
        let yaml = describe(
            &format!("error converting YAML to JSON: yaml: line 3: {CANARY}"),
            "helm dependency build",
        );
        assert!(!yaml.contains(CANARY) && yaml.contains("not a chart repository"));
    }
}
