//! Text helpers shared by the library's modules and the `fluxhook` CLI.

/// At most `max_bytes` bytes of `s`: the longest prefix that fits, cut at a
/// character boundary so a multi-byte character is never split (and so the
/// result may be up to three bytes shorter than `max_bytes`).
///
/// Not part of the supported API (hidden from the docs): it is public only
/// so the `fluxhook` command line cuts text the way the library does.
///
/// ```
/// use fluxbase_webhooks::truncate_at_char_boundary;
///
/// assert_eq!(truncate_at_char_boundary("café", 4), "caf");
/// assert_eq!(truncate_at_char_boundary("café", 5), "café");
/// ```
#[doc(hidden)]
pub fn truncate_at_char_boundary(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    // `str::floor_char_boundary` is newer than the minimum supported Rust.
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char_boundary as cut;

    #[test]
    fn multi_byte_characters_are_never_split() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("short", 5), "short");
        assert_eq!(cut("short", 0), "");
        // "é" is 2 bytes, "€" 3, "🦀" 4.
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("ééé", 4), "éé");
        assert_eq!(cut("€uro", 2), "");
        assert_eq!(cut("€uro", 3), "€");
        for max in 0..4 {
            assert_eq!(cut("🦀!", max), "", "max {max}");
        }
        assert_eq!(cut("🦀!", 4), "🦀");
        assert_eq!(cut("a🦀", 4), "a");
        let long = "ü".repeat(3000);
        for max in [1023, 1024, 4095] {
            let cut = cut(&long, max);
            assert!(
                cut.len() <= max && cut.len() + 1 >= max,
                "{max}: {}",
                cut.len()
            );
            assert!(cut.chars().all(|c| c == 'ü'));
        }
    }
}
