//! Replays the committed fuzz corpus (tests/fuzz/corpus/<target>/) through the fuzz targets'
//! own entry functions on stable Rust, so every seed and every crash the fuzzer ever found
//! stays a regression test of the normal suite. `tests/fuzz.sh` runs the fuzzer itself.

#[path = "fuzz/entries.rs"]
mod entries;

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_fuzz_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    for (name, target) in entries::TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no seeds", dir.display());
        for file in files {
            let bytes = std::fs::read(&file).expect("reading a corpus file");
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name} fails on {}", file.display());
        }
    }
    entries::remove_sandbox();
}
