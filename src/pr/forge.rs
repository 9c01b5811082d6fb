//! The forge: where pull requests and their comments live. GitHub's REST API first, through
//! octocrab; the calls are spelled out (paths and JSON bodies) so they can be checked.

use std::future::Future;

use serde_json::{Value, json};

use super::GitHubRepo;

/// Starts every preview comment, so a re-run finds and updates its own comment instead of
/// adding another. The key after it tells apart previews of different paths in one PR.
pub const PREVIEW_MARKER: &str = "<!-- kubectl-gitops preview";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    /// It was open already (an earlier run opened it); nothing new was created.
    pub already_open: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The API answered with an error status.
    #[error("GitHub API error {status}: {message}")]
    Api { status: u16, message: String },
    /// The API could not be reached or answered nonsense.
    #[error("GitHub API request failed: {0}")]
    Transport(String),
}

/// What `kubectl gitops pr` needs from a forge.
pub trait Forge {
    fn open_pull_request(
        &self,
        repo: &GitHubRepo,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;

    /// Creates or updates the one comment on PR `number` whose body starts with `marker`.
    /// Returns the comment's URL and whether it was created.
    fn upsert_comment(
        &self,
        repo: &GitHubRepo,
        number: u64,
        marker: &str,
        body: &str,
    ) -> impl Future<Output = Result<(String, bool), ForgeError>> + Send;
}

pub struct GitHub {
    client: octocrab::Octocrab,
    /// Named in every error that did not get an answer from it.
    api_url: String,
}

impl GitHub {
    /// A client for `api_url` (https://api.github.com, or GitHub Enterprise's
    /// https://HOST/api/v3) authenticating with `token`.
    pub fn new(api_url: &str, token: String) -> Result<Self, ForgeError> {
        let client = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| ForgeError::Transport(format!("invalid API URL {api_url:?}: {e}")))?
            .personal_token(token)
            .build()
            .map_err(|e| ForgeError::Transport(e.to_string()))?;
        Ok(GitHub {
            client,
            api_url: crate::scrub::url(api_url),
        })
    }

    /// The error of a call, naming the API and what to check when it could not be reached.
    fn error(&self, err: octocrab::Error) -> ForgeError {
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !causes.contains(&text) {
                causes.push(text);
            }
            source = cause.source();
        }
        match forge_error(err) {
            ForgeError::Transport(message) => {
                let detail = std::iter::once(message)
                    .chain(causes)
                    .collect::<Vec<_>>()
                    .join(": ");
                ForgeError::Transport(format!(
                    "{} did not answer ({detail}); check --api-url (or $GITHUB_API_URL), the \
                     network and any proxy",
                    self.api_url
                ))
            }
            answered => answered,
        }
    }
}

impl GitHub {
    /// The open pull request whose head is `branch` of `repo`, if GitHub finds one.
    async fn open_pull_request_of(&self, repo: &GitHubRepo, branch: &str) -> Option<PullRequest> {
        let route = format!(
            "/repos/{}/{}/pulls?state=open&head={}:{branch}",
            repo.owner, repo.name, repo.owner
        );
        let open: Vec<Value> = self.client.get(route, None::<&()>).await.ok()?;
        let found = open.first()?;
        Some(PullRequest {
            number: found["number"].as_u64()?,
            url: found["html_url"].as_str().unwrap_or_default().to_string(),
            already_open: true,
        })
    }
}

/// Who posts as the token GitHub Actions hands a workflow; that token may not read `/user`.
const ACTIONS_BOT: &str = "github-actions[bot]";

impl GitHub {
    /// The login the token acts as: its comments are the only ones we ever edit.
    async fn own_login(&self) -> Result<String, ForgeError> {
        match self.client.get::<Value, _, ()>("/user", None).await {
            Ok(user) => user["login"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| ForgeError::Transport("GET /user answered without a login".into())),
            Err(err) => match self.error(err) {
                ForgeError::Api { status: 403, .. }
                    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") =>
                {
                    Ok(ACTIONS_BOT.to_string())
                }
                other => Err(other),
            },
        }
    }
}

/// The id of the comment that starts with `marker` *and* was written by `login`: a comment
/// anyone else wrote, even with our marker, is never edited.
fn own_marked_comment(comments: &[Value], marker: &str, login: &str) -> Option<u64> {
    comments
        .iter()
        .find(|c| {
            c["body"].as_str().is_some_and(|b| b.starts_with(marker))
                && c["user"]["login"]
                    .as_str()
                    .is_some_and(|author| author.eq_ignore_ascii_case(login))
        })
        .and_then(|c| c["id"].as_u64())
}

fn forge_error(err: octocrab::Error) -> ForgeError {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            let mut message = source.message.clone();
            // GitHub puts the useful part ("A pull request already exists…") in `errors`.
            for detail in source.errors.iter().flatten() {
                if let Some(text) = detail.get("message").and_then(Value::as_str) {
                    message.push_str(": ");
                    message.push_str(text);
                }
            }
            ForgeError::Api {
                status: source.status_code.as_u16(),
                message,
            }
        }
        other => ForgeError::Transport(other.to_string()),
    }
}

impl Forge for GitHub {
    async fn open_pull_request(
        &self,
        repo: &GitHubRepo,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError> {
        let route = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
        // Whatever the caller built, it leaves through the scrubber.
        let (title, body) = (crate::scrub::text(title), crate::scrub::text(body));
        let request = json!({"title": title, "head": head, "base": base, "body": body});
        let created: Value = match self.client.post(route, Some(&request)).await {
            Ok(created) => created,
            Err(err) => {
                let err = self.error(err);
                // A rerun of a run that opened it: the pull request of this branch is the one.
                if let ForgeError::Api {
                    status: 422,
                    message,
                } = &err
                    && message.contains("already exists")
                    && let Some(open) = self.open_pull_request_of(repo, head).await
                {
                    return Ok(open);
                }
                return Err(err);
            }
        };
        Ok(PullRequest {
            number: created["number"].as_u64().unwrap_or_default(),
            url: created["html_url"].as_str().unwrap_or_default().to_string(),
            already_open: false,
        })
    }

    async fn upsert_comment(
        &self,
        repo: &GitHubRepo,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(String, bool), ForgeError> {
        let me = self.own_login().await?;
        let mut existing = None;
        // Comments come 100 a page; a PR with more than a few pages of comments is rare, and
        // stopping at ten bounds the cost.
        for page in 1..=10u32 {
            let route = format!(
                "/repos/{}/{}/issues/{number}/comments?per_page=100&page={page}",
                repo.owner, repo.name
            );
            let comments: Vec<Value> = self
                .client
                .get(route, None::<&()>)
                .await
                .map_err(|e| self.error(e))?;
            existing = own_marked_comment(&comments, marker, &me);
            if existing.is_some() || comments.len() < 100 {
                break;
            }
        }
        let request = json!({"body": crate::scrub::text(body)});
        let (answer, created): (Value, bool) = match existing {
            Some(id) => {
                let route = format!("/repos/{}/{}/issues/comments/{id}", repo.owner, repo.name);
                (
                    self.client
                        .patch(route, Some(&request))
                        .await
                        .map_err(|e| self.error(e))?,
                    false,
                )
            }
            None => {
                let route = format!(
                    "/repos/{}/{}/issues/{number}/comments",
                    repo.owner, repo.name
                );
                (
                    self.client
                        .post(route, Some(&request))
                        .await
                        .map_err(|e| self.error(e))?,
                    true,
                )
            }
        };
        Ok((
            answer["html_url"].as_str().unwrap_or_default().to_string(),
            created,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: u64, login: &str, body: &str) -> Value {
        json!({"id": id, "user": {"login": login}, "body": body})
    }

    #[test]
    fn only_our_own_marked_comment_is_chosen() {
        let marker = "<!-- kubectl-gitops preview path=deploy -->";
        let comments = vec![
            comment(1, "someone-else", &format!("{marker}\nnot ours")),
            comment(2, "ci-bot", "an ordinary comment"),
            comment(3, "CI-Bot", &format!("{marker}\nours")),
        ];
        assert_eq!(own_marked_comment(&comments, marker, "ci-bot"), Some(3));
        assert_eq!(own_marked_comment(&comments[..2], marker, "ci-bot"), None);
        assert_eq!(own_marked_comment(&comments, marker, "nobody"), None);
    }
}
