//! The one place the core reads the clock.
//!
//! On `wasm32-unknown-unknown` the standard library has no clock:
//! `SystemTime::now()` and `Instant::now()` panic there. Those hosts are
//! JavaScript engines (Cloudflare Workers, Deno, browsers), so the time comes
//! from `Date.now()` and `performance.now()` through `web-time`. Everywhere
//! else, WASI included, it is the standard library's.

use std::time::SystemTime;

/// A monotonic instant: `std::time::Instant`, or its `web-time` twin on
/// `wasm32-unknown-unknown`.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) use std::time::Instant;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) use web_time::Instant;

/// The current wall-clock time.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// The current wall-clock time, from JavaScript's `Date.now()`.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn now() -> SystemTime {
    use web_time::web::SystemTimeExt as _;
    web_time::SystemTime::now().to_std()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn now_is_the_wall_clock() {
        let before = SystemTime::now();
        let read = now();
        let after = SystemTime::now();
        assert!(before <= read && read <= after);
        // Well after 2020: a clock that starts at the epoch would fail here.
        assert!(read > UNIX_EPOCH + Duration::from_secs(1_577_836_800));
    }

    #[test]
    fn instant_is_monotonic() {
        let a = Instant::now();
        let b = Instant::now();
        assert!(b >= a);
    }
}
