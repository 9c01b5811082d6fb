//! Fetching from an HTTP(S) chart repository (and, for `registry`, an OCI registry) in the
//! controller, with our own client rather than helm's: helm (Go) goes straight to loopback literals, around the fetch proxy, and a
//! redirect inside an https tunnel is out of the proxy's sight. Here every hop of a redirect is
//! checked as `source::address` checks a tenant's URL, names resolve only through the same
//! check (so the connection goes to the addresses checked), the repository's credentials go to
//! its own origin only, and what is read counts against the render's budget. helm is then
//! handed local files only.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::render::limits::{Budget, Limit};
use crate::source::address::{self, Fetch, Policy};

/// The most redirects one fetch follows (Go's client, and so helm, follows ten).
const MAX_REDIRECTS: usize = 10;

/// A client for one repository or registry, with its entry's credentials and TLS settings.
pub(crate) struct Client<'a> {
    http: reqwest::blocking::Client,
    policy: &'static Policy,
    /// The repository's origin (scheme, host, port): credentials go there only, unless the
    /// entry says `pass_credentials_all`.
    origin: url::Origin,
    basic: Option<Authorization>,
    pass_credentials_all: bool,
    budget: &'a Budget,
}

/// What a request carries to prove who asks.
#[derive(Clone)]
pub(crate) enum Authorization {
    Basic { user: String, password: String },
    Bearer(String),
}

/// Where a request's authorization may go.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'s> {
    /// To this origin only: a redirect elsewhere goes without it.
    Origin(&'s url::Origin),
    /// Wherever a redirect leads (a repository entry's `pass_credentials_all`).
    Everywhere,
}

/// Resolves names only to addresses the policy lets a chart source reach.
struct Checked(&'static Policy);

impl reqwest::dns::Resolve for Checked {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let checked =
                tokio::task::spawn_blocking(move || policy.check_host(Fetch::Chart, &host, 0))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            match checked {
                Ok(addresses) => Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs),
                Err(refused) => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// A client that follows no redirect on its own and resolves names through `policy`, bounded
/// by the render's deadline.
fn builder(policy: &'static Policy, budget: &Budget) -> reqwest::blocking::ClientBuilder {
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(Checked(policy)));
    if let Some(remaining) = budget.remaining() {
        builder = builder.timeout(remaining);
    }
    builder
}

impl<'a> Client<'a> {
    /// A client for `repository` with `entry` (its `repositories.yaml` entry, if any); `None`
    /// outside the controller, where helm fetches as it always has.
    pub fn for_repository(
        repository: &str,
        entry: Option<&Map<String, Value>>,
        budget: &'a Budget,
    ) -> Result<Option<Self>, String> {
        let Some(policy) = address::confined() else {
            return Ok(None);
        };
        let base = url::Url::parse(repository)
            .map_err(|e| format!("the repository URL is not valid: {e}"))?;
        let text = |key: &str| {
            entry
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let flag = |key: &str| {
            entry
                .and_then(|e| e.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let mut builder = builder(policy, budget)
            .tls_danger_accept_invalid_certs(flag("insecure_skip_tls_verify"));
        if let Some(ca) = text("caFile") {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read caFile {ca}: {e}"))?;
            // As helm: the repository's CA is the only one its certificate may chain to.
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|_| format!("caFile {ca} holds no PEM certificate"))?;
            builder = builder.tls_certs_only(certificates);
        }
        if let (Some(cert), Some(key)) = (text("certFile"), text("keyFile")) {
            let mut pem =
                std::fs::read(cert).map_err(|e| format!("cannot read certFile {cert}: {e}"))?;
            pem.push(b'\n');
            pem.extend(std::fs::read(key).map_err(|e| format!("cannot read keyFile {key}: {e}"))?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|_| format!("certFile {cert} and keyFile {key} are not a PEM identity"))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the repository's client: {e}"))?;
        Ok(Some(Client {
            http,
            policy,
            origin: base.origin(),
            basic: text("username").map(|user| Authorization::Basic {
                user: user.to_string(),
                password: text("password").unwrap_or_default().to_string(),
            }),
            pass_credentials_all: flag("pass_credentials_all"),
            budget,
        }))
    }

    /// A client for the registry at `base` (`http(s)://host:port`), which sends no
    /// credentials of its own (`registry` decides each request's); `None` outside the
    /// controller.
    pub fn for_registry(base: &url::Url, budget: &'a Budget) -> Result<Option<Self>, String> {
        let Some(policy) = address::confined() else {
            return Ok(None);
        };
        let http = builder(policy, budget)
            .build()
            .map_err(|e| format!("cannot set up the registry's client: {e}"))?;
        Ok(Some(Client {
            http,
            policy,
            origin: base.origin(),
            basic: None,
            pass_credentials_all: false,
            budget,
        }))
    }

    /// The origin the client was made for.
    pub fn origin(&self) -> &url::Origin {
        &self.origin
    }

    /// The body at `url`, following redirects each checked; the reason it could not be read
    /// otherwise, in our words (never the server's).
    pub fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let scope = match self.pass_credentials_all {
            true => Scope::Everywhere,
            false => Scope::Origin(&self.origin),
        };
        let response = self.send(url, &[], self.basic.as_ref().map(|a| (a, scope)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "{}: the server answered HTTP {}",
                shown(response.url().as_str()),
                status.as_u16()
            ));
        }
        let at = response.url().to_string();
        self.read(response, &at)
    }

    /// The answer to a GET of `url` with `headers`, after following its redirects, each hop
    /// checked as a tenant's URL is; `authorization` goes only where its scope says. Any
    /// status but a redirect is the caller's to judge.
    pub fn send(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        authorization: Option<(&Authorization, Scope<'_>)>,
    ) -> Result<reqwest::blocking::Response, String> {
        let mut current =
            url::Url::parse(url).map_err(|e| format!("{}: not a valid URL: {e}", shown(url)))?;
        for hop in 0..=MAX_REDIRECTS {
            self.policy
                .check_url(Fetch::Chart, current.as_str())
                .map_err(|refused| match hop {
                    0 => refused.0,
                    _ => format!("the server redirects elsewhere: {}", refused.0),
                })?;
            let mut request = self.http.get(current.clone());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some((authorization, scope)) = authorization {
                let goes = match scope {
                    Scope::Everywhere => true,
                    Scope::Origin(origin) => current.origin() == *origin,
                };
                if goes {
                    request = match authorization {
                        Authorization::Basic { user, password } => {
                            request.basic_auth(user, Some(password))
                        }
                        Authorization::Bearer(token) => request.bearer_auth(token),
                    };
                }
            }
            let response = request.send().map_err(|e| {
                let why = match self.budget.remaining() {
                    // The client's timeout is the render's deadline: say which limit it was.
                    Some(left) if e.is_timeout() && left.is_zero() => {
                        self.budget.hit(Limit::Timeout).explain()
                    }
                    _ => network(&e),
                };
                format!("{}: {why}", shown(current.as_str()))
            })?;
            let status = response.status();
            if !status.is_redirection() || status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            current = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| current.join(l).ok())
                .ok_or_else(|| {
                    format!(
                        "{}: the server answered HTTP {} without a valid Location",
                        shown(current.as_str()),
                        status.as_u16()
                    )
                })?;
        }
        Err(format!(
            "{}: more than {MAX_REDIRECTS} redirects",
            shown(url)
        ))
    }

    /// The chart archive at `url`, which the repository's index gives for `chart` `version`.
    pub fn archive(&self, url: &str, chart: &str, version: &str) -> Result<Vec<u8>, String> {
        self.policy
            .check_url(Fetch::Chart, url)
            .map_err(|refused| {
                format!(
                    "the repository's index sends the download of {chart} {version} elsewhere: {}",
                    refused.0
                )
            })?;
        self.get(url)
            .map_err(|reason| format!("the chart cannot be downloaded: {reason}"))
    }

    /// The body of `response` (from `url`), counted against the render's budget.
    pub fn read(
        &self,
        mut response: reqwest::blocking::Response,
        url: &str,
    ) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = response
                .read(&mut chunk)
                .map_err(|e| format!("{}: reading the answer failed ({})", shown(url), e.kind()))?;
            if n == 0 {
                return Ok(body);
            }
            if !self.budget.charge(n) {
                return Err(format!(
                    "{}: {}",
                    shown(url),
                    self.budget.hit(Limit::Bytes).explain()
                ));
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A URL as a message may show it: credentials out.
pub(crate) fn shown(url: &str) -> String {
    crate::scrub::url(url)
}

/// What kind of network failure `error` is, in our words; a refusal of our resolver as it was
/// given.
fn network(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<address::Refused>() {
            return refused.0.clone();
        }
        source = e.source();
    }
    if error.is_timeout() {
        "no answer in time".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        "the connection failed".into()
    }
}

/// The download URLs `index` (a repository's `index.yaml`) lists for `chart` `version`,
/// resolved against the repository's URL.
pub(crate) fn chart_urls(
    index: &[u8],
    repository: &str,
    chart: &str,
    version: &str,
) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(index) else {
        return Vec::new();
    };
    let Ok(parsed) = crate::yaml::from_str(text) else {
        return Vec::new();
    };
    let base = url::Url::parse(&format!("{}/", repository.trim_end_matches('/')));
    parsed
        .get("entries")
        .and_then(|e| e.get(chart))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("version").and_then(Value::as_str) == Some(version))
        .filter_map(|v| v.get("urls").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|listed| match &base {
            Ok(base) => base.join(listed).ok().map(|u| u.to_string()),
            Err(_) => url::Url::parse(listed).ok().map(|u| u.to_string()),
        })
        .collect()
}

/// Unpacks the chart archive `archive` (gzipped tar) into `into`, as `helm pull --untar` would:
/// regular files and directories only, each inside `into`, what is written counted against
/// `budget`.
pub(crate) fn unpack(archive: &[u8], into: &Path, budget: &Budget) -> Result<(), String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|_| "the chart archive is not a gzipped tar".to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|_| "the chart archive is damaged".to_string())?;
        let path = entry
            .path()
            .map_err(|_| "the chart archive names a file it cannot spell".to_string())?
            .into_owned();
        if path.as_os_str().is_empty()
            || !path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "the chart archive names {}, outside the chart",
                path.display()
            ));
        }
        let target = into.join(&path);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            continue;
        }
        if !kind.is_file() {
            // Links and devices have no place in a chart; helm's loader reads files only.
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut content = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut chunk)
                .map_err(|_| "the chart archive is damaged".to_string())?;
            if n == 0 {
                break;
            }
            if !budget.charge(n) {
                return Err(format!(
                    "the chart archive unpacks to more than the render may read: {}",
                    budget.hit(Limit::Bytes).explain()
                ));
            }
            content.extend_from_slice(&chunk[..n]);
        }
        std::fs::write(&target, content).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::RenderLimits;
    use crate::render::limits::Limits;

    fn budget(max_bytes: u64) -> Budget {
        Budget::start(RenderLimits::from_flags(Limits {
            max_bytes,
            ..Limits::default()
        }))
    }

    /// A gzipped tar of `entries`: (path, link target or contents).
    fn archive(entries: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, link, contents) in entries {
            let mut header = tar::Header::new_gnu();
            match link {
                Some(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, path, target).unwrap();
                }
                None => {
                    header.set_size(contents.len() as u64);
                    header.set_mode(0o644);
                    header.set_entry_type(tar::EntryType::Regular);
                    // Written raw, so that a hostile path is kept as it is.
                    let name = &mut header.as_old_mut().name;
                    name[..path.len()].copy_from_slice(path.as_bytes());
                    header.set_cksum();
                    builder.append(&header, *contents).unwrap();
                }
            }
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_chart_archive_unpacks_its_files_and_leaves_out_links() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = archive(&[
            ("web/Chart.yaml", None, b"name: web\n"),
            ("web/templates/link", Some("/etc/passwd"), b""),
        ]);
        unpack(&bytes, dir.path(), &budget(1 << 20)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("web/Chart.yaml")).unwrap(),
            "name: web\n"
        );
        assert!(!dir.path().join("web/templates/link").exists());
    }

    #[test]
    fn a_chart_archive_naming_a_path_outside_the_chart_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("into");
        let bytes = archive(&[("../escaped", None, b"x")]);
        let error = unpack(&bytes, &inner, &budget(1 << 20)).unwrap_err();
        assert!(error.contains("outside the chart"), "{error}");
        assert!(!dir.path().join("escaped").exists());
    }

    #[test]
    fn a_chart_archive_unpacking_past_the_render_budget_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = archive(&[("web/big", None, &[0u8; 4096])]);
        let error = unpack(&bytes, dir.path(), &budget(1024)).unwrap_err();
        assert!(error.contains("more than the render may read"), "{error}");
    }

    #[test]
    fn an_index_gives_the_download_urls_of_one_version_against_the_repository() {
        let index = b"entries:\n  web:\n  - version: 0.1.0\n    urls: [web-0.1.0.tgz]\n  \
            - version: 0.2.0\n    urls: ['https://elsewhere.example.com/web-0.2.0.tgz']\n";
        assert_eq!(
            chart_urls(index, "https://charts.example.com/a", "web", "0.1.0"),
            vec!["https://charts.example.com/a/web-0.1.0.tgz".to_string()]
        );
        assert_eq!(
            chart_urls(index, "https://charts.example.com/a/", "web", "0.2.0"),
            vec!["https://elsewhere.example.com/web-0.2.0.tgz".to_string()]
        );
        assert!(chart_urls(index, "https://charts.example.com", "web", "9.9.9").is_empty());
    }
}
