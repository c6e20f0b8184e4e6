//! Blob store micro-benchmark; prints the figures in docs/benchmarks.md.
//!
//!     cargo bench --ignore-rust-version -p arca-blob
//!
//! - 4 KiB durable puts/s at 1, 16 and 64 concurrent writers, for the
//!   volume store (group commit) and for the naive layout it replaces: one
//!   file per blob, fsynced (with and without the directory fsync that a
//!   new file needs to survive a power loss). Same run, same disk.
//! - The time to reopen the store the 64-writer run filled (startup cost:
//!   reading the sidecars and building the in-memory index).
//! - 4 MiB stripe writes and reads, MB/s, with 1 and 4 threads. Reads come
//!   from the page cache (the stripes were just written): they measure the
//!   read path's cost (pread + CRC32C), not the disk.
//!
//! Environment: ARCA_BENCH_DIR (default: the system temp dir; use the disk
//! you care about), ARCA_BENCH_SECS (seconds per put measurement, default 3),
//! ARCA_BENCH_STRIPES (4 MiB stripes per stripe measurement, default 128).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arca_blob::{BlobStore, BlobStoreConfig};
use arca_types::{BlobId, ObjectId};

const SMALL: usize = 4 << 10;
const STRIPE: usize = 4 << 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let base: PathBuf = env_or("ARCA_BENCH_DIR", std::env::temp_dir());
    let secs: u64 = env_or("ARCA_BENCH_SECS", 3);
    let stripes: u32 = env_or("ARCA_BENCH_STRIPES", 128);
    let duration = Duration::from_secs(secs);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("arca-blob micro-benchmark: dir {}, {cores} cores, {secs} s per put figure", base.display());
    println!();
    println!(
        "| writers | volume store puts/s | file per blob + fsync | + dir fsync | ratio (store / file) |"
    );
    println!(
        "|--------:|--------------------:|----------------------:|------------:|---------------------:|"
    );
    let mut reopen = None;
    for threads in [1usize, 16, 64] {
        let (store, reopened) = store_puts(&base, threads, duration);
        reopen = Some(reopened);
        let naive = naive_puts(&base, threads, duration, false);
        let naive_dir = naive_puts(&base, threads, duration, true);
        println!(
            "| {threads:>7} | {store:>19.0} | {naive:>21.0} | {naive_dir:>11.0} | {:>19.1}x |",
            store / naive
        );
    }
    if let Some((blobs, took)) = reopen {
        println!();
        println!(
            "Reopening the 64-writer store ({blobs} blobs, clean stop): {:.0} ms",
            took.as_secs_f64() * 1e3
        );
    }
    println!();
    println!("| 4 MiB stripes | threads | write MB/s | read MB/s (page cache) |");
    println!("|--------------:|--------:|-----------:|-----------------------:|");
    for threads in [1usize, 4] {
        let (write, read) = stripes_rw(&base, threads, stripes);
        println!("| {stripes:>13} | {threads:>7} | {write:>10.0} | {read:>22.0} |");
    }
}

fn blob_id(thread: usize, n: u64) -> BlobId {
    let mut object = [0u8; 16];
    object[..8].copy_from_slice(&(thread as u64).to_be_bytes());
    object[8..].copy_from_slice(&n.to_be_bytes());
    BlobId::new(ObjectId(object), 0)
}

/// Runs `op(thread, n)` from `threads` threads until `duration` has passed;
/// returns operations per second.
fn run_for(threads: usize, duration: Duration, op: impl Fn(usize, u64) + Send + Sync + 'static) -> f64 {
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (op, done) = (op.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while Instant::now() < deadline {
                    op(t, n);
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("benchmark thread panicked");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Returns puts/s, and the blob count and time of reopening the store.
fn store_puts(base: &Path, threads: usize, duration: Duration) -> (f64, (u64, Duration)) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = Arc::new(BlobStore::open(dir.path(), BlobStoreConfig::default()).expect("open store"));
    let data = vec![0x5au8; SMALL];
    let writer = store.clone();
    let rate = run_for(threads, duration, move |t, n| {
        writer.put(blob_id(t, n), (n % 64) as u32, &data).expect("put");
    });
    drop(Arc::into_inner(store).expect("writers are done"));
    let start = Instant::now();
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).expect("reopen store");
    let took = start.elapsed();
    (rate, (store.stats().blobs, took))
}

fn naive_puts(base: &Path, threads: usize, duration: Duration, sync_dir: bool) -> f64 {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let path = dir.path().to_path_buf();
    let data = vec![0x5au8; SMALL];
    run_for(threads, duration, move |t, n| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path.join(blob_id(t, n).to_string()))
            .expect("create blob file");
        f.write_all(&data).expect("write");
        f.sync_data().expect("fsync");
        if sync_dir {
            File::open(&path).and_then(|d| d.sync_all()).expect("fsync dir");
        }
    })
}

/// Writes `count` 4 MiB stripes from `threads` threads, then reads them all
/// back the same way; returns (write MB/s, read MB/s).
fn stripes_rw(base: &Path, threads: usize, count: u32) -> (f64, f64) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = Arc::new(BlobStore::open(dir.path(), BlobStoreConfig::default()).expect("open store"));
    let per_thread = count.div_ceil(threads as u32);
    let total_mb = f64::from(per_thread * threads as u32) * STRIPE as f64 / 1e6;
    let each = |work: Arc<dyn Fn(usize, u32) + Send + Sync>| {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let work = work.clone();
                std::thread::spawn(move || (0..per_thread).for_each(|i| work(t, i)))
            })
            .collect();
        for h in handles {
            h.join().expect("benchmark thread panicked");
        }
        total_mb / start.elapsed().as_secs_f64()
    };
    let stripe: Vec<u8> = (0..STRIPE).map(|i| (i * 31 % 251) as u8).collect();
    let writer = store.clone();
    let write = each(Arc::new(move |t, i| {
        writer.put(BlobId::new(ObjectId([t as u8; 16]), i), 0, &stripe).expect("put stripe");
    }));
    let reader = store.clone();
    let read = each(Arc::new(move |t, i| {
        let got = reader.get(&BlobId::new(ObjectId([t as u8; 16]), i)).expect("get stripe");
        assert_eq!(got.len(), STRIPE);
    }));
    (write, read)
}
