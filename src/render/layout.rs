//! Decides how the snapshot is rendered: which files load as plain manifests, which
//! directories kustomize builds as one unit, and which are Helm charts (rendered by `helm`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// File names kustomize recognises, in the order it prefers them.
pub(crate) const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The file that makes a directory a Helm chart.
pub(crate) const CHART_FILE: &str = "Chart.yaml";

/// A directory kustomize builds, relative to the snapshot root ("" for the root itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kustomization {
    pub dir: PathBuf,
    /// Which of `KUSTOMIZATION_FILES` it holds; origins of its objects name this file.
    pub file_name: &'static str,
}

impl Kustomization {
    /// The directory as messages show it.
    pub(crate) fn display_dir(&self, prefix: &Path) -> PathBuf {
        let dir = prefix.join(&self.dir);
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// The kustomization file as origins show it.
    pub(crate) fn display_file(&self, prefix: &Path) -> PathBuf {
        prefix.join(&self.dir).join(self.file_name)
    }
}

/// One step of rendering, in output order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unit<'a> {
    /// A file loaded as plain YAML or JSON.
    File { path: &'a Path, bytes: &'a [u8] },
    /// A kustomization directory, by index into `Layout::kustomizations`.
    Kustomize(usize),
    /// A Helm chart directory (relative to the root): its templates are not YAML manifests, so
    /// none of its files are loaded.
    Chart(&'a Path),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Layout<'a> {
    pub units: Vec<Unit<'a>>,
    /// Outermost kustomization directories, sorted.
    pub kustomizations: Vec<Kustomization>,
}

/// Lays out `files` (keyed by path relative to the root). A kustomization directory takes every
/// file below it, including nested kustomizations: those are the outer one's business. A chart
/// directory (holding `Chart.yaml`) takes every file below it too, unless a kustomization
/// outside it already did (kustomize decides what a kustomization reads). Units keep the files'
/// sorted order, a directory taking the place of its first file (a directory's files are
/// contiguous in path order).
pub(crate) fn lay_out(files: &BTreeMap<PathBuf, Vec<u8>>) -> Layout<'_> {
    let dirs = kustomization_dirs(files);
    let charts = chart_dirs(files);
    let mut layout = Layout {
        units: Vec::new(),
        kustomizations: Vec::new(),
    };
    let mut placed: BTreeSet<&Path> = BTreeSet::new();

    for (path, bytes) in files {
        // `ancestors` runs innermost first, so the last match is the outermost directory.
        let owner = path
            .ancestors()
            .skip(1)
            .filter(|dir| dirs.contains_key(*dir) || charts.contains(*dir))
            .last();
        let Some(owner) = owner else {
            layout.units.push(Unit::File { path, bytes });
            continue;
        };
        if let Some((dir, file_name)) = dirs.get_key_value(owner) {
            if placed.insert(dir.as_path()) {
                layout
                    .units
                    .push(Unit::Kustomize(layout.kustomizations.len()));
                layout.kustomizations.push(Kustomization {
                    dir: dir.clone(),
                    file_name,
                });
            }
        } else if placed.insert(owner) {
            layout.units.push(Unit::Chart(owner));
        }
    }
    layout
}

/// Every directory holding a `Chart.yaml`.
fn chart_dirs(files: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeSet<&Path> {
    files
        .keys()
        .filter(|path| path.file_name().is_some_and(|name| name == CHART_FILE))
        .map(|path| path.parent().unwrap_or(Path::new("")))
        .collect()
}

/// Every directory holding a kustomization file, with the file kustomize would pick.
fn kustomization_dirs(files: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, &'static str> {
    let mut dirs: BTreeMap<PathBuf, &'static str> = BTreeMap::new();
    for path in files.keys() {
        let Some(name) = path.file_name() else {
            continue;
        };
        // The list is in preference order, so the first name present in a directory wins.
        let Some(found) = KUSTOMIZATION_FILES.into_iter().find(|k| name == *k) else {
            continue;
        };
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let chosen = dirs.entry(dir).or_insert(found);
        if rank(found) < rank(chosen) {
            *chosen = found;
        }
    }
    dirs
}

fn rank(file_name: &str) -> Option<usize> {
    KUSTOMIZATION_FILES.iter().position(|k| *k == file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(paths: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
        paths
            .iter()
            .map(|p| (PathBuf::from(p), Vec::new()))
            .collect()
    }

    fn describe(layout: &Layout<'_>) -> Vec<String> {
        layout
            .units
            .iter()
            .map(|unit| match unit {
                Unit::File { path, .. } => path.display().to_string(),
                Unit::Kustomize(i) => {
                    let k = &layout.kustomizations[*i];
                    format!("kustomize {} ({})", k.dir.display(), k.file_name)
                }
                Unit::Chart(dir) => format!("chart {}", dir.display()),
            })
            .collect()
    }

    #[test]
    fn a_kustomization_takes_its_directory_and_subdirectories() {
        let files = files(&[
            "a.yaml",
            "apps/kustomization.yaml",
            "apps/deploy.yaml",
            "apps/overlay/kustomization.yml",
            "apps/overlay/patch.yaml",
            "apps2.yaml",
            "z/Kustomization",
        ]);
        assert_eq!(
            describe(&lay_out(&files)),
            vec![
                "a.yaml",
                "kustomize apps (kustomization.yaml)",
                "apps2.yaml",
                "kustomize z (Kustomization)",
            ]
        );
    }

    #[test]
    fn a_root_kustomization_takes_everything() {
        let files = files(&["a.yaml", "kustomization.yaml", "sub/b.yaml"]);
        let layout = lay_out(&files);
        assert_eq!(describe(&layout), vec!["kustomize  (kustomization.yaml)"]);
        assert_eq!(
            layout.kustomizations[0].display_dir(Path::new("")),
            Path::new(".")
        );
        assert_eq!(
            layout.kustomizations[0].display_file(Path::new("clusters/prod")),
            Path::new("clusters/prod/kustomization.yaml")
        );
    }

    #[test]
    fn kustomization_yaml_is_preferred_when_several_are_present() {
        let files = files(&[
            "k/Kustomization",
            "k/kustomization.yml",
            "k/kustomization.yaml",
        ]);
        assert_eq!(
            lay_out(&files).kustomizations[0].file_name,
            "kustomization.yaml"
        );
    }

    #[test]
    fn sibling_directories_with_similar_names_are_separate() {
        let files = files(&["app/kustomization.yaml", "app-extra/x.yaml", "app.yaml"]);
        assert_eq!(
            describe(&lay_out(&files)),
            vec![
                "kustomize app (kustomization.yaml)",
                "app-extra/x.yaml",
                "app.yaml"
            ]
        );
    }

    #[test]
    fn a_chart_directory_takes_its_templates_and_is_not_loaded() {
        let files = files(&[
            "apps/web.yaml",
            "charts/podinfo/Chart.yaml",
            "charts/podinfo/templates/deployment.yaml",
            "charts/podinfo/values.yaml",
            "charts/readme.yaml",
        ]);
        assert_eq!(
            describe(&lay_out(&files)),
            vec![
                "apps/web.yaml",
                "chart charts/podinfo",
                "charts/readme.yaml"
            ]
        );
    }

    #[test]
    fn a_chart_inside_a_kustomization_is_the_kustomizations_business() {
        let files = files(&[
            "app/kustomization.yaml",
            "app/charts/web/Chart.yaml",
            "app/charts/web/templates/a.yaml",
        ]);
        assert_eq!(
            describe(&lay_out(&files)),
            vec!["kustomize app (kustomization.yaml)"]
        );
    }
}
