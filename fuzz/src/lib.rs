//! Properties checked by the fuzz targets. Each function panics when its
//! property does not hold; the fuzz targets call them on generated inputs and
//! the corpus replay test (`crates/fluxbase-webhooks/tests/it/fuzz_corpus_replay.rs`)
//! calls them on the committed corpus and past crash inputs.

pub mod checks;
pub mod tower_checks;
