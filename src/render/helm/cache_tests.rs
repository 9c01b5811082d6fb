//! The unit tests of `cache`.

use super::*;

#[test]
fn a_stored_entry_is_found_and_a_second_store_keeps_the_first() {
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let archive = source.path().join("db-0.1.0.tgz");
    std::fs::write(&archive, "first").unwrap();
    assert_eq!(lookup(root.path(), "k"), None);
    let stored = store(root.path(), "k", std::slice::from_ref(&archive)).unwrap();
    assert_eq!(stored.len(), 1);
    std::fs::write(&archive, "second").unwrap();
    store(root.path(), "k", &[archive]).unwrap();
    let found = lookup(root.path(), "k").unwrap();
    assert_eq!(std::fs::read_to_string(&found[0]).unwrap(), "first");
    let leftovers = std::fs::read_dir(root.path().join("dependencies"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 1, "no staging directory is left behind");
}

#[test]
fn a_dependency_archive_is_copied_only_when_it_matches_its_digest() {
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let archive = source.path().join("db-0.1.0.tgz");
    std::fs::write(&archive, "first").unwrap();
    let stored = store(root.path(), "k", &[archive]).unwrap();
    let render = tempfile::tempdir().unwrap();
    copy_archive(&stored[0], &render.path().join("db.tgz")).unwrap();
    assert_eq!(
        std::fs::read_to_string(render.path().join("db.tgz")).unwrap(),
        "first"
    );
    unseal(&root.path().join("dependencies/k"));
    std::fs::write(&stored[0], "tampered").unwrap();
    let copy = render.path().join("again.tgz");
    assert!(copy_archive(&stored[0], &copy).is_err());
    assert!(!copy.exists(), "a copy that fails its digest is removed");
}

#[test]
fn a_dependency_archive_changed_in_the_store_is_thrown_away() {
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let archive = source.path().join("db-0.1.0.tgz");
    std::fs::write(&archive, "first").unwrap();
    let stored = store(root.path(), "k", &[archive]).unwrap();
    let entry = root.path().join("dependencies/k");
    unseal(&entry);
    std::fs::write(&stored[0], "tampered").unwrap();
    assert_eq!(lookup(root.path(), "k"), None);
    assert!(!entry.exists(), "the tampered entry is removed");
}

fn pulled(root: &Path, text: &str) -> tempfile::TempDir {
    let staging = chart_staging(root).unwrap();
    let chart = staging.path().join("web");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "name: web\n").unwrap();
    std::fs::write(chart.join("templates/cm.yaml"), text).unwrap();
    staging
}

#[test]
fn a_stored_chart_is_read_only_and_named_by_its_digest() {
    let root = tempfile::tempdir().unwrap();
    let stored = store_chart(root.path(), "k", "web", pulled(root.path(), "a")).unwrap();
    assert_eq!(stored.digest, tree_digest(&stored.dir).unwrap());
    assert!(
        stored
            .dir
            .starts_with(root.path().join("charts/sha256").join(&stored.digest))
    );
    let template = stored.dir.join("templates/cm.yaml");
    assert!(
        std::fs::metadata(&template)
            .unwrap()
            .permissions()
            .readonly()
    );
    assert_eq!(lookup_chart(root.path(), "k", "web"), Some(stored.clone()));
    let copy = tempfile::tempdir().unwrap();
    stored.copy_to(&copy.path().join("web")).unwrap();
    assert_eq!(
        std::fs::read_to_string(copy.path().join("web/templates/cm.yaml")).unwrap(),
        "a"
    );
    // The copy is the render's own to write.
    std::fs::write(copy.path().join("web/values.yaml"), "x: 1\n").unwrap();
}

#[test]
fn a_file_written_into_a_stored_chart_is_never_rendered() {
    let root = tempfile::tempdir().unwrap();
    let stored = store_chart(root.path(), "k", "web", pulled(root.path(), "a")).unwrap();
    // What another render's kustomize did, writing its values beside a template.
    unseal(&stored.dir);
    std::fs::write(
        stored.dir.join("templates/pwn-kustomize-values.yaml"),
        "kind: X\n",
    )
    .unwrap();
    let copy = tempfile::tempdir().unwrap();
    let error = stored.copy_to(&copy.path().join("web")).unwrap_err();
    assert!(
        error.to_string().contains("no longer matches its digest"),
        "{error}"
    );
    assert_eq!(lookup_chart(root.path(), "k", "web"), None);
    assert!(!stored.dir.exists(), "the changed entry is removed");
    // Pulled again, the same files are stored under the same digest.
    let again = store_chart(root.path(), "k", "web", pulled(root.path(), "a")).unwrap();
    assert_eq!(again.digest, stored.digest);
}

/// Makes the entry `name` of `kind` look last used `ago`.
fn used_ago(root: &Path, kind: &str, name: &str, ago: Duration) {
    let mark = root.join("used").join(format!("{kind}-{name}"));
    let file = std::fs::File::options().write(true).open(mark).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn the_store_keeps_the_most_recently_used_entries_and_any_used_lately() {
    let root = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    for (n, key) in ["a", "b", "c", "d"].iter().enumerate() {
        let archive = source.path().join(format!("{key}-0.1.0.tgz"));
        std::fs::write(&archive, key).unwrap();
        store(root.path(), key, &[archive]).unwrap();
        used_ago(root.path(), "dependencies", key, hour * (10 - n as u32));
    }
    let chart = store_chart(root.path(), "web", "web", pulled(root.path(), "x")).unwrap();
    used_ago(root.path(), "charts", &chart.digest, hour * 20);
    // `a` is the oldest, but was just used again.
    assert!(lookup(root.path(), "a").is_some());

    evict(root.path(), 2, Duration::from_secs(600));
    let left = |key: &str| lookup(root.path(), key).is_some();
    assert!(left("a"), "used within the grace period");
    assert!(left("d"), "among the two most recently used");
    assert!(!left("b") && !left("c"), "beyond the two most recent");
    assert_eq!(lookup_chart(root.path(), "web", "web"), None);
    assert!(
        !root.path().join("charts/index/web").exists(),
        "an index entry naming a removed chart goes too"
    );
    assert!(!root.path().join("used/dependencies-b").exists());
}

#[test]
fn directories_of_the_previous_layout_are_removed() {
    let root = tempfile::tempdir().unwrap();
    let previous = root.path().join("charts/0123abcd/web");
    std::fs::create_dir_all(&previous).unwrap();
    std::fs::write(previous.join("Chart.yaml"), "name: web\n").unwrap();
    evict(root.path(), MAX_ENTRIES, Duration::ZERO);
    assert!(!root.path().join("charts/0123abcd").exists());
}
