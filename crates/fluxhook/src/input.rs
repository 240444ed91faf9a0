//! Reading bodies from files or stdin, as raw bytes.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// Reads the whole body from `path`, or from stdin when `path` is `None` or `-`.
/// The bytes are kept as they are: no UTF-8 requirement, no newline trimming.
pub(crate) fn read_body(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        }
        _ => {
            let mut body = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut body)
                .context("cannot read the body from stdin")?;
            Ok(body)
        }
    }
}
