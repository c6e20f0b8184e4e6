//! Ring benchmarks: lookup latency and rebalance time for a large cluster.
//!
//! A plain program (no harness) run by `cargo bench -p arca-ring`; it prints
//! one line per measurement. Figures are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use arca_ring::{DeviceSpec, Ring, RingBuilder};

const PART_POWER: u8 = 18;
const REPLICAS: u8 = 3;
const ZONES: u32 = 10;
const NODES_PER_ZONE: u32 = 10;
const DEVICES_PER_NODE: u32 = 10;

fn device(zone: u32, node: u32, dev: u32, weight: f64) -> DeviceSpec {
    DeviceSpec {
        region: 1,
        zone,
        node: format!("10.0.{zone}.{node}:6000"),
        device: format!("d{dev}"),
        weight,
    }
}

/// 1,000 devices: 10 zones x 10 nodes x 10 devices, weights 100 to 400.
fn cluster() -> RingBuilder {
    let mut builder = RingBuilder::new(PART_POWER, REPLICAS, 0).expect("valid ring shape");
    for zone in 1..=ZONES {
        for node in 0..NODES_PER_ZONE {
            for dev in 0..DEVICES_PER_NODE {
                let weight = 100.0 * f64::from(1 + (zone + node + dev) % 4);
                builder.add_device(device(zone, node, dev, weight)).expect("valid device");
            }
        }
    }
    builder
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{what:<58} {:>10.3} s", start.elapsed().as_secs_f64());
    out
}

fn per_op(what: &str, ops: u64, elapsed: Duration) {
    println!("{what:<58} {:>10.1} ns/op", elapsed.as_nanos() as f64 / ops as f64);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let mut builder = cluster();
    println!(
        "ring: part_power {PART_POWER} ({} partitions), {REPLICAS} replicas, 1000 devices in {ZONES} zones",
        1u32 << PART_POWER
    );
    let report = timed("first rebalance (assign every partition-replica)", || builder.rebalance().unwrap());
    println!("  balance {:.3}%, pending {}", report.balance, report.pending_moves);

    let mut grown = builder.clone();
    for dev in 0..10 {
        grown.add_device(device(11, 0, dev, 200.0)).unwrap();
    }
    let report = timed("rebalance after adding 10 devices (a new zone)", || grown.rebalance().unwrap());
    println!("  moved {}, balance {:.3}%, pending {}", report.moved, report.balance, report.pending_moves);

    let mut one_more = builder.clone();
    one_more.add_device(device(3, 0, 99, 300.0)).unwrap();
    let report = timed("rebalance after adding 1 device", || one_more.rebalance().unwrap());
    let share = one_more.usage().last().and_then(|u| u.fair_share).unwrap_or(0.0);
    println!("  moved {} (fair share {share:.1}), balance {:.3}%", report.moved, report.balance);

    let mut shrunk = builder.clone();
    let held = shrunk.usage().iter().find(|u| u.device.id == 500).map_or(0, |u| u.partitions);
    shrunk.remove_device(500).unwrap();
    let report = timed("rebalance after removing 1 device", || shrunk.rebalance().unwrap());
    println!("  moved {} (it held {held}), balance {:.3}%", report.moved, report.balance);

    let mut reweighted = builder.clone();
    for id in 0..100 {
        let w = reweighted.device(id).unwrap().weight;
        reweighted.set_weight(id, w * 1.5).unwrap();
    }
    let later = SystemTime::now();
    let report =
        timed("rebalance after re-weighting 100 devices", || reweighted.rebalance_at(later).unwrap());
    println!("  moved {}, balance {:.3}%, pending {}", report.moved, report.balance, report.pending_moves);

    let dir = std::env::temp_dir().join(format!("arca-ring-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let builder_path = dir.join("object.builder");
    let ring_path = dir.join("object.ring");
    timed("save builder file", || builder.save(&builder_path).unwrap());
    timed("load builder file", || RingBuilder::load(&builder_path).unwrap());
    timed("write ring file", || builder.write_ring(&ring_path).unwrap());
    let ring = timed("load ring file (verify checksum and table)", || Ring::load(&ring_path).unwrap());
    println!(
        "  builder file {} bytes, ring file {} bytes",
        std::fs::metadata(&builder_path).unwrap().len(),
        std::fs::metadata(&ring_path).unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&dir);

    let keys: Vec<String> =
        (0..1_000_000).map(|i| format!("bucket-7/photos/2026/11/img-{i:08}.jpg")).collect();
    let start = Instant::now();
    let mut sink = 0u64;
    for key in &keys {
        let partition = ring.partition_for_key(key.as_bytes());
        sink = sink.wrapping_add(u64::from(ring.primaries(partition)[0]));
    }
    per_op(
        "lookup: key -> partition -> primary device ids (MD5 included)",
        keys.len() as u64,
        start.elapsed(),
    );

    let hashes: Vec<[u8; 16]> = keys.iter().map(|k| arca_types::placement_hash(k.as_bytes())).collect();
    let start = Instant::now();
    for hash in &hashes {
        let partition = ring.partition_for_hash(hash);
        for id in ring.primaries(partition) {
            sink = sink.wrapping_add(u64::from(ring.device(*id).unwrap().zone));
        }
    }
    per_op("lookup: hash -> partition -> 3 primary &Device", hashes.len() as u64, start.elapsed());

    let partitions = 100_000u32;
    let start = Instant::now();
    for p in 0..partitions {
        for d in ring.handoffs(p % ring.partition_count()).take(3) {
            sink = sink.wrapping_add(u64::from(d.id));
        }
    }
    per_op("handoffs: first 3 handoff devices of a partition", u64::from(partitions), start.elapsed());
    black_box(sink);
}
