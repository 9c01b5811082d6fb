//! Keeping credentials out of logs, status and Events: URLs lose their userinfo, and any known
//! secret text (a token, the URL as given) is masked wherever it shows up in a message.

/// `scheme://user:password@host/path` -> `scheme://***@host/path`. scp-like addresses
/// (`git@host:org/repo`) and local paths carry no secret and are returned as they are.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}***@{}{}",
            &url[..scheme_end + 3],
            &authority[at + 1..],
            &rest[authority_end..]
        ),
        None => url.to_string(),
    }
}

/// The repository's name as `kubectl gitops diff` in a checkout sees it: the last path segment
/// of the URL, without a trailing `.git` (`https://host/org/platform.git` -> `platform`).
pub fn repository_name(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    // scp-like `host:org/repo` and `host:repo`: the path follows the colon.
    let path = match without_query.find("://") {
        Some(i) => &without_query[i + 3..],
        None => without_query
            .split_once(':')
            .filter(|(host, _)| !host.contains('/') && host.len() > 1)
            .map(|(_, path)| path)
            .unwrap_or(without_query),
    };
    let last = path
        .trim_end_matches('/')
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() {
        "repository".to_string()
    } else {
        name.to_string()
    }
}

/// Masks every occurrence of each secret in `text` (empty secrets are ignored).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(secret, "***");
    }
    out
}

/// Text cut to at most `max` bytes on a character boundary, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_from_urls() {
        assert_eq!(
            redact_url("https://x-access-token:ghp_secret@github.com/org/repo.git"),
            "https://***@github.com/org/repo.git"
        );
        assert_eq!(
            redact_url("https://ghp_secret@github.com/org/repo"),
            "https://***@github.com/org/repo"
        );
        assert_eq!(
            redact_url("https://github.com/org/repo?a=b@c"),
            "https://github.com/org/repo?a=b@c"
        );
        assert_eq!(
            redact_url("git://127.0.0.1:9418/repo.git"),
            "git://127.0.0.1:9418/repo.git"
        );
        assert_eq!(
            redact_url("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
        assert_eq!(redact_url("/srv/git/repo"), "/srv/git/repo");
    }

    #[test]
    fn repository_names_match_what_a_checkout_is_called() {
        assert_eq!(
            repository_name("https://github.com/org/platform.git"),
            "platform"
        );
        assert_eq!(
            repository_name("https://github.com/org/platform"),
            "platform"
        );
        assert_eq!(repository_name("file:///srv/git/platform.git/"), "platform");
        assert_eq!(
            repository_name("git://127.0.0.1:1234/platform.git"),
            "platform"
        );
        assert_eq!(
            repository_name("git@github.com:org/platform.git"),
            "platform"
        );
        assert_eq!(repository_name("/home/me/src/platform"), "platform");
        assert_eq!(repository_name("../platform/"), "platform");
        assert_eq!(repository_name("https://host/"), "host");
    }

    #[test]
    fn secrets_are_masked_everywhere_in_a_message() {
        assert_eq!(
            scrub("auth failed for token abc123 (abc123)", &["abc123", ""]),
            "auth failed for token *** (***)"
        );
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 6), "é...");
        assert!(truncate(&"x".repeat(2000), 1024).len() <= 1024);
    }
}
