//! Hashing speed on one core with the crates Arca's server uses: MD5
//! (`md-5`, the ETag), SHA-256 (`sha2`, signed payloads) and CRC32C
//! (`crc32c`, every blob's checksum), over 1 MiB buffers for about two
//! seconds each. `scripts/bench` runs it beside the OpenSSL figures, since
//! these crates are not OpenSSL and need not match it.
//!
//! ```text
//! cargo run --release --ignore-rust-version -p arca-bench --example hash_speed
//! ```
//!
//! Prints one JSON object: `md5_mb_per_sec`, `sha256_mb_per_sec`,
//! `crc32c_mb_per_sec` (10^6 bytes per second).

use std::hint::black_box;
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};

const BUFFER: usize = 1 << 20;
const RUN: Duration = Duration::from_secs(2);

/// MB/s of `feed` over 1 MiB buffers for about [`RUN`].
fn speed(buffer: &[u8], mut feed: impl FnMut(&[u8])) -> f64 {
    feed(buffer); // warm up
    let started = Instant::now();
    let mut bytes = 0u64;
    while started.elapsed() < RUN {
        feed(black_box(buffer));
        bytes += buffer.len() as u64;
    }
    bytes as f64 / started.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let buffer: Vec<u8> =
        (0..BUFFER as u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8).collect();
    let mut md5 = Md5::new();
    let md5_speed = speed(&buffer, |b| md5.update(b));
    black_box(md5.finalize());
    let mut sha = Sha256::new();
    let sha_speed = speed(&buffer, |b| sha.update(b));
    black_box(sha.finalize());
    let mut crc = 0u32;
    let crc_speed = speed(&buffer, |b| crc = crc32c::crc32c_append(crc, b));
    black_box(crc);
    println!(
        "{{\"md5_mb_per_sec\":{md5_speed:.0},\"sha256_mb_per_sec\":{sha_speed:.0},\"crc32c_mb_per_sec\":{crc_speed:.0}}}"
    );
}
