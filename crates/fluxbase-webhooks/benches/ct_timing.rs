//! Statistical constant-time check of signature comparison (dudect-style).
//!
//! `cargo bench -p fluxbase-webhooks --bench ct_timing [-- --samples N]`
//!
//! For each subject, inputs of two classes are timed in random interleaved
//! order, the slowest tail is cropped, and Welch's t-test compares the two
//! timing distributions. |t| above 4.5 is the usual threshold for "the
//! timing depends on the class". Subjects:
//!
//! - `verify (first vs last byte wrong)`: a whole incremental verification
//!   (`begin_at` on the header value, `update` over the body, `finish`: HMAC
//!   finalization and the comparison of every candidate tag) for a tag wrong
//!   in its first byte vs wrong in its last byte. An early-exit comparison
//!   leaks here.
//! - `verify_at (first vs last byte wrong)`: the same through the one-shot
//!   path ([`Verifier::verify_at`]), which compares without a `Verification`.
//! - `ct_eq (equal vs first byte wrong)` and `(first vs last byte wrong)`:
//!   `subtle`'s comparison of 32-byte arrays, the crate the verifier builds
//!   on (the verifier compares tags as four words; its own comparison is
//!   timed by the `verify` subjects).
//! - `verify + early-exit loop (control)`: the `verify` subject followed by
//!   a byte loop that stops at the first difference, with the same number
//!   of samples: the few nanoseconds such a comparison leaks must be found
//!   on top of a whole verification, or the `verify` subjects' "no leak"
//!   means nothing.
//! - `early-exit loop (control)`: that byte loop alone. It must be flagged;
//!   otherwise the harness is not sensitive enough to trust the `ct_eq`
//!   answers.
//!
//! Exit status 1 when a fluxhook subject leaks or the control does not.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use fluxbase_webhooks::{Scheme, SignatureHeader, Signer, Verifier};
use subtle::ConstantTimeEq;

const THRESHOLD: f64 = 4.5;

/// Welch's t statistic over two samples, with online mean and variance.
#[derive(Default)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let d = x - self.mean[class];
        self.mean[class] += d / self.n[class];
        self.m2[class] += d * (x - self.mean[class]);
    }

    fn t(&self) -> f64 {
        let var = |c: usize| self.m2[c] / (self.n[c] - 1.0);
        let se = (var(0) / self.n[0] + var(1) / self.n[1]).sqrt();
        if se == 0.0 {
            0.0
        } else {
            (self.mean[0] - self.mean[1]) / se
        }
    }
}

/// xorshift64*: cheap, deterministic class choice.
struct Rng(u64);

impl Rng {
    fn bit(&mut self) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 63) as usize
    }
}

/// Times `op(class)` `samples` times with random classes; `batch` calls per
/// measurement lift short operations above the clock's resolution.
fn measure(samples: usize, batch: u32, mut op: impl FnMut(usize)) -> (f64, [f64; 2]) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut raw: Vec<(usize, f64)> = Vec::with_capacity(samples);
    // Warm up caches and branch predictors.
    for i in 0..samples.min(10_000) {
        op(i & 1);
    }
    for _ in 0..samples {
        let class = rng.bit();
        let start = Instant::now();
        for _ in 0..batch {
            op(class);
        }
        raw.push((class, start.elapsed().as_nanos() as f64 / f64::from(batch)));
    }
    // Crop the slowest 5 % (interrupts, preemption): dudect's percentile crop.
    let mut sorted: Vec<f64> = raw.iter().map(|r| r.1).collect();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted[(sorted.len() as f64 * 0.95) as usize];
    let mut w = Welch::default();
    for (class, x) in raw {
        if x <= cut {
            w.push(class, x);
        }
    }
    (w.t(), w.mean)
}

fn early_exit_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for i in 0..32 {
        if a[i] != b[i] {
            return false;
        }
    }
    true
}

fn main() {
    let samples = std::env::args()
        .skip_while(|a| a != "--samples")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(400_000usize);
    let body = vec![b'x'; 256];
    let t = 1_700_000_000i64;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64);
    let (Ok(verifier), Ok(signer)) = (Verifier::new("ct-secret"), Signer::new("ct-secret")) else {
        panic!("the secret is not empty");
    };
    let good = signer.tag(Scheme::Timestamped, t, &body);
    let flip = |i: usize| {
        let mut tag = good;
        tag[i] ^= 0x01;
        tag
    };
    let values = [flip(0), flip(31)].map(|tag| SignatureHeader::timestamped(t, tag).to_string());

    println!(
        "dudect-style timing check, {samples} samples per subject ({} for those that verify), threshold |t| > {THRESHOLD}",
        samples / 4
    );
    let mut failed = false;
    let mut report = |name: &str, (tv, means): (f64, [f64; 2]), must_leak: bool| {
        let leaks = tv.abs() > THRESHOLD;
        let verdict = match (leaks, must_leak) {
            (false, false) => "ok: no timing difference found",
            (true, true) => "ok: control leak detected (the harness is sensitive)",
            (true, false) => "LEAK",
            (false, true) => "INSENSITIVE: the control was not detected",
        };
        failed |= leaks != must_leak;
        println!(
            "{name:<46} t = {tv:>8.2}  means {:>8.1} / {:>8.1} ns  {verdict}",
            means[0], means[1]
        );
    };

    // A whole incremental verification of a tag of the class.
    let verify = |class: usize| {
        let mut v = verifier
            .begin_at(&values[class], now)
            .unwrap_or_else(|e| panic!("{e}"));
        v.update(&body);
        let _ = black_box(v.finish(&body));
    };
    report(
        "verify (first vs last byte wrong)",
        measure(samples / 4, 1, verify),
        false,
    );
    report(
        "verify_at (first vs last byte wrong)",
        measure(samples / 4, 1, |class| {
            let _ = black_box(verifier.verify_at(&values[class], &body, now));
        }),
        false,
    );
    let pairs_equal = [good, flip(0)];
    report(
        "ct_eq (equal vs first byte wrong)",
        measure(samples, 64, |class| {
            black_box(bool::from(
                black_box(&good).ct_eq(black_box(&pairs_equal[class])),
            ));
        }),
        false,
    );
    let pairs_pos = [flip(0), flip(31)];
    report(
        "ct_eq (first vs last byte wrong)",
        measure(samples, 64, |class| {
            black_box(bool::from(
                black_box(&good).ct_eq(black_box(&pairs_pos[class])),
            ));
        }),
        false,
    );
    report(
        "verify + early-exit loop (control; must leak)",
        measure(samples / 4, 1, |class| {
            verify(class);
            black_box(early_exit_eq(
                black_box(&good),
                black_box(&pairs_pos[class]),
            ));
        }),
        true,
    );
    report(
        "early-exit loop (control; must leak)",
        measure(samples, 64, |class| {
            black_box(early_exit_eq(
                black_box(&good),
                black_box(&pairs_pos[class]),
            ));
        }),
        true,
    );
    if failed {
        std::process::exit(1);
    }
}
