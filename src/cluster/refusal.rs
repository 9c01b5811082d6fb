//! The API server's refusals, made readable: an invalid-field message quotes the whole value it
//! refused (a Job's pod template as a Go struct runs to thousands of characters), which buries
//! the field and the rule that matter.

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
