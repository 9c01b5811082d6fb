//! Pulling a chart from an OCI registry in the controller, with our own client rather than
//! helm's. helm (Go) goes straight to loopback literals, around the fetch proxy, so a registry
//! whose `401` names a token service (`WWW-Authenticate: Bearer realm=...`) on the controller's
//! loopback, or that redirects a blob download there, would be obeyed unchecked. Here the OCI
//! distribution API is spoken through `download::Client`: the tag is resolved to its
//! manifest, the chart layer fetched by digest and checked against it; the token service and
//! every redirect hop are checked as a tenant's URL is; the login goes to the registry's own
//! origin and to the token service the registry's answer names, never across a redirect; and
//! what is read counts against the render's budget.
//!
//! A hand-written client rather than a registry crate: the ones we looked at build their own
//! HTTP client, with no say over name resolution or redirects, which is the point here.

use std::cell::RefCell;

use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use super::credentials::{self, Login};
use super::download::{Authorization, Client, Scope, shown};
use crate::render::limits::Budget;

/// The layer holding a chart archive, as `helm push` writes it.
const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The layer type helm wrote before it, which helm still reads.
const LEGACY_CHART_LAYER: &str = "application/tar+gzip";
/// The manifest types asked for: a chart is pushed as an OCI image manifest.
const MANIFESTS: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// One repository path of one registry, e.g. `oci://registry.example.com/charts`.
pub(crate) struct Registry<'a> {
    client: Client<'a>,
    /// `http(s)://host[:port]/`.
    base: url::Url,
    /// `host[:port]`, as the reference names it (and the registry config files it).
    host: String,
    /// The repository path under the host, without slashes at either end.
    path: String,
    login: Option<Login>,
    budget: &'a Budget,
    /// What the registry accepted last: sent again with the requests that follow.
    authorization: RefCell<Option<Authorization>>,
}

/// What a `401` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl<'a> Registry<'a> {
    /// A client for `reference` (`oci://host[:port]/path`); `None` outside the controller,
    /// where helm pulls as it always has. A registry on this machine is spoken to over plain
    /// HTTP, as `--plain-http` makes helm do.
    pub fn for_reference(reference: &str, budget: &'a Budget) -> Result<Option<Self>, String> {
        let rest = reference
            .strip_prefix("oci://")
            .ok_or_else(|| format!("{}: not an oci:// reference", shown(reference)))?
            .trim_end_matches('/');
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let scheme = match credentials::is_loopback_registry(reference) {
            true => "http",
            false => "https",
        };
        let base = url::Url::parse(&format!("{scheme}://{host}/"))
            .ok()
            .filter(|base| !host.is_empty() && !host.contains('@') && base.path() == "/")
            .ok_or_else(|| format!("{}: not a valid registry address", shown(reference)))?;
        let Some(client) = Client::for_registry(&base, budget)? else {
            return Ok(None);
        };
        Ok(Some(Registry {
            client,
            base,
            host: host.to_string(),
            path: path.trim_matches('/').to_string(),
            login: credentials::registry_login(host)?,
            budget,
            authorization: RefCell::new(None),
        }))
    }

    /// The archive of chart `name` at `version`: the chart layer of the manifest tagged with
    /// the version (`+` spelled `_`, as helm tags it), checked against its digest.
    pub fn chart(&self, name: &str, version: &str) -> Result<Vec<u8>, String> {
        let repository = match self.path.is_empty() {
            true => name.to_string(),
            false => format!("{}/{name}", self.path),
        };
        if repository.is_empty()
            || !repository.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            })
        {
            return Err(format!(
                "{repository:?} is not a valid OCI repository name (lower-case letters, digits, \
                 `.`, `_`, `-` and `/`)"
            ));
        }
        let tag = version.replace('+', "_");
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!("{version:?} is not a version a registry can tag"));
        }
        let manifest_url = self.url(&format!("v2/{repository}/manifests/{tag}"))?;
        let response = self.get(&manifest_url, &[("Accept", MANIFESTS)], &repository)?;
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .map(str::to_string);
        let manifest = self.client.read(response, &manifest_url)?;
        // Read to find one layer, then let go of: the archive is what the render keeps.
        self.budget.refund(manifest.len());
        if let Some(digest) = digest {
            verify(&manifest, &digest).map_err(|reason| {
                format!("the manifest of {name} {version} {reason} the registry gives for it")
            })?;
        }
        let (layer, size) = chart_layer(&manifest)
            .map_err(|reason| format!("the manifest of {name} {version} {reason}"))?;
        let blob_url = self.url(&format!("v2/{repository}/blobs/{layer}"))?;
        let response = self.get(&blob_url, &[], &repository)?;
        let archive = self.client.read(response, &blob_url)?;
        if size.is_some_and(|size| size != archive.len() as u64) {
            return Err(format!(
                "the chart layer of {name} {version} is not the size its manifest gives"
            ));
        }
        verify(&archive, &layer).map_err(|reason| {
            format!("the chart layer of {name} {version} {reason} its manifest gives")
        })?;
        Ok(archive)
    }

    fn url(&self, path: &str) -> Result<String, String> {
        self.base
            .join(path)
            .map(|u| u.to_string())
            .map_err(|e| format!("{}{path}: not a valid URL: {e}", shown(self.base.as_str())))
    }

    /// A successful answer to a GET of `url`, asking the token service (or sending the login)
    /// when the registry answers `401`.
    fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        repository: &str,
    ) -> Result<reqwest::blocking::Response, String> {
        let first = self.send(url, headers)?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return success(first);
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|c| c.to_str().ok())
            .and_then(challenge);
        drop(first);
        let refused = || format!("{}: the server answered HTTP 401", shown(url));
        let authorization = match (challenge, &self.login) {
            (Some(Challenge::Basic), Some(Login::Basic { user, password })) => {
                Authorization::Basic {
                    user: user.clone(),
                    password: password.clone(),
                }
            }
            (Some(Challenge::Basic), _) => {
                return Err(format!(
                    "{}; ${} holds no username and password for {}",
                    refused(),
                    credentials::REGISTRY_CONFIG_ENV,
                    self.host
                ));
            }
            (
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }),
                _,
            ) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{repository}:pull"));
                self.token(&realm, service.as_deref(), &scope)?
            }
            (None, _) => return Err(refused()),
        };
        *self.authorization.borrow_mut() = Some(authorization);
        let second = self.send(url, headers)?;
        if second.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(format!(
                "{}; the registry refused the credentials",
                refused()
            ));
        }
        success(second)
    }

    /// A GET with what the registry accepted so far, sent to the registry's origin only.
    fn send(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<reqwest::blocking::Response, String> {
        let authorization = self.authorization.borrow().clone();
        let scope = Scope::Origin(self.client.origin());
        self.client
            .send(url, headers, authorization.as_ref().map(|a| (a, scope)))
    }

    /// A bearer token from the token service at `realm`, which the registry's `401` named:
    /// checked as a tenant's URL is before anything is asked there.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Authorization, String> {
        let cannot =
            |reason: String| format!("the registry's token service cannot be asked: {reason}");
        let mut url = url::Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| cannot("the registry names one that is not an http(s) URL".into()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let origin = url.origin();
        let login = match &self.login {
            Some(Login::Registry(token)) => return Ok(Authorization::Bearer(token.clone())),
            Some(Login::Identity(_)) => {
                return Err(cannot(format!(
                    "${} holds an identity token for {}, which the controller does not \
                     exchange: log in with a username and password",
                    credentials::REGISTRY_CONFIG_ENV,
                    self.host
                )));
            }
            Some(Login::Basic { user, password }) => Some(Authorization::Basic {
                user: user.clone(),
                password: password.clone(),
            }),
            None => None,
        };
        let response = self
            .client
            .send(
                url.as_str(),
                &[],
                login.as_ref().map(|l| (l, Scope::Origin(&origin))),
            )
            .and_then(success)
            .map_err(cannot)?;
        let at = response.url().to_string();
        let body = self.client.read(response, &at).map_err(cannot)?;
        self.budget.refund(body.len());
        let token = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|answer| {
                ["token", "access_token"].into_iter().find_map(|key| {
                    answer
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                })
            })
            .ok_or_else(|| cannot(format!("{}: the answer holds no token", shown(&at))))?;
        crate::scrub::learn_credential(&token);
        Ok(Authorization::Bearer(token))
    }
}

/// `response` if it succeeded; else the status, in our words.
fn success(response: reqwest::blocking::Response) -> Result<reqwest::blocking::Response, String> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(format!(
        "{}: the server answered HTTP {}",
        shown(response.url().as_str()),
        status.as_u16()
    ))
}

/// What a `WWW-Authenticate` header asks for: `Basic realm="…"`, or `Bearer realm="…",
/// service="…",scope="…"` (values quoted or not; a quoted one may hold commas).
fn challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    Some(Challenge::Bearer {
        realm: param("realm")?,
        service: param("service"),
        scope: param("scope"),
    })
}

/// The digest and size of the chart layer in `manifest`.
fn chart_layer(manifest: &[u8]) -> Result<(String, Option<u64>), String> {
    let manifest: Value =
        serde_json::from_slice(manifest).map_err(|_| "is not JSON".to_string())?;
    if manifest.get("manifests").is_some() {
        return Err("is an index of manifests, not a chart".into());
    }
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| "lists no layers".to_string())?;
    let of_type = |wanted: &str| {
        layers
            .iter()
            .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(wanted))
    };
    let layer = of_type(CHART_LAYER)
        .or_else(|| of_type(LEGACY_CHART_LAYER))
        .ok_or_else(|| format!("holds no layer of type {CHART_LAYER}"))?;
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| algorithm(d).is_some())
        .ok_or_else(|| "gives the chart layer no sha256 or sha512 digest".to_string())?;
    Ok((
        digest.to_string(),
        layer.get("size").and_then(Value::as_u64),
    ))
}

/// The algorithm of a digest `sha256:HEX` or `sha512:HEX` of the right length.
fn algorithm(digest: &str) -> Option<&'static str> {
    let (algorithm, hex) = digest.split_once(':')?;
    let (name, length) = match algorithm {
        "sha256" => ("sha256", 64),
        "sha512" => ("sha512", 128),
        _ => return None,
    };
    (hex.len() == length && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(name)
}

/// Whether `bytes` have `digest`: `Ok` if so, else why not, worded to end a sentence about
/// what was checked.
fn verify(bytes: &[u8], digest: &str) -> Result<(), &'static str> {
    let actual = match algorithm(digest) {
        Some("sha256") => hex(&Sha256::digest(bytes)),
        Some(_) => hex(&Sha512::digest(bytes)),
        None => return Err("cannot be checked against the digest"),
    };
    let expected = digest.split_once(':').map(|(_, hex)| hex).unwrap_or("");
    match actual.eq_ignore_ascii_case(expected) {
        true => Ok(()),
        false => Err("does not match the digest"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_gives_its_realm_service_and_scope_commas_and_all() {
        assert_eq!(
            challenge(
                "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",\
                 scope=\"repository:charts/web:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:charts/web:pull,push".into()),
            })
        );
        assert_eq!(
            challenge("bearer realm=http://127.0.0.1:1/t"),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(challenge("Basic realm=\"charts\""), Some(Challenge::Basic));
        assert_eq!(challenge("Bearer service=\"no-realm\""), None);
        assert_eq!(challenge("Negotiate"), None);
        assert_eq!(challenge(""), None);
    }

    #[test]
    fn the_chart_layer_is_found_by_its_type_and_must_carry_a_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let manifest = format!(
            "{{\"layers\":[{{\"mediaType\":\"application/vnd.cncf.helm.chart.provenance.v1.prov\",\
             \"digest\":\"sha256:{}\"}},{{\"mediaType\":\"{CHART_LAYER}\",\"digest\":\"{digest}\",\
             \"size\":12}}]}}",
            "b".repeat(64)
        );
        assert_eq!(
            chart_layer(manifest.as_bytes()),
            Ok((digest.clone(), Some(12)))
        );
        let climbing = format!(
            "{{\"layers\":[{{\"mediaType\":\"{CHART_LAYER}\",\"digest\":\"sha256:../../x\"}}]}}"
        );
        assert!(chart_layer(climbing.as_bytes()).is_err());
        assert!(chart_layer(b"{\"manifests\":[]}").is_err());
        assert!(chart_layer(b"{\"layers\":[]}").is_err());
        assert!(chart_layer(b"not json").is_err());
    }

    #[test]
    fn bytes_are_checked_against_their_digest() {
        let sha256 = format!("sha256:{}", hex(&Sha256::digest(b"chart")));
        let sha512 = format!("sha512:{}", hex(&Sha512::digest(b"chart")));
        assert_eq!(verify(b"chart", &sha256), Ok(()));
        assert_eq!(
            verify(b"chart", &sha512.to_uppercase().replace("SHA", "sha")),
            Ok(())
        );
        assert!(verify(b"chart!", &sha256).is_err());
        assert!(verify(b"chart", "md5:abc").is_err());
    }
}
