//! Names and lengths for what the reconciler shows: the repository's name as a checkout has it,
//! and text cut to fit. Credentials and Secret values are scrubbed by `crate::scrub`.

use super::git_url::GitUrl;

/// A URL without its userinfo (see `crate::scrub::strip_userinfo`).
pub fn redact_url(url: &str) -> String {
    crate::scrub::url(url)
}

/// The repository's name as `kubectl gitops diff` in a checkout sees it: the last path segment
/// of the URL, without a trailing `.git` (`https://host/org/platform.git` -> `platform`).
pub fn repository_name(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    // scp-like `host:org/repo` and `host:repo`: the path follows the colon.
    let path = match GitUrl::parse(without_query) {
        GitUrl::Scheme { rest, .. } => rest,
        GitUrl::Scp { path, .. } => path,
        GitUrl::Local(path) => path,
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
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 6), "é...");
        assert!(truncate(&"x".repeat(2000), 1024).len() <= 1024);
    }
}
