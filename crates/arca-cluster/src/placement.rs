//! The placement service: which nodes hold each index range and which of
//! them leads it (the seed's coordination service placing ranges, Q3;
//! TiKV's placement driver balancing regions and leaders).
//!
//! The ring places blobs by hash, and a hash spreads millions of blobs
//! evenly; it does not spread thirty ranges evenly (a node may draw twice
//! its share). So ranges are placed by count instead: the catalog's leader
//! plans, every couple of seconds, where each range's replicas and its
//! leader belong, and records the plan in the catalog
//! (`placement/{group}` → [`Placement`]). The keeper then brings each
//! range's voters to its plan (learner, catch up, one membership change),
//! and each range's leader hands leadership to the planned node.
//!
//! The plan is sticky: it starts from the recorded one (or, for a range
//! that has none yet, from where the range runs), and changes only what
//! it must:
//! - replicas on nodes that left the ring (or weigh 0) are replaced;
//! - a range short of replicas gets the least loaded nodes, in zones it
//!   does not use yet first;
//! - while a node holds more ranges than its weight's share and another
//!   fewer, one replica moves from the first to the second — only if the
//!   range keeps as many zones as it had;
//! - leaderships are balanced the same way among each range's replicas.
//!
//! A node counts as overloaded when it holds or leads more than its share:
//! nodes added, removed or reweighted change the shares, and ranges and
//! leaders follow.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub const PLACEMENT_PREFIX: &[u8] = b"placement/";

/// Where a range belongs: its replicas' nodes (RPC addresses, as the ring
/// names them) and the one that should lead it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub replicas: BTreeSet<String>,
    pub leader: String,
}

pub fn placement_key(group: u64) -> Vec<u8> {
    [PLACEMENT_PREFIX, &group.to_be_bytes()].concat()
}

/// The group a `placement/` key names.
pub fn placement_group(key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(PLACEMENT_PREFIX)?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

pub fn encode_placement(placement: &Placement) -> Vec<u8> {
    postcard::to_stdvec(placement).unwrap_or_default()
}

pub fn decode_placement(bytes: &[u8]) -> Option<Placement> {
    postcard::from_bytes(bytes).ok()
}

/// A node ranges may be placed on.
#[derive(Debug, Clone)]
pub struct Slot {
    /// (region, zone).
    pub zone: (u32, u32),
    /// Its share of ranges and leaders is its weight over all nodes'.
    pub weight: f64,
}

/// Plans where every range belongs. `ranges` holds each range's recorded
/// placement, or where it runs now (with no leader) if none is recorded.
/// Returns the plan for every range; equal to the input where nothing had
/// to change.
pub fn plan(
    nodes: &BTreeMap<String, Slot>,
    replicas: usize,
    ranges: &BTreeMap<u64, Placement>,
) -> BTreeMap<u64, Placement> {
    if nodes.is_empty() {
        return ranges.clone();
    }
    let replicas = replicas.clamp(1, nodes.len());
    let mut planned: BTreeMap<u64, Placement> = BTreeMap::new();
    for (group, current) in ranges {
        let mut kept: BTreeSet<String> =
            current.replicas.iter().filter(|n| nodes.contains_key(*n)).cloned().collect();
        while kept.len() > replicas {
            kept.pop_last();
        }
        let leader = if kept.contains(&current.leader) { current.leader.clone() } else { String::new() };
        planned.insert(*group, Placement { replicas: kept, leader });
    }
    let mut load = Load::new(nodes, &planned);
    // Ranges short of replicas (new, or on nodes that left).
    for placement in planned.values_mut() {
        while placement.replicas.len() < replicas {
            let Some(node) = load.least_loaded(nodes, &placement.replicas) else { break };
            load.held.entry(node.clone()).and_modify(|n| *n += 1);
            placement.replicas.insert(node);
        }
    }
    // Replicas from nodes above their share to nodes below it.
    let mut moves = 0;
    while moves < ranges.len() * replicas {
        let Some((group, from, to)) = load.best_move(nodes, &planned) else { break };
        let placement = planned.get_mut(&group).expect("planned range");
        placement.replicas.remove(&from);
        placement.replicas.insert(to.clone());
        if placement.leader == from {
            placement.leader.clear();
        }
        *load.held.get_mut(&from).expect("slot") -= 1;
        *load.held.get_mut(&to).expect("slot") += 1;
        moves += 1;
    }
    balance_leaders(nodes, &mut planned);
    planned
}

/// Places one new range (`group`, in `ranges` with no replicas) beside
/// the others as they are: the least loaded nodes, zones first, and the
/// one of them leading fewest ranges as its leader.
pub fn place_one(
    nodes: &BTreeMap<String, Slot>,
    replicas: usize,
    ranges: &BTreeMap<u64, Placement>,
    group: u64,
) -> Placement {
    let mut placement = Placement { replicas: BTreeSet::new(), leader: String::new() };
    if nodes.is_empty() {
        return placement;
    }
    let load = Load::new(nodes, ranges);
    while placement.replicas.len() < replicas.clamp(1, nodes.len()) {
        let Some(node) = load.least_loaded(nodes, &placement.replicas) else { break };
        placement.replicas.insert(node);
    }
    let mut led: BTreeMap<&String, usize> = BTreeMap::new();
    for (g, other) in ranges {
        if *g != group {
            *led.entry(&other.leader).or_insert(0) += 1;
        }
    }
    let leads = |n: &String| ratio(led.get(n).copied().unwrap_or(0) + 1, nodes[n].weight);
    placement.leader =
        placement.replicas.iter().min_by(|a, b| leads(a).total_cmp(&leads(b))).cloned().unwrap_or_default();
    placement
}

/// Replicas held per node.
struct Load {
    held: BTreeMap<String, usize>,
}

impl Load {
    fn new(nodes: &BTreeMap<String, Slot>, planned: &BTreeMap<u64, Placement>) -> Load {
        let mut held: BTreeMap<String, usize> = nodes.keys().map(|n| (n.clone(), 0)).collect();
        for placement in planned.values() {
            for node in &placement.replicas {
                if let Some(count) = held.get_mut(node) {
                    *count += 1;
                }
            }
        }
        Load { held }
    }

    /// The node a range not on `taken` should get next: in a zone the range
    /// does not use yet if there is one, then the least held for its weight.
    fn least_loaded(&self, nodes: &BTreeMap<String, Slot>, taken: &BTreeSet<String>) -> Option<String> {
        let zones: BTreeSet<(u32, u32)> = taken.iter().filter_map(|n| nodes.get(n)).map(|s| s.zone).collect();
        nodes
            .iter()
            .filter(|(n, _)| !taken.contains(*n))
            .min_by(|(a, sa), (b, sb)| {
                let key = |n: &String, s: &Slot| (zones.contains(&s.zone), ratio(self.held[n] + 1, s.weight));
                let (za, ra) = key(a, sa);
                let (zb, rb) = key(b, sb);
                za.cmp(&zb).then(ra.total_cmp(&rb)).then(a.cmp(b))
            })
            .map(|(n, _)| n.clone())
    }

    /// One replica to move, from the most loaded node to a less loaded one
    /// that ends up no more loaded than the first was: (group, from, to).
    fn best_move(
        &self,
        nodes: &BTreeMap<String, Slot>,
        planned: &BTreeMap<u64, Placement>,
    ) -> Option<(u64, String, String)> {
        let mut by_load: Vec<(&String, f64)> =
            self.held.iter().map(|(n, held)| (n, ratio(*held, nodes[n].weight))).collect();
        by_load.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        for (from, from_ratio) in &by_load {
            for (to, _) in by_load.iter().rev() {
                let after = ratio(self.held[*to] + 1, nodes[*to].weight);
                // Strictly better: the receiver stays below where the giver
                // was, so moves never go back and forth.
                if after >= *from_ratio || from == to {
                    continue;
                }
                for (group, placement) in planned {
                    if !placement.replicas.contains(*from) || placement.replicas.contains(*to) {
                        continue;
                    }
                    let zones = |set: &BTreeSet<String>| -> usize {
                        set.iter().map(|n| nodes[n].zone).collect::<BTreeSet<_>>().len()
                    };
                    let mut moved = placement.replicas.clone();
                    moved.remove(*from);
                    moved.insert((*to).clone());
                    if zones(&moved) >= zones(&placement.replicas) {
                        return Some((*group, (*from).clone(), (*to).clone()));
                    }
                }
            }
        }
        None
    }
}

fn ratio(count: usize, weight: f64) -> f64 {
    count as f64 / weight.max(f64::MIN_POSITIVE)
}

/// Gives every range a leader among its replicas, then moves leaderships
/// from nodes leading more than their share to replicas leading fewer.
fn balance_leaders(nodes: &BTreeMap<String, Slot>, planned: &mut BTreeMap<u64, Placement>) {
    let mut led: BTreeMap<String, usize> = nodes.keys().map(|n| (n.clone(), 0)).collect();
    for placement in planned.values() {
        if let Some(count) = led.get_mut(&placement.leader) {
            *count += 1;
        }
    }
    for placement in planned.values_mut() {
        if !placement.leader.is_empty() {
            continue;
        }
        let Some(node) = placement
            .replicas
            .iter()
            .min_by(|a, b| {
                ratio(led[*a] + 1, nodes[*a].weight).total_cmp(&ratio(led[*b] + 1, nodes[*b].weight))
            })
            .cloned()
        else {
            continue;
        };
        *led.get_mut(&node).expect("slot") += 1;
        placement.leader = node;
    }
    let limit = planned.len() * 2;
    for _ in 0..limit {
        let mut best: Option<(f64, u64, String)> = None;
        for (group, placement) in planned.iter() {
            let from = &placement.leader;
            let Some(slot) = nodes.get(from) else { continue };
            let from_ratio = ratio(led[from], slot.weight);
            for to in placement.replicas.iter().filter(|n| *n != from) {
                let after = ratio(led[to] + 1, nodes[to].weight);
                let gain = from_ratio - after;
                if gain > 0.0 && best.as_ref().is_none_or(|(g, _, _)| gain > *g) {
                    best = Some((gain, *group, to.clone()));
                }
            }
        }
        let Some((_, group, to)) = best else { break };
        let placement = planned.get_mut(&group).expect("planned range");
        *led.get_mut(&placement.leader).expect("slot") -= 1;
        *led.get_mut(&to).expect("slot") += 1;
        placement.leader = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(zones: &[u32]) -> BTreeMap<String, Slot> {
        zones
            .iter()
            .enumerate()
            .map(|(i, zone)| (format!("n{i}"), Slot { zone: (1, *zone), weight: 1.0 }))
            .collect()
    }

    fn on(replicas: &[&str]) -> Placement {
        Placement { replicas: replicas.iter().map(|s| s.to_string()).collect(), leader: String::new() }
    }

    fn counts(plan: &BTreeMap<u64, Placement>) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
        let (mut held, mut led) = (BTreeMap::new(), BTreeMap::new());
        for p in plan.values() {
            for n in &p.replicas {
                *held.entry(n.clone()).or_insert(0) += 1;
            }
            *led.entry(p.leader.clone()).or_insert(0) += 1;
        }
        (held, led)
    }

    #[test]
    fn ranges_split_on_three_nodes_spread_over_five() {
        let nodes = nodes(&[1, 2, 3, 4, 5]);
        // 32 ranges that all split off one range on n0..n2.
        let ranges: BTreeMap<u64, Placement> = (0..32).map(|g| (g, on(&["n0", "n1", "n2"]))).collect();
        let plan = plan(&nodes, 3, &ranges);
        let (held, led) = counts(&plan);
        // 96 replicas over 5 nodes: 19 or 20 each; 32 leaders: 6 or 7.
        assert!(held.values().all(|n| (19..=20).contains(n)), "{held:?}");
        assert!(led.values().all(|n| (6..=7).contains(n)), "{led:?}");
        assert!(plan.values().all(|p| p.replicas.len() == 3 && p.replicas.contains(&p.leader)));
        // Stable: planning again changes nothing.
        assert_eq!(super::plan(&nodes, 3, &plan), plan);
    }

    #[test]
    fn a_removed_node_is_replaced_and_an_added_one_takes_its_share() {
        let four = nodes(&[1, 2, 3, 4]);
        let ranges: BTreeMap<u64, Placement> = (0..12).map(|g| (g, on(&["n0", "n1", "n2"]))).collect();
        let first = plan(&four, 3, &ranges);
        let mut three = four.clone();
        three.remove("n3");
        let without = plan(&three, 3, &first);
        assert!(without.values().all(|p| !p.replicas.contains("n3") && p.replicas.len() == 3));
        let mut five = nodes(&[1, 2, 3, 4, 5]);
        five.remove("n3");
        let with_new = plan(&five, 3, &without);
        let (held, _) = counts(&with_new);
        assert!(held["n4"] >= 7, "{held:?}");
        // Only what had to move moved: every range keeps at least two of
        // its replicas.
        for (group, p) in &with_new {
            assert!(p.replicas.intersection(&without[group].replicas).count() >= 2);
        }
    }

    #[test]
    fn replicas_spread_over_zones_first() {
        // Two zones of two nodes each.
        let nodes = nodes(&[1, 1, 2, 2]);
        let ranges: BTreeMap<u64, Placement> = (0..8).map(|g| (g, on(&[]))).collect();
        let plan = plan(&nodes, 2, &ranges);
        for p in plan.values() {
            let zones: BTreeSet<_> = p.replicas.iter().map(|n| nodes[n].zone).collect();
            assert_eq!(zones.len(), 2, "{p:?}");
        }
        let (held, _) = counts(&plan);
        assert!(held.values().all(|n| *n == 4), "{held:?}");
    }

    #[test]
    fn weights_set_shares() {
        let mut nodes = nodes(&[1, 2, 3]);
        nodes.get_mut("n0").unwrap().weight = 2.0;
        let ranges: BTreeMap<u64, Placement> = (0..40).map(|g| (g, on(&[]))).collect();
        let plan = plan(&nodes, 1, &ranges);
        let (held, _) = counts(&plan);
        assert_eq!(held["n0"], 20, "{held:?}");
    }
}
