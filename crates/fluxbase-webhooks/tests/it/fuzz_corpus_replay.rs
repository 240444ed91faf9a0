//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/seed-*`) and every
//! past crash input (`fuzz/regressions/<target>/*`) through the same property
//! checks the fuzz targets run, on stable, in the normal test command.

#[path = "../../../../fuzz/src/checks.rs"]
#[allow(dead_code, unreachable_pub)]
mod checks;

#[cfg(feature = "tower")]
#[path = "../../../../fuzz/src/tower_checks.rs"]
#[allow(dead_code, unreachable_pub)]
mod tower_checks;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if dir == "regressions" || name.starts_with("seed-") {
                let data = std::fs::read(&path).unwrap();
                found.push((path, data));
            }
        }
    }
    found
}

fn replay(target: &str, check: fn(&[u8]), at_least: usize) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= at_least,
        "{target}: only {} committed inputs under {}",
        inputs.len(),
        fuzz_dir().display()
    );
    for (path, data) in inputs {
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            std::panic::resume_unwind(Box::new(format!(
                "{target} fails on {}: {:?}",
                path.display(),
                panic.downcast_ref::<String>()
            )));
        }
    }
}

#[test]
fn signature_header_corpus() {
    replay("signature_header", checks::signature_header, 50);
}

#[test]
fn payload_corpus_and_regressions() {
    replay("payload", checks::payload, 20);
}

#[test]
fn verify_chunks_corpus() {
    replay(
        "verify_chunks",
        |data| {
            let _ = checks::verify_chunks(data);
        },
        50,
    );
    // The seeds made from the vectors' valid cases (mode byte 0: the
    // vector's own header) must get past parsing and the clock to a
    // matching MAC, or the corpus only exercises the header parser.
    let valid = inputs("verify_chunks")
        .iter()
        .filter(|(_, data)| data.first() == Some(&0) && checks::verify_chunks(data).is_ok())
        .count();
    assert!(valid >= 20, "only {valid} vector seeds verify");
}

#[cfg(feature = "tower")]
#[test]
fn tower_layer_corpus() {
    replay("tower_layer", tower_checks::tower_layer, 5);
}
