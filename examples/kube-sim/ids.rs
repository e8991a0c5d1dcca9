//! Names, uids and timestamps the API server makes up: uids, the random
//! suffixes of generated names, template hashes, RFC 3339 times.
//!
//! Randomness comes from the standard library's per-process hash keys: the
//! values must be unique, not secret.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::jiff::Timestamp;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Now (jiff's own clock needs its `std` feature, which k8s-openapi leaves off).
pub fn timestamp() -> Timestamp {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_nanosecond(since.as_nanos() as i128).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn random_u64() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((n, timestamp().as_nanosecond()))
}

/// A version-4 UUID, as Kubernetes gives every object.
pub fn uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The alphabet of generated name suffixes (no vowels, no look-alikes),
/// as apiserver's `names.SimpleNameGenerator` and `rand.SafeEncodeString`.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `n` random characters for `generateName` and pod names of a ReplicaSet.
pub fn suffix(n: usize) -> String {
    let mut value = random_u64();
    (0..n)
        .map(|_| {
            let c = ALPHABET[(value % ALPHABET.len() as u64) as usize];
            value /= ALPHABET.len() as u64;
            if value == 0 {
                value = random_u64();
            }
            c as char
        })
        .collect()
}

/// A stable short hash of some text, in the same alphabet (the
/// `pod-template-hash` of a Deployment's ReplicaSet).
pub fn hash(text: &str) -> String {
    // FNV-1a: stable across runs, unlike the standard hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize];
            h /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

/// Now, as a Kubernetes `Time` (seconds, UTC).
pub fn now() -> String {
    timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds since a Kubernetes time string, if it parses.
pub fn age_seconds(time: &str) -> Option<i64> {
    let then: Timestamp = time.parse().ok()?;
    Some(timestamp().as_second() - then.as_second())
}

/// kubectl's human duration: `45s`, `3m2s`, `5h`, `3d` (as `duration.HumanDuration`).
pub fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => {
            if s % 60 == 0 {
                format!("{}m", s / 60)
            } else {
                format!("{}m{}s", s / 60, s % 60)
            }
        }
        600..=10_799 => format!("{}m", s / 60),
        10_800..=28_799 => {
            let m = (s / 60) % 60;
            if m == 0 { format!("{}h", s / 3600) } else { format!("{}h{m}m", s / 3600) }
        }
        28_800..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
