//! `arca ring ...` end to end: runs the built binary the way an operator or a
//! script does and checks placement from `show --json` alone.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fresh directory for one test under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ring-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn arca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arca")).args(args).output().expect("the arca binary runs")
}

/// Runs `arca ring ARGS`, expecting success; returns stdout.
fn ring(args: &[&str]) -> String {
    let mut all = vec!["ring"];
    all.extend_from_slice(args);
    let out = arca(&all);
    assert!(out.status.success(), "arca {} failed: {}", all.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `arca ring ARGS`, expecting failure; returns stderr.
fn ring_fails(args: &[&str]) -> String {
    let mut all = vec!["ring"];
    all.extend_from_slice(args);
    let out = arca(&all);
    assert!(
        !out.status.success(),
        "arca {} succeeded: {}",
        all.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn add(file: &str, region: u32, zone: u32, node: &str, device: &str, weight: f64) -> u32 {
    let out = ring(&[
        "add",
        file,
        "--region",
        &region.to_string(),
        "--zone",
        &zone.to_string(),
        "--node",
        node,
        "--device",
        device,
        "--weight",
        &weight.to_string(),
    ]);
    out.trim().parse().unwrap_or_else(|_| panic!("add printed {out:?}, not just an id"))
}

fn show(file: &str) -> Value {
    serde_json::from_str(&ring(&["show", file, "--json"])).expect("show --json prints one JSON object")
}

/// replica2part2dev as rows of ids.
fn table(v: &Value) -> Vec<Vec<u64>> {
    v["replica2part2dev"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|id| id.as_u64().unwrap()).collect())
        .collect()
}

/// Checks what a placement checker would: shape, distinct devices, distinct
/// zones when there are enough, partition counts matching the table.
fn check_placement(v: &Value) {
    let part_power = v["part_power"].as_u64().unwrap();
    let replicas = v["replicas"].as_u64().unwrap() as usize;
    let rows = table(v);
    assert_eq!(rows.len(), replicas);
    let parts = 1usize << part_power;
    assert!(rows.iter().all(|row| row.len() == parts));
    let devices: HashMap<u64, &Value> =
        v["devices"].as_array().unwrap().iter().map(|d| (d["id"].as_u64().unwrap(), d)).collect();
    let zones: HashSet<(u64, u64)> = devices
        .values()
        .filter(|d| d["weight"].as_f64().unwrap() > 0.0)
        .map(|d| (d["region"].as_u64().unwrap(), d["zone"].as_u64().unwrap()))
        .collect();
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for p in 0..parts {
        let ids: Vec<u64> = rows.iter().map(|row| row[p]).collect();
        let distinct: HashSet<u64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), replicas, "partition {p} repeats a device: {ids:?}");
        let in_zones: HashSet<(u64, u64)> = ids
            .iter()
            .map(|id| {
                let d = devices.get(id).unwrap_or_else(|| panic!("partition {p} on unlisted device {id}"));
                (d["region"].as_u64().unwrap(), d["zone"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(in_zones.len(), replicas.min(zones.len()), "partition {p} zones: {ids:?}");
        for id in ids {
            *counts.entry(id).or_default() += 1;
        }
    }
    for (id, d) in &devices {
        assert_eq!(d["partitions"].as_u64().unwrap(), counts.get(id).copied().unwrap_or(0), "device {id}");
    }
}

/// The most replicas of one partition that differ between two tables.
fn most_moved_in_one_partition(before: &Value, after: &Value) -> usize {
    let (a, b) = (table(before), table(after));
    (0..a[0].len()).map(|p| (0..a.len()).filter(|&r| a[r][p] != b[r][p]).count()).max().unwrap_or(0)
}

fn partitions_of(v: &Value, id: u64) -> u64 {
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .map_or(0, |d| d["partitions"].as_u64().unwrap())
}

#[test]
fn build_rebalance_change_and_look_up_a_ring() {
    let dir = scratch("cycle");
    let file_path = dir.join("object.builder");
    let file = file_path.to_str().unwrap();
    ring(&["create", file, "--part-power", "8", "--replicas", "3", "--min-part-hours", "0"]);

    // Before any rebalance: devices but no assignment.
    let mut ids = Vec::new();
    for zone in 1..=3 {
        for node in 1..=2 {
            ids.push(add(file, 1, zone, &format!("10.0.{zone}.{node}:6000"), "d0", 100.0));
        }
    }
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 5], "ids are handed out in order");
    let empty = show(file);
    assert_eq!(empty["version"], 0);
    assert_eq!(empty["replica2part2dev"], serde_json::json!([]));
    assert!(ring_fails(&["lookup", file, "k"]).contains("rebalance"));

    let out = ring(&["rebalance", file]);
    assert!(out.contains("published ring version 1"), "{out}");
    let v1 = show(file);
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["part_power"], 8);
    assert_eq!(v1["replicas"], 3);
    check_placement(&v1);
    // Equal weights, two devices per zone: 128 partitions each.
    for d in v1["devices"].as_array().unwrap() {
        assert_eq!(d["partitions"], 128, "{d}");
    }
    let ring_file = format!("{file}.ring");
    let published = arca_ring::Ring::load(&ring_file).expect("rebalance publishes FILE.ring");
    assert_eq!(published.version(), 1);

    // Lookup agrees with the table and with MD5's top bits.
    let key = "photos/2026/cat.jpg";
    let found: Value = serde_json::from_str(&ring(&["lookup", file, key, "--json"])).unwrap();
    let partition = arca_types::partition_of(&arca_types::placement_hash(key.as_bytes()), 8);
    assert_eq!(found["partition"], partition);
    let primaries: Vec<u64> =
        found["primaries"].as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect();
    let column: Vec<u64> = table(&v1).iter().map(|row| row[partition as usize]).collect();
    assert_eq!(primaries, column);
    let handoffs: Vec<u64> =
        found["handoffs"].as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(handoffs.len(), 3);
    assert!(handoffs.iter().all(|h| !primaries.contains(h)));
    let text = ring(&["lookup", file, key]);
    assert!(text.contains(&format!("partition {partition}")) && text.contains("handoffs:"), "{text}");

    // Re-weighting: device 0 triples, gains partitions, one replica per partition moves at most.
    ring(&["set-weight", file, "--id", "0", "--weight", "300"]);
    assert!(ring(&["rebalance", file]).contains("version 2"));
    let v2 = show(file);
    check_placement(&v2);
    assert!(partitions_of(&v2, 0) > partitions_of(&v1, 0));
    assert!(most_moved_in_one_partition(&v1, &v2) <= 1);

    // A fourth zone: dispersion still holds, one replica per partition moves at most.
    let new = add(file, 1, 4, "10.0.4.1:6000", "d0", 200.0);
    assert_eq!(new, 6);
    ring(&["rebalance", file]);
    let v3 = show(file);
    check_placement(&v3);
    assert!(partitions_of(&v3, 6) > 0);
    assert!(most_moved_in_one_partition(&v2, &v3) <= 1);

    // Removing a device: gone after the rebalance, only its replicas moved
    // (it held one replica of a partition at most, so all go at once).
    ring(&["remove", file, "--id", "3"]);
    let before = show(file);
    let removed = before["devices"].as_array().unwrap().iter().find(|d| d["id"] == 3).unwrap();
    assert_eq!(removed["removed"], true);
    ring(&["rebalance", file]);
    let v4 = show(file);
    check_placement(&v4);
    assert!(v4["devices"].as_array().unwrap().iter().all(|d| d["id"] != 3));
    assert!(table(&v4).iter().all(|row| !row.contains(&3)));
    assert!(most_moved_in_one_partition(&v3, &v4) <= 1);
    assert_eq!(v4["version"], 4);
    assert_eq!(arca_ring::Ring::load(&ring_file).unwrap().version(), 4);

    // Nothing changed: no new version.
    assert!(ring(&["rebalance", file]).contains("nothing changed"));
    assert_eq!(show(file)["version"], 4);
    let shown = ring(&["show", file]);
    assert!(shown.contains("10.0.4.1:6000") && shown.contains("ring version 4"), "{shown}");
}

#[test]
fn the_one_replica_rule_holds_with_min_part_hours_zero() {
    // Two zones of one device each and one of two: removing both single
    // devices at once would move two replicas of every partition; the
    // rebalance moves one and leaves the other for the next rebalance.
    let dir = scratch("one-replica");
    let file_path = dir.join("object.builder");
    let file = file_path.to_str().unwrap();
    ring(&["create", file, "--part-power", "6", "--replicas", "3", "--min-part-hours", "0"]);
    for (zone, node) in [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)] {
        add(file, 1, zone, &format!("10.0.{zone}.{node}:6000"), "d0", 100.0);
    }
    ring(&["rebalance", file]);
    let v1 = show(file);
    ring(&["remove", file, "--id", "0"]);
    ring(&["remove", file, "--id", "1"]);
    let out = ring(&["rebalance", file]);
    let v2 = show(file);
    assert!(most_moved_in_one_partition(&v1, &v2) <= 1);
    let both =
        (0..64).filter(|&p| table(&v1).iter().filter(|row| row[p] == 0 || row[p] == 1).count() == 2).count();
    assert!(both > 0);
    assert!(out.contains("still to move"), "{out}");
    // What was held back moves in the next rebalance.
    ring(&["rebalance", file]);
    let v3 = show(file);
    assert!(most_moved_in_one_partition(&v2, &v3) <= 1);
    check_placement(&v3);
    assert!(table(&v3).iter().all(|row| !row.contains(&0) && !row.contains(&1)));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = scratch("errors");
    let file_path = dir.join("object.builder");
    let file = file_path.to_str().unwrap();
    assert!(ring_fails(&["show", file]).contains("object.builder"));
    assert!(ring_fails(&["create", file, "--part-power", "30", "--replicas", "3"]).contains("part power 30"));
    ring(&["create", file, "--part-power", "6", "--replicas", "2"]);
    assert!(ring_fails(&["create", file, "--part-power", "6", "--replicas", "2"]).contains("already exists"));
    let bad_node =
        ["add", file, "--region", "1", "--zone", "1", "--node", "nohost", "--device", "d0", "--weight", "1"];
    assert!(ring_fails(&bad_node).contains("HOST:PORT"));
    add(file, 1, 1, "10.0.0.1:6000", "d0", 100.0);
    let dup = [
        "add",
        file,
        "--region",
        "1",
        "--zone",
        "2",
        "--node",
        "10.0.0.1:6000",
        "--device",
        "d0",
        "--weight",
        "1",
    ];
    assert!(ring_fails(&dup).contains("already in the ring"));
    let negative = ["set-weight", file, "--id", "0", "--weight", "-5"];
    assert!(ring_fails(&negative).contains("weight"));
    assert!(ring_fails(&["remove", file, "--id", "9"]).contains("no device with id 9"));
    assert!(ring_fails(&["rebalance", file]).contains("at least 2"));
    std::fs::write(&file_path, b"not a ring").unwrap();
    assert!(ring_fails(&["show", file]).contains("not an Arca ring builder file"));
}
