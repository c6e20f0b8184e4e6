//! The ring's invariants, checked on random clusters (1 to 200 devices, 1 to
//! 10 zones, up to 3 regions, unequal weights). The bounds asserted here are
//! the ones docs/design.md states; each check is computed from the public
//! outputs (the replica2part2dev table, devices, fair shares), not from the
//! builder's internals.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use arca_ring::{Device, DeviceSpec, RingBuilder};
use proptest::prelude::*;

/// After a rebalance that could finish (nothing pending), every device holds
/// its fair share to within this many partition-replicas.
const BALANCE_SLACK: f64 = 2.0;
/// Adding one device moves at most ADD_FACTOR x its fair share + ADD_SLACK.
const ADD_FACTOR: f64 = 2.0;
const ADD_SLACK: f64 = 3.0;
/// Removing one device moves what it held, plus what the assignment forces
/// (see `forced_moves`), plus at most this many more (rounding: one per level
/// of regions, zones and nodes), in clusters where dispersion leaves every
/// replica a choice (see `loose`).
const REMOVE_SLACK: usize = 3;

#[derive(Debug, Clone)]
struct DevSpec {
    region: u32,
    zone: u32,
    node: u32,
    weight: u32,
}

#[derive(Debug, Clone)]
struct Cluster {
    part_power: u8,
    replicas: u8,
    devices: Vec<DevSpec>,
}

fn spec(d: &DevSpec, name: String) -> DeviceSpec {
    DeviceSpec {
        region: d.region,
        zone: d.zone,
        node: format!("10.{}.{}.{}:6000", d.region, d.zone, d.node),
        device: name,
        weight: f64::from(d.weight) * 100.0,
    }
}

/// Random clusters: `max_regions` regions, 1 to 10 zones (numbered per
/// region), up to 4 nodes a zone, weights 100 to 1000.
fn clusters(min_zones: u32, max_regions: u32) -> impl Strategy<Value = Cluster> {
    (6u8..=9, 1u8..=3, min_zones..=10u32, 1..=max_regions, 1u32..=4).prop_flat_map(
        |(part_power, replicas, zones, regions, nodes)| {
            let device = (1..=regions, 1..=zones, 0..nodes, prop::sample::select(vec![1u32, 2, 3, 5, 10]))
                .prop_map(|(region, zone, node, weight)| DevSpec { region, zone, node, weight });
            prop::collection::vec(device, usize::from(replicas)..=200).prop_map(move |devices| Cluster {
                part_power,
                replicas,
                devices,
            })
        },
    )
}

fn build(c: &Cluster, min_part_hours: u32) -> RingBuilder {
    let mut b = RingBuilder::new(c.part_power, c.replicas, min_part_hours).unwrap();
    for (i, d) in c.devices.iter().enumerate() {
        b.add_device(spec(d, format!("d{i}"))).unwrap();
    }
    b
}

fn table(b: &RingBuilder) -> Vec<Vec<u32>> {
    b.replica2part2dev().expect("rebalanced")
}

fn partitions(b: &RingBuilder) -> usize {
    1 << b.part_power()
}

/// Slots (partition, replica) whose device differs.
fn changed_slots(before: &[Vec<u32>], after: &[Vec<u32>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (r, (x, y)) in before.iter().zip(after).enumerate() {
        for (p, (a, b)) in x.iter().zip(y).enumerate() {
            if a != b {
                out.push((p, r));
            }
        }
    }
    out
}

fn most_replicas_changed_in_one_partition(before: &[Vec<u32>], after: &[Vec<u32>]) -> usize {
    let mut per: HashMap<usize, usize> = HashMap::new();
    for (p, _) in changed_slots(before, after) {
        *per.entry(p).or_default() += 1;
    }
    per.values().copied().max().unwrap_or(0)
}

fn devices(b: &RingBuilder) -> HashMap<u32, Device> {
    b.devices().map(|d| (d.id, d.clone())).collect()
}

fn active(b: &RingBuilder) -> Vec<Device> {
    b.devices().filter(|d| d.weight > 0.0 && !b.is_removed(d.id)).cloned().collect()
}

/// Every partition has `replicas` distinct devices.
fn check_distinct(b: &RingBuilder) -> Result<(), TestCaseError> {
    let t = table(b);
    let devs = devices(b);
    for p in 0..partitions(b) {
        let ids: HashSet<u32> = t.iter().map(|row| row[p]).collect();
        prop_assert_eq!(ids.len(), usize::from(b.replicas()), "partition {} repeats a device", p);
        for id in ids {
            prop_assert!(devs.contains_key(&id), "partition {} on unknown device {}", p, id);
        }
    }
    Ok(())
}

/// Every partition spans min(replicas, n) regions, zones and nodes, where n
/// counts those with a device of weight above zero: replicas are in
/// distinct zones whenever there are enough zones, otherwise in all of them.
fn check_dispersion(b: &RingBuilder) -> Result<(), TestCaseError> {
    let t = table(b);
    let devs = devices(b);
    let live = active(b);
    let r = usize::from(b.replicas());
    let regions = live.iter().map(|d| d.region).collect::<HashSet<_>>().len();
    let zones = live.iter().map(|d| (d.region, d.zone)).collect::<HashSet<_>>().len();
    let nodes = live.iter().map(|d| (d.region, d.zone, d.node.clone())).collect::<HashSet<_>>().len();
    for p in 0..partitions(b) {
        let ds: Vec<&Device> = t.iter().map(|row| &devs[&row[p]]).collect();
        let got_regions = ds.iter().map(|d| d.region).collect::<HashSet<_>>().len();
        let got_zones = ds.iter().map(|d| (d.region, d.zone)).collect::<HashSet<_>>().len();
        let got_nodes = ds.iter().map(|d| (d.region, d.zone, d.node.clone())).collect::<HashSet<_>>().len();
        prop_assert_eq!(got_regions, r.min(regions), "partition {} regions", p);
        prop_assert_eq!(got_zones, r.min(zones), "partition {} zones", p);
        prop_assert_eq!(got_nodes, r.min(nodes), "partition {} nodes", p);
    }
    Ok(())
}

/// Every device within BALANCE_SLACK of its fair share; fair shares add up
/// to all partition-replicas and none exceeds one replica of every partition.
fn check_balance(b: &RingBuilder) -> Result<(), TestCaseError> {
    let usage = b.usage();
    let total: f64 = usage.iter().filter_map(|u| u.fair_share).sum();
    let slots = (partitions(b) * usize::from(b.replicas())) as f64;
    prop_assert!((total - slots).abs() < 1e-6 * slots, "fair shares add to {} of {}", total, slots);
    for u in &usage {
        let share = u.fair_share.unwrap();
        prop_assert!(share <= partitions(b) as f64 + 1e-9);
        prop_assert!(
            (u.partitions as f64 - share).abs() < BALANCE_SLACK,
            "device {} holds {} for a fair share of {:.2}",
            u.device.id,
            u.partitions,
            share
        );
    }
    Ok(())
}

/// Rebalances until nothing moves (a few rounds at most).
fn converge(b: &mut RingBuilder) {
    for _ in 0..4 {
        if b.rebalance().unwrap().moved == 0 {
            break;
        }
    }
}

/// One region, and no zone with a fair share above half the partitions:
/// every replica of a removed device has several zones it may go to, and no
/// zone, node or device may hold two replicas of one partition.
fn loose(b: &RingBuilder) -> bool {
    let mut zone_share: HashMap<(u32, u32), f64> = HashMap::new();
    let mut regions = HashSet::new();
    for u in b.usage() {
        regions.insert(u.device.region);
        *zone_share.entry((u.device.region, u.device.zone)).or_default() += u.fair_share.unwrap_or(0.0);
    }
    regions.len() == 1 && zone_share.values().all(|&s| s <= partitions(b) as f64 / 2.0)
}

/// Partition-replicas that removing device `victim` from the ring `before`
/// forces to move besides its own, where no domain may hold two replicas of a
/// partition (`loose`); `after` is the builder once it is removed. A lower
/// bound whatever the algorithm: after the removal a zone (likewise a node, a
/// device) must hold at least the floor of its new fair share, and of that
/// growth the removed device's replicas can supply at most one for each of
/// its partitions that has no other replica there; the rest must come from
/// partitions the removed device never held, one extra move each. Moves into
/// different zones are different moves, so the sum over zones is a bound;
/// the largest of the three levels' sums is returned.
///
/// Not zero in general: placement may have paired the removed device's zone
/// with one other zone in most partitions (say 37 of its 43), and if that
/// other zone must grow by more than the rest (10 > 43 - 37), no placement of
/// the removed replicas alone can follow the new fair shares.
fn forced_moves(before: &[Vec<u32>], after: &RingBuilder, victim: u32) -> usize {
    let devs = devices(after);
    let share: HashMap<u32, f64> =
        after.usage().iter().map(|u| (u.device.id, u.fair_share.unwrap_or(0.0))).collect();
    let held: Vec<usize> =
        (0..partitions(after)).filter(|&p| before.iter().any(|row| row[p] == victim)).collect();
    let mut most = 0;
    for level in 0..3 {
        // A zone, node or device, as (region, zone, node, device id).
        let domain = |id: u32| {
            let d = &devs[&id];
            match level {
                0 => (d.region, d.zone, String::new(), u32::MAX),
                1 => (d.region, d.zone, d.node.clone(), u32::MAX),
                _ => (d.region, d.zone, d.node.clone(), id),
            }
        };
        let mut wanted: HashMap<_, f64> = HashMap::new();
        for (&id, &s) in &share {
            *wanted.entry(domain(id)).or_default() += s;
        }
        let mut had: HashMap<_, i64> = HashMap::new();
        for &id in before.iter().flatten().filter(|&&id| id != victim) {
            *had.entry(domain(id)).or_default() += 1;
        }
        let mut forced = 0;
        for (dom, want) in &wanted {
            let grow = (want + 1e-6).floor() as i64 - had.get(dom).copied().unwrap_or(0);
            let supply = held
                .iter()
                .filter(|&&p| !before.iter().any(|row| row[p] != victim && domain(row[p]) == *dom))
                .count() as i64;
            forced += (grow - supply).max(0) as usize;
        }
        most = most.max(forced);
    }
    most
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn first_rebalance_is_distinct_dispersed_and_balanced(c in clusters(1, 3)) {
        let mut b = build(&c, 0);
        let report = b.rebalance().unwrap();
        prop_assert_eq!(report.assigned as usize, partitions(&b) * usize::from(c.replicas));
        prop_assert_eq!(report.moved, 0);
        prop_assert_eq!(report.version, 1);
        check_distinct(&b)?;
        check_dispersion(&b)?;
        prop_assert_eq!(report.undispersed_partitions, 0);
        // The first placement may leave a few replicas for a second pass.
        converge(&mut b);
        check_balance(&b)?;
    }

    #[test]
    fn fair_shares_follow_weight_when_dispersion_allows(c in clusters(1, 1)) {
        // One region; if every node (hence every zone) weighs at most 1/R of
        // the total, nothing caps a domain and shares are exactly weight
        // proportional.
        let mut b = build(&c, 0);
        b.rebalance().unwrap();
        let live = active(&b);
        let total: f64 = live.iter().map(|d| d.weight).sum();
        let r = f64::from(c.replicas);
        let mut node_weight: HashMap<(u32, String), f64> = HashMap::new();
        for d in &live {
            *node_weight.entry((d.zone, d.node.clone())).or_default() += d.weight;
        }
        let zones = live.iter().map(|d| d.zone).collect::<HashSet<_>>().len();
        let nodes = node_weight.len();
        let uncapped = node_weight.values().all(|&w| w * r <= total)
            && zones >= usize::from(c.replicas)
            && nodes >= usize::from(c.replicas);
        let mut zone_weight: HashMap<u32, f64> = HashMap::new();
        for d in &live {
            *zone_weight.entry(d.zone).or_default() += d.weight;
        }
        if uncapped && zone_weight.values().all(|&w| w * r <= total) {
            let slots = (partitions(&b) * usize::from(c.replicas)) as f64;
            for u in b.usage() {
                let expected = slots * u.device.weight / total;
                prop_assert!((u.fair_share.unwrap() - expected).abs() < 1e-6 * slots);
            }
        }
    }

    #[test]
    fn adding_a_device_moves_about_its_fair_share(
        c in clusters(1, 3),
        zone in 1u32..=11,
        weight in prop::sample::select(vec![1u32, 2, 3, 5, 10]),
    ) {
        let mut b = build(&c, 0);
        b.rebalance().unwrap();
        converge(&mut b);
        let before = table(&b);
        let new = DevSpec { region: 1, zone, node: 9, weight };
        let id = b.add_device(spec(&new, "new".to_string())).unwrap();
        let report = b.rebalance().unwrap();
        let after = table(&b);
        let share = b.usage().iter().find(|u| u.device.id == id).unwrap().fair_share.unwrap();
        prop_assert_eq!(changed_slots(&before, &after).len() as u64, report.moved);
        prop_assert!(
            report.moved as f64 <= ADD_FACTOR * share + ADD_SLACK,
            "moved {} for a fair share of {:.2}", report.moved, share
        );
        prop_assert!(most_replicas_changed_in_one_partition(&before, &after) <= 1);
        check_distinct(&b)?;
        check_dispersion(&b)?;
        // What the one-replica rule held back, later rebalances finish.
        converge(&mut b);
        check_balance(&b)?;
    }

    #[test]
    fn removing_a_device_moves_what_it_held(c in clusters(4, 1), pick in any::<prop::sample::Index>()) {
        let mut b = build(&c, 0);
        b.rebalance().unwrap();
        converge(&mut b);
        let live = active(&b);
        prop_assume!(live.len() > usize::from(c.replicas));
        let victim = live[pick.index(live.len())].id;
        let loose_before = loose(&b);
        let before = table(&b);
        let held: Vec<(usize, usize)> = before
            .iter()
            .enumerate()
            .flat_map(|(r, row)| row.iter().enumerate().filter(|(_, d)| **d == victim).map(move |(p, _)| (p, r)))
            .collect();
        b.remove_device(victim).unwrap();
        let report = b.rebalance().unwrap();
        let after = table(&b);
        // Gone in one rebalance: it held at most one replica of each partition.
        prop_assert!(b.device(victim).is_none());
        prop_assert!(after.iter().all(|row| !row.contains(&victim)));
        prop_assert_eq!(report.on_removed_devices, 0);
        let changed = changed_slots(&before, &after);
        for slot in &held {
            prop_assert!(changed.contains(slot));
        }
        prop_assert!(most_replicas_changed_in_one_partition(&before, &after) <= 1);
        if loose_before && loose(&b) {
            let forced = forced_moves(&before, &b, victim);
            prop_assert!(
                changed.len() <= held.len() + forced + REMOVE_SLACK,
                "moved {} replicas; the removed device held {} and the assignment forced {} more",
                changed.len(), held.len(), forced
            );
        }
        check_distinct(&b)?;
        check_dispersion(&b)?;
    }

    #[test]
    fn no_rebalance_moves_two_replicas_of_a_partition(
        c in clusters(1, 2),
        ops in prop::collection::vec((0u8..3, any::<prop::sample::Index>(), 0u32..=10, 1u32..=12), 1..6),
    ) {
        // Add, remove and re-weight devices (several per rebalance, removals
        // included), with min_part_hours 0: the one-replica rule still holds.
        let mut b = build(&c, 0);
        b.rebalance().unwrap();
        let mut added = 0;
        for chunk in ops.chunks(2) {
            for &(kind, pick, weight, zone) in chunk {
                let live = active(&b);
                let target = if live.is_empty() { 0 } else { live[pick.index(live.len())].id };
                match kind {
                    0 => {
                        added += 1;
                        let d = DevSpec { region: 1, zone, node: 7, weight: weight.max(1) };
                        b.add_device(spec(&d, format!("extra{added}"))).unwrap();
                    }
                    1 if live.len() > usize::from(c.replicas) + 1 => b.remove_device(target).unwrap(),
                    _ if !live.is_empty() => b.set_weight(target, f64::from(weight) * 100.0).unwrap(),
                    _ => {}
                }
            }
            if active(&b).len() < usize::from(c.replicas) {
                prop_assert!(b.rebalance().is_err());
                return Ok(());
            }
            let before = table(&b);
            let version = b.version();
            let report = b.rebalance().unwrap();
            let after = table(&b);
            prop_assert!(most_replicas_changed_in_one_partition(&before, &after) <= 1);
            prop_assert_eq!(report.version, version + 1);
            check_distinct(&b)?;
        }
    }

    #[test]
    fn files_round_trip_and_damage_is_detected(c in clusters(1, 3), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut b = build(&c, 1);
        b.rebalance().unwrap();
        let bytes = b.to_bytes();
        prop_assert_eq!(&RingBuilder::from_bytes(&bytes).unwrap(), &b);
        let ring = b.to_ring().unwrap();
        let ring_bytes = ring.to_bytes();
        prop_assert_eq!(&arca_ring::Ring::from_bytes(&ring_bytes).unwrap(), &ring);
        let mut damaged = ring_bytes.clone();
        let i = at.index(damaged.len());
        damaged[i] ^= flip;
        prop_assert!(arca_ring::Ring::from_bytes(&damaged).is_err());
        prop_assert!(arca_ring::Ring::from_bytes(&ring_bytes[..i]).is_err());
        let mut damaged = bytes.clone();
        let i = at.index(damaged.len());
        damaged[i] ^= flip;
        prop_assert!(RingBuilder::from_bytes(&damaged).is_err());
        prop_assert!(RingBuilder::from_bytes(&bytes[..i]).is_err());
    }

    #[test]
    fn handoffs_are_complete_deterministic_and_prefer_unused_zones(c in clusters(1, 3), part in any::<prop::sample::Index>()) {
        let mut b = build(&c, 0);
        b.rebalance().unwrap();
        let ring = b.to_ring().unwrap();
        let p = part.index(ring.partition_count() as usize) as u32;
        let primaries: Vec<u32> = ring.primaries(p).to_vec();
        let handoffs: Vec<u32> = ring.handoffs(p).map(|d| d.id).collect();
        prop_assert_eq!(&handoffs, &ring.handoffs(p).map(|d| d.id).collect::<Vec<_>>());
        let mut expected: Vec<u32> =
            ring.devices().iter().filter(|d| d.weight > 0.0 && !primaries.contains(&d.id)).map(|d| d.id).collect();
        let mut got = handoffs.clone();
        expected.sort_unstable();
        got.sort_unstable();
        prop_assert_eq!(got, expected, "every other live device, once");
        // While some zone holds neither a primary nor an earlier handoff, the
        // next handoff comes from such a zone (regions likewise).
        let mut used_zones: HashSet<(u32, u32)> = HashSet::new();
        let mut used_regions: HashSet<u32> = HashSet::new();
        for id in &primaries {
            let d = ring.device(*id).unwrap();
            used_zones.insert((d.region, d.zone));
            used_regions.insert(d.region);
        }
        for id in &handoffs {
            let d = ring.device(*id).unwrap();
            let remaining: Vec<&Device> = ring
                .devices()
                .iter()
                .filter(|x| x.weight > 0.0 && !primaries.contains(&x.id) && !used_zones.contains(&(x.region, x.zone)))
                .collect();
            if remaining.iter().any(|x| !used_regions.contains(&x.region)) {
                prop_assert!(!used_regions.contains(&d.region), "handoff {} reuses region {}", d.id, d.region);
            } else if !remaining.is_empty() {
                prop_assert!(!used_zones.contains(&(d.region, d.zone)), "handoff {} reuses a zone", d.id);
            }
            used_zones.insert((d.region, d.zone));
            used_regions.insert(d.region);
        }
    }
}

fn three_zone_builder(min_part_hours: u32) -> RingBuilder {
    let mut b = RingBuilder::new(8, 3, min_part_hours).unwrap();
    for zone in 1..=3 {
        for dev in 0..3 {
            b.add_device(DeviceSpec {
                region: 1,
                zone,
                node: format!("10.0.{zone}.1:6000"),
                device: format!("d{dev}"),
                weight: 100.0,
            })
            .unwrap();
        }
    }
    b
}

#[test]
fn min_part_hours_keeps_recently_moved_partitions_in_place() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let minutes = |m: u64| t0 + Duration::from_secs(60 * m);
    let mut b = three_zone_builder(1);
    b.rebalance_at(t0).unwrap();
    // The first placement copied nothing, so nothing waits on it.
    let add = |b: &mut RingBuilder, zone: u32, name: &str| {
        b.add_device(DeviceSpec {
            region: 1,
            zone,
            node: format!("10.0.{zone}.2:6000"),
            device: name.to_string(),
            weight: 300.0,
        })
        .unwrap()
    };
    add(&mut b, 1, "a");
    let t1 = table(&b);
    let first = b.rebalance_at(minutes(10)).unwrap();
    assert!(first.moved > 0);
    let t2 = table(&b);
    let moved_at_10: HashSet<usize> = changed_slots(&t1, &t2).into_iter().map(|(p, _)| p).collect();

    // Twenty minutes later another device arrives: partitions moved at
    // minute 10 must stay put; others may move.
    add(&mut b, 2, "b");
    let second = b.rebalance_at(minutes(30)).unwrap();
    let t3 = table(&b);
    let moved_at_30: HashSet<usize> = changed_slots(&t2, &t3).into_iter().map(|(p, _)| p).collect();
    assert!(second.moved > 0);
    assert!(moved_at_30.is_disjoint(&moved_at_10), "a partition moved twice within min_part_hours");
    assert!(second.pending_moves > 0, "the held-back partitions leave work for later");

    // After the hour has passed, the rest can move.
    let third = b.rebalance_at(minutes(95)).unwrap();
    assert!(third.moved > 0);
    assert!(third.pending_moves < second.pending_moves);

    // Removing a device ignores the wait (it is presumed gone) but still
    // moves at most one replica per partition; one device is drained at once.
    let t4 = table(&b);
    b.remove_device(0).unwrap();
    let removal = b.rebalance_at(minutes(96)).unwrap();
    assert_eq!(removal.on_removed_devices, 0);
    assert!(b.device(0).is_none());
    assert!(most_replicas_changed_in_one_partition(&t4, &table(&b)) <= 1);
}

#[test]
fn removing_two_devices_of_one_partition_takes_two_rebalances() {
    // Three zones of one device each plus spares: every partition has a
    // replica on devices 0 and 1, so removing both leaves one replica per
    // partition for the next rebalance.
    let mut b = RingBuilder::new(6, 3, 0).unwrap();
    for (i, zone) in [1, 2, 3, 1, 2, 3].into_iter().enumerate() {
        b.add_device(DeviceSpec {
            region: 1,
            zone,
            node: format!("10.0.{zone}.{i}:6000"),
            device: "d0".to_string(),
            weight: 100.0,
        })
        .unwrap();
    }
    b.rebalance().unwrap();
    let before = table(&b);
    let both: usize = (0..64)
        .filter(|&p| {
            let ids: Vec<u32> = before.iter().map(|row| row[p]).collect();
            ids.contains(&0) && ids.contains(&1)
        })
        .count();
    assert!(both > 0);
    b.remove_device(0).unwrap();
    b.remove_device(1).unwrap();
    let first = b.rebalance().unwrap();
    let middle = table(&b);
    assert!(most_replicas_changed_in_one_partition(&before, &middle) <= 1);
    assert_eq!(first.on_removed_devices as usize, both, "one of the two replicas waits");
    let second = b.rebalance().unwrap();
    assert_eq!(second.on_removed_devices, 0);
    assert!(b.device(0).is_none() && b.device(1).is_none());
    assert!(most_replicas_changed_in_one_partition(&middle, &table(&b)) <= 1);
    check_distinct(&b).unwrap();
}

#[test]
fn versions_count_published_changes() {
    let mut b = three_zone_builder(0);
    assert_eq!(b.version(), 0);
    assert!(b.to_ring().is_err());
    assert_eq!(b.rebalance().unwrap().version, 1);
    // Nothing changed: nothing published.
    let again = b.rebalance().unwrap();
    assert!(!again.published);
    assert_eq!(again.version, 1);
    // A pending edit is invisible in the published ring until a rebalance.
    let id = b
        .add_device(DeviceSpec {
            region: 1,
            zone: 4,
            node: "10.0.4.1:6000".into(),
            device: "d0".into(),
            weight: 100.0,
        })
        .unwrap();
    assert!(b.has_pending_changes());
    assert!(b.to_ring().unwrap().device(id).is_none());
    let report = b.rebalance().unwrap();
    assert!(report.published);
    assert_eq!(report.version, 2);
    let ring = b.to_ring().unwrap();
    assert_eq!(ring.version(), 2);
    assert!(ring.device(id).is_some());
    // Weight-only edits publish a new version too (handoffs depend on weights).
    b.set_weight(id, 100.0).unwrap();
    assert_eq!(b.rebalance().unwrap().version, 3);
}

#[test]
fn bad_edits_are_errors_with_clear_messages() {
    let mut b = RingBuilder::new(6, 3, 0).unwrap();
    let msg = |e: arca_ring::RingError| e.to_string();
    assert!(msg(RingBuilder::new(25, 3, 0).unwrap_err()).contains("part power 25"));
    assert!(msg(RingBuilder::new(8, 0, 0).unwrap_err()).contains("replicas"));
    let d = |zone: u32, name: &str| DeviceSpec {
        region: 1,
        zone,
        node: "10.0.0.1:6000".into(),
        device: name.into(),
        weight: 100.0,
    };
    b.add_device(d(1, "a")).unwrap();
    assert!(msg(b.add_device(d(1, "a")).unwrap_err()).contains("already in the ring (id 0)"));
    assert!(msg(b.rebalance().unwrap_err()).contains("at least 3"));
    assert!(msg(b.set_weight(9, 1.0).unwrap_err()).contains("no device with id 9"));
    assert!(msg(b.set_weight(0, -1.0).unwrap_err()).contains("weight"));
    assert!(msg(b.remove_device(9).unwrap_err()).contains("no device with id 9"));
    let bad_node = DeviceSpec { node: "nohost".into(), ..d(1, "b") };
    assert!(msg(b.add_device(bad_node).unwrap_err()).contains("HOST:PORT"));
    assert!(
        msg(RingBuilder::from_bytes(b"not a builder").unwrap_err()).contains("not an Arca ring builder file")
    );
}

#[test]
fn a_one_device_ring_holds_everything() {
    let b = RingBuilder::with_one_device(
        8,
        DeviceSpec { region: 1, zone: 1, node: "127.0.0.1:9000".into(), device: "d0".into(), weight: 1.0 },
    )
    .unwrap();
    let ring = b.to_ring().unwrap();
    assert_eq!((ring.replicas(), ring.part_power(), ring.version()), (1, 8, 1));
    let p = ring.partition_for_key(b"bucket/key");
    assert_eq!(p, arca_types_partition(b"bucket/key", 8));
    assert_eq!(ring.primaries(p), &[0]);
    assert_eq!(ring.handoffs(p).count(), 0);
    assert!(ring.primaries(ring.partition_count()).is_empty());
}

/// The partition as docs/design.md defines it: the top bits of MD5(key).
fn arca_types_partition(key: &[u8], part_power: u8) -> u32 {
    arca_types::partition_of(&arca_types::placement_hash(key), part_power)
}

#[test]
fn saved_files_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = three_zone_builder(1);
    b.rebalance().unwrap();
    let path = dir.path().join("object.builder");
    b.save(&path).unwrap();
    assert_eq!(RingBuilder::load(&path).unwrap(), b);
    let ring_path = arca_ring::ring_path_for(&path);
    assert!(ring_path.to_string_lossy().ends_with("object.builder.ring"));
    b.write_ring(&ring_path).unwrap();
    assert_eq!(arca_ring::Ring::load(&ring_path).unwrap(), b.to_ring().unwrap());
    std::fs::write(&ring_path, b"garbage").unwrap();
    let e = arca_ring::Ring::load(&ring_path).unwrap_err().to_string();
    assert!(e.contains("object.builder.ring") && e.contains("not an Arca ring file"), "{e}");
}
