//! The download URLs a chart repository's `index.yaml` gives, checked before helm downloads
//! from them. helm (Go) goes straight to `localhost` and loopback literals, around the fetch
//! proxy, so an index entry naming `http://127.0.0.1:PORT/…` would otherwise be fetched from
//! the controller's own loopback. helm downloads from the index it cached, which is the file
//! read here: what is checked is what helm uses.

use std::path::Path;

use crate::source::address;

/// Checks the URLs `index` (helm's cached copy of `repository`'s index) lists for `chart`
/// `version` against the process's confinement; a no-op outside the controller, or when the
/// index cannot be read (helm then fails on it itself).
pub(crate) fn check_downloads(
    index: &Path,
    repository: &str,
    chart: &str,
    version: &str,
) -> Result<(), String> {
    if address::confined().is_none() {
        return Ok(());
    }
    let Ok(text) = std::fs::read_to_string(index) else {
        return Ok(());
    };
    let Ok(parsed) = crate::yaml::from_str(&text) else {
        return Ok(());
    };
    let base = url::Url::parse(&format!("{}/", repository.trim_end_matches('/')));
    let urls = parsed
        .get("entries")
        .and_then(|e| e.get(chart))
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("version").and_then(serde_json::Value::as_str) == Some(version))
        .filter_map(|v| v.get("urls").and_then(serde_json::Value::as_array))
        .flatten()
        .filter_map(serde_json::Value::as_str);
    for listed in urls {
        let resolved = match &base {
            Ok(base) => base.join(listed).map(|u| u.to_string()),
            Err(_) => url::Url::parse(listed).map(|u| u.to_string()),
        };
        let Ok(resolved) = resolved else {
            continue;
        };
        address::check_chart_source(&resolved).map_err(|refused| {
            format!(
                "the repository's index sends the download of {chart} {version} elsewhere: {}",
                refused.0
            )
        })?;
    }
    Ok(())
}
