//! Metadata index micro-benchmark: durable inserts at 1, 16 and 64
//! concurrent writers, loading 1,000,000 rows into one bucket, and the
//! latency of 1000-entry list pages on that bucket.
//!
//! Run: `cargo bench --ignore-rust-version -p arca-meta` (set
//! ARCA_BENCH_DIR to put the stores on another disk; default: the system
//! temp dir). Prints figures; asserts nothing. docs/benchmarks.md records
//! the figures of one run.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arca_meta::{
    ListQuery, Manifest, ManifestPart, MetaConfig, MetaStore, ObjectBody, ObjectMeta, ObjectRow, PutCondition,
};
use arca_types::{Clock, ObjectId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const ROWS: u64 = 1_000_000;
const DIRS: u64 = 10_000;
const PAGE: usize = 1000;

/// A row like the gateway writes for a 10 MiB striped PUT (~200 bytes).
fn row(bucket: ObjectId, key: String, clock: &Clock) -> ObjectRow {
    let body = ObjectId::random();
    ObjectRow {
        bucket,
        key,
        version: None,
        ts: clock.now(),
        deleted: false,
        meta: ObjectMeta {
            size: 10 << 20,
            etag: "\"9e107d9d372bb6826bd81d3542a419d6\"".into(),
            owner: "AKIAIOSFODNN7EXAMPLE".into(),
            content_type: Some("application/octet-stream".into()),
            ..Default::default()
        },
        body: ObjectBody::Striped(Manifest {
            parts: vec![ManifestPart {
                part_number: 0,
                body,
                size: 10 << 20,
                stripe_size: 4 << 20,
                etag: "\"9e107d9d372bb6826bd81d3542a419d6\"".into(),
            }],
        }),
    }
}

/// Key `i` of the loaded bucket: 10,000 "directories" of 100 keys.
fn key(i: u64) -> String {
    format!("d{:05}/f{:03}.dat", i / (ROWS / DIRS), i % (ROWS / DIRS))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn fmt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// fdatasync of a 4 KiB append, to put the durable figures in context.
fn fdatasync_latency(dir: &Path) -> Duration {
    let mut f = std::fs::File::create(dir.join("sync-probe")).unwrap();
    let mut times = Vec::new();
    for _ in 0..200 {
        f.write_all(&[7u8; 4096]).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    percentile(&times, 0.5)
}

fn durable_inserts(base: &Path, writers: usize, run_for: Duration) {
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = Arc::new(MetaStore::open(dir.path(), MetaConfig::default()).unwrap());
    let clock = Arc::new(Clock::new(1));
    let bucket = ObjectId::random();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (store, clock, done) = (store.clone(), clock.clone(), done.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while start.elapsed() < run_for {
                    let t = Instant::now();
                    store
                        .put_object(row(bucket, format!("w{w:02}/k{i:08}"), &clock), PutCondition::Always)
                        .unwrap();
                    latencies.push(t.elapsed());
                    i += 1;
                }
                done.fetch_add(i, Ordering::Relaxed);
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let elapsed = start.elapsed();
    latencies.sort();
    let n = done.load(Ordering::Relaxed);
    println!(
        "durable put_object, {writers:>2} writers: {:>8.0} rows/s  ({n} rows in {:.1} s; latency p50 {}, p99 {})",
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        fmt(percentile(&latencies, 0.5)),
        fmt(percentile(&latencies, 0.99)),
    );
}

fn load(store: &MetaStore, bucket: ObjectId) {
    let clock = Clock::new(1);
    // Insert in a scrambled order (i -> i * a mod ROWS, a coprime to ROWS),
    // not key order, which would flatter the LSM tree.
    const A: u64 = 7_919;
    let start = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for n in 0..ROWS {
        batch.push(row(bucket, key(n * A % ROWS), &clock));
        if batch.len() == 1000 {
            store.put_objects(std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        store.put_objects(batch).unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "load {ROWS} rows into one bucket (put_objects, 1000 rows per durable commit): {:.1} s, {:.0} rows/s",
        elapsed.as_secs_f64(),
        ROWS as f64 / elapsed.as_secs_f64()
    );
}

/// Pages starting after a random key in `range` (fractions of the bucket).
fn list_latency(
    store: &MetaStore,
    bucket: ObjectId,
    label: &str,
    delimiter: Option<&str>,
    range: (f64, f64),
    pages: usize,
) {
    let mut rng = StdRng::seed_from_u64(7);
    let queries = (0..pages).map(|_| {
        let at = rng.random_range((range.0 * ROWS as f64) as u64..(range.1 * ROWS as f64) as u64);
        let start_after = if at == 0 { None } else { Some(key(at)) };
        ListQuery { prefix: String::new(), delimiter: delimiter.map(Into::into), start_after, max_keys: PAGE }
    });
    time_pages(store, bucket, label, queries.collect());
}

fn time_pages(store: &MetaStore, bucket: ObjectId, label: &str, queries: Vec<ListQuery>) {
    let pages = queries.len();
    let mut times = Vec::with_capacity(pages);
    let mut entries = 0;
    for q in queries {
        let t = Instant::now();
        let page = store.list_objects(bucket, &q).unwrap();
        times.push(t.elapsed());
        entries += page.entries.len();
    }
    times.sort();
    println!(
        "list page of {PAGE}, {label:<36}: p50 {}, p99 {}  ({} entries/page on average, {pages} pages)",
        fmt(percentile(&times, 0.5)),
        fmt(percentile(&times, 0.99)),
        entries / pages,
    );
}

fn main() {
    // `cargo bench` passes --bench; a name filter is not supported.
    let base = std::env::var_os("ARCA_BENCH_DIR").map(Into::into).unwrap_or_else(std::env::temp_dir);
    println!("arca-meta micro-benchmark; stores under {}", base.display());
    let probe = tempfile::tempdir_in(&base).unwrap();
    println!("fdatasync of a 4 KiB append on this disk: p50 {}", fmt(fdatasync_latency(probe.path())));
    drop(probe);

    for writers in [1, 16, 64] {
        durable_inserts(&base, writers, Duration::from_secs(5));
    }

    let dir = tempfile::tempdir_in(&base).unwrap();
    let store = MetaStore::open(dir.path(), MetaConfig::default()).unwrap();
    let bucket = ObjectId::random();
    load(&store, bucket);
    let stats = store.bucket_stats(bucket).unwrap();
    assert_eq!(stats.objects, ROWS, "every row loaded");
    println!("store size after loading: {:.0} MiB", dir_size(dir.path()) as f64 / (1 << 20) as f64);

    let pages = 300;
    for (label, range) in [("start", (0.0, 0.01)), ("middle", (0.45, 0.55)), ("end", (0.985, 0.998))] {
        list_latency(&store, bucket, &format!("no delimiter, {label}"), None, range, pages);
    }
    for (label, range) in [("start", (0.0, 0.01)), ("middle", (0.45, 0.55)), ("end", (0.88, 0.89))] {
        let what = format!("delimiter '/', 1000 prefixes, {label}");
        list_latency(&store, bucket, &what, Some("/"), range, pages / 3);
    }
    // One "directory": prefix d0NNNN/ and delimiter '/', 100 keys.
    let mut rng = StdRng::seed_from_u64(8);
    let queries = (0..pages)
        .map(|_| ListQuery {
            prefix: format!("d{:05}/", rng.random_range(0..DIRS)),
            delimiter: Some("/".into()),
            start_after: None,
            max_keys: PAGE,
        })
        .collect();
    time_pages(&store, bucket, "one directory (prefix d0NNNN/, '/')", queries);
    let mut rng = StdRng::seed_from_u64(9);
    let mut times: Vec<Duration> = (0..10_000)
        .map(|_| {
            let k = key(rng.random_range(0..ROWS));
            let t = Instant::now();
            store.get_object(bucket, &k).unwrap().unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "get_object on the loaded bucket: p50 {}, p99 {}",
        fmt(percentile(&times, 0.5)),
        fmt(percentile(&times, 0.99))
    );
}
