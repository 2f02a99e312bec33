//! Replays the committed fuzz regression corpus (`tests/fuzz_regressions/<target>/*`)
//! through the same check functions the fuzz targets run (`fuzz/src/lib.rs`), so a
//! regression is caught by plain `cargo test`, without nightly or libFuzzer.
//!
//! `FUZZ_REPLAY_DIR=fuzz/corpus cargo test --release --test hardening_replay` replays a
//! whole local corpus (or a findings directory laid out as `<dir>/<target>/*`) instead.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

use std::fs;
use std::path::Path;

#[test]
fn fuzz_regression_corpus_replays_clean() {
    let root = match std::env::var_os("FUZZ_REPLAY_DIR") {
        Some(dir) => Path::new(&dir).to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions"),
    };
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let dir = root.join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let data = fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let t = std::time::Instant::now();
            if let Err(p) = std::panic::catch_unwind(|| check(&data)) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!(
                    "{target}: {} fails: {}",
                    file.display(),
                    msg.unwrap_or_default()
                );
            }
            if t.elapsed() > std::time::Duration::from_secs(1) {
                eprintln!("{target}: {} took {:?}", file.display(), t.elapsed());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus under {}", root.display());
}
