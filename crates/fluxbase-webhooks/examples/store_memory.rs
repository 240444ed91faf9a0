//! What a full `MemoryStore` holds per key of capacity: fills a store of the
//! given capacity (default 100,000) with as many replay keys (guarded, short
//! lived) and event keys (a day) as a busy receiver would, three times over
//! so every insert evicts, and prints the resident memory it grew by.
//!
//! `cargo run --release -p fluxbase-webhooks --example store_memory -- 500000`
//!
//! Reads `/proc/self/statm`, so it measures on Linux only.

use std::time::Duration;

use fluxbase_webhooks::dedupe::{DedupeStore, MemoryStore};

/// Resident bytes of this process, when the system says.
fn resident() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() -> std::process::ExitCode {
    let capacity = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 100_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: store_memory [CAPACITY > 0]");
            return std::process::ExitCode::from(2);
        }
    };
    let Some(before) = resident() else {
        eprintln!("store_memory: no /proc/self/statm here (Linux only)");
        return std::process::ExitCode::from(2);
    };
    let store = MemoryStore::new(capacity);
    let (replay, event) = (Duration::from_millis(50), Duration::from_secs(86_400));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    // The store's futures are ready when returned.
    let mut ready = |future: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>>| {
        let mut future = future;
        matches!(future.as_mut().poll(&mut cx), std::task::Poll::Ready(_))
    };
    for i in 0..capacity * 3 {
        let done = ready(store.insert_guarded(&format!("replay:{i:064}"), replay))
            && ready(store.insert(&format!("event:{i:064}"), event));
        if !done {
            eprintln!("store_memory: a store future was not ready");
            return std::process::ExitCode::FAILURE;
        }
    }
    let grown = resident().unwrap_or(before).saturating_sub(before);
    println!(
        "capacity {capacity}: {} keys held, resident memory +{:.1} MiB, {:.0} bytes a key of capacity",
        store.len(),
        grown as f64 / 1_048_576.0,
        grown as f64 / capacity as f64,
    );
    std::process::ExitCode::SUCCESS
}
