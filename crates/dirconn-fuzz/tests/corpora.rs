//! Replays every committed corpus file (`fuzz/corpus/<target>/*`) through its target, on stable, as an
//! ordinary test: what the fuzzer once found (and was fixed) stays fixed. A target without a corpus folder,
//! or with an empty one, fails the test.

use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_corpus_file_passes_its_target() {
    let root = corpus_root();
    let mut failed = Vec::new();
    for (name, target) in dirconn_fuzz::TARGETS {
        let dir = root.join(name);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("the corpus of {name}, {}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        assert!(!files.is_empty(), "the corpus of {name} ({}) is empty", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failed.push(file.display().to_string());
            }
        }
        println!("{name}: {} files replayed", files.len());
    }
    assert!(failed.is_empty(), "corpus files that fail their target: {failed:#?}");
}

#[test]
fn every_corpus_folder_is_a_target() {
    let names: Vec<&str> = dirconn_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    for entry in std::fs::read_dir(corpus_root()).expect("fuzz/corpus exists").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(names.contains(&name.as_str()), "fuzz/corpus/{name} belongs to no target of dirconn_fuzz::TARGETS");
    }
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for name in names {
        let file = targets.join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains("dirconn_fuzz::") && text.contains(&format!("{name}(data)")),
            "{} calls {name}",
            file.display()
        );
    }
}
