//! The placement plan: how many partition-replicas each region, zone, node and
//! device should hold (its target), and the fewest and most replicas of any
//! one partition it may hold (its floor and cap).
//!
//! Dispersion comes first, weight second (docs/design.md, "The plan"): at
//! each level of the failure-domain tree the replicas of a partition are
//! split as evenly as the domains below allow, and within those bounds each
//! domain's share is proportional to its weight. The plan depends only on the
//! devices and on the current counts (to round without needless moves).

use std::collections::BTreeMap;

/// Marks a device whose region, zone or node holds no device of weight above
/// zero: it is outside the plan's tree.
pub(crate) const NO_TIER: u32 = u32::MAX;

/// Tree levels: a tier of level 0 is a region, 1 a zone, 2 a node; devices
/// are level 3.
const LEVELS: usize = 3;

/// What the plan needs to know about one device.
pub(crate) struct PlanDevice<'a> {
    pub region: u32,
    pub zone: u32,
    pub node: &'a str,
    pub weight: f64,
    /// Takes part in placement: not being removed, weight above zero.
    pub active: bool,
    /// Partition-replicas it holds now.
    pub parts: u64,
}

/// A region, zone or node with at least one active device.
pub(crate) struct Tier {
    /// 0 region, 1 zone, 2 node.
    pub level: u8,
    /// The enclosing region or zone; [`NO_TIER`] for a region.
    pub parent: u32,
    /// Tiers of the next level, or (for a node) device indexes.
    pub children: Vec<u32>,
    /// Partition-replicas it should hold.
    pub target: u64,
    /// The most replicas of one partition it may hold: `ceil(target / P)`.
    pub cap: u32,
    /// The fewest replicas of one partition it should hold: `floor(target / P)`
    /// (a region holding two partitions' worth must appear in every partition).
    pub floor: u32,
    weight: f64,
    /// Distinct regions, zones, nodes and devices at or below it.
    units: [u32; 4],
    ideal: f64,
    lo: u64,
    hi: u64,
    parts: u64,
}

pub(crate) struct Plan {
    pub tiers: Vec<Tier>,
    /// Tiers with a floor above zero: every partition must have a replica there.
    pub floored: Vec<u32>,
    /// The regions (tier ids), in ascending region number.
    pub regions: Vec<u32>,
    /// For every device: its region, zone and node tier, or [`NO_TIER`].
    pub dev_tiers: Vec<[u32; LEVELS]>,
    /// For every device: partition-replicas it should hold (0 if inactive).
    pub dev_target: Vec<u64>,
    /// For every device: its exact (real-valued) fair share, before rounding.
    pub dev_ideal: Vec<f64>,
    pub dev_active: Vec<bool>,
}

impl Plan {
    /// Builds the plan for `partitions * replicas` slots. The caller has
    /// checked that at least `replicas` devices are active.
    pub fn new(devices: &[PlanDevice<'_>], partitions: u64, replicas: u32) -> Plan {
        let mut plan = Plan::tree(devices);
        let p = partitions as f64;
        let total = partitions * u64::from(replicas);
        let regions = plan.regions.clone();
        plan.split_real(&regions, None, total as f64, p);
        plan.split_integer(&regions, None, total, partitions);
        plan.floored = (0..plan.tiers.len() as u32).filter(|&t| plan.tiers[t as usize].floor > 0).collect();
        plan
    }

    /// The tree of active devices; children in ascending key order so that
    /// every tie is broken the same way on every run.
    fn tree(devices: &[PlanDevice<'_>]) -> Plan {
        let mut order: Vec<usize> = (0..devices.len()).filter(|&i| devices[i].active).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&devices[a], &devices[b]);
            (x.region, x.zone, x.node, a).cmp(&(y.region, y.zone, y.node, b))
        });
        let mut tiers: Vec<Tier> = Vec::new();
        let mut regions = Vec::new();
        let mut region_ids: BTreeMap<u32, u32> = BTreeMap::new();
        let mut zone_ids: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut node_ids: BTreeMap<(u32, u32, &str), u32> = BTreeMap::new();
        let new_tier = |tiers: &mut Vec<Tier>, level: u8, parent: u32| {
            tiers.push(Tier {
                level,
                parent,
                children: Vec::new(),
                target: 0,
                cap: 0,
                floor: 0,
                weight: 0.0,
                units: [1, 1, 1, 0],
                ideal: 0.0,
                lo: 0,
                hi: 0,
                parts: 0,
            });
            (tiers.len() - 1) as u32
        };
        let mut dev_tiers = vec![[NO_TIER; LEVELS]; devices.len()];
        for &i in &order {
            let d = &devices[i];
            let region = *region_ids.entry(d.region).or_insert_with(|| {
                let t = new_tier(&mut tiers, 0, NO_TIER);
                regions.push(t);
                t
            });
            let zone = *zone_ids.entry((d.region, d.zone)).or_insert_with(|| {
                let t = new_tier(&mut tiers, 1, region);
                tiers[region as usize].children.push(t);
                t
            });
            let node = *node_ids.entry((d.region, d.zone, d.node)).or_insert_with(|| {
                let t = new_tier(&mut tiers, 2, zone);
                tiers[zone as usize].children.push(t);
                t
            });
            tiers[node as usize].children.push(i as u32);
            dev_tiers[i] = [region, zone, node];
            for t in [region, zone, node] {
                tiers[t as usize].weight += d.weight;
                tiers[t as usize].units[3] += 1;
                tiers[t as usize].parts += d.parts;
            }
        }
        // Count zones and nodes below regions and zones.
        for &region in &regions {
            let zones = tiers[region as usize].children.clone();
            tiers[region as usize].units[1] = zones.len() as u32;
            let mut nodes = 0;
            for &zone in &zones {
                let n = tiers[zone as usize].children.len() as u32;
                tiers[zone as usize].units[2] = n;
                nodes += n;
            }
            tiers[region as usize].units[2] = nodes;
        }
        // Inactive devices still sit in a region, zone and node; their
        // replicas count there until they are moved away.
        for (i, d) in devices.iter().enumerate() {
            if d.active {
                continue;
            }
            if let Some(&r) = region_ids.get(&d.region) {
                dev_tiers[i][0] = r;
            }
            if let Some(&z) = zone_ids.get(&(d.region, d.zone)) {
                dev_tiers[i][1] = z;
            }
            if let Some(&n) = node_ids.get(&(d.region, d.zone, d.node)) {
                dev_tiers[i][2] = n;
            }
        }
        Plan {
            tiers,
            floored: Vec::new(),
            regions,
            dev_tiers,
            dev_target: vec![0; devices.len()],
            dev_ideal: vec![0.0; devices.len()],
            dev_active: devices.iter().map(|d| d.active).collect(),
        }
        .with_device_inputs(devices)
    }

    fn with_device_inputs(mut self, devices: &[PlanDevice<'_>]) -> Plan {
        self.dev_ideal = devices.iter().map(|d| if d.active { d.weight } else { 0.0 }).collect();
        // dev_ideal holds weights until split_real overwrites it with shares;
        // dev_target holds current parts until split_integer sets targets.
        self.dev_target = devices.iter().map(|d| if d.active { d.parts } else { 0 }).collect();
        self
    }

    /// Weight and units of a child: a tier, or (below a node) a device.
    fn child_info(&self, child: u32, devices_level: bool) -> (f64, [u32; 4]) {
        if devices_level {
            (self.dev_ideal[child as usize], [1, 1, 1, 1])
        } else {
            let t = &self.tiers[child as usize];
            (t.weight, t.units)
        }
    }

    /// Splits `amount` slots among `children` (tiers of level `level`, or
    /// devices when `level` is 3), recording each child's real share and the
    /// bounds the integer pass must respect, then recurses.
    fn split_real(&mut self, children: &[u32], level: Option<usize>, amount: f64, p: f64) {
        let child_level = level.map_or(0, |l| l + 1);
        let devices_level = child_level == LEVELS;
        let info: Vec<(f64, [u32; 4])> =
            children.iter().map(|&c| self.child_info(c, devices_level)).collect();
        // Replicas of one partition this parent holds at most.
        let x = ((amount / p) - 1e-9).ceil().max(1.0) as u32;
        // The coarsest failure domain below the parent with room for x
        // distinct replicas: spreading over those comes first.
        let unit =
            (child_level..4).find(|&u| info.iter().map(|(_, units)| units[u]).sum::<u32>() >= x).unwrap_or(3);
        let mut even = 1;
        while info.iter().map(|(_, units)| units[unit].min(even)).sum::<u32>() < x {
            even += 1;
        }
        let lo: Vec<f64> = info.iter().map(|(_, u)| f64::from(u[unit].min(even - 1)) * p).collect();
        let hi: Vec<f64> = info.iter().map(|(_, u)| f64::from(u[unit].min(even)) * p).collect();
        let weights: Vec<f64> = info.iter().map(|(w, _)| *w).collect();
        let shares = water_fill(amount, &weights, &lo, &hi);
        for (i, &c) in children.iter().enumerate() {
            let (lo, hi) = (lo[i].round() as u64, hi[i].round() as u64);
            if devices_level {
                self.dev_ideal[c as usize] = shares[i];
            } else {
                let t = &mut self.tiers[c as usize];
                t.ideal = shares[i];
                t.lo = lo;
                t.hi = hi;
                let grandchildren = t.children.clone();
                self.split_real(&grandchildren, Some(child_level), shares[i], p);
            }
        }
    }

    /// Rounds the real shares to integer targets that add up exactly, each the
    /// floor or ceiling of its share, preferring to keep what is placed now.
    fn split_integer(&mut self, children: &[u32], level: Option<usize>, amount: u64, p: u64) {
        let child_level = level.map_or(0, |l| l + 1);
        let devices_level = child_level == LEVELS;
        let (ideal, lo, hi, current): (Vec<f64>, Vec<u64>, Vec<u64>, Vec<u64>) = if devices_level {
            (
                children.iter().map(|&c| self.dev_ideal[c as usize]).collect(),
                vec![0; children.len()],
                vec![p; children.len()],
                children.iter().map(|&c| self.dev_target[c as usize]).collect(),
            )
        } else {
            let ts = || children.iter().map(|&c| &self.tiers[c as usize]);
            (
                ts().map(|t| t.ideal).collect(),
                ts().map(|t| t.lo).collect(),
                ts().map(|t| t.hi).collect(),
                ts().map(|t| t.parts).collect(),
            )
        };
        let targets = round_sticky(amount, &ideal, &lo, &hi, &current);
        for (i, &c) in children.iter().enumerate() {
            if devices_level {
                self.dev_target[c as usize] = targets[i];
            } else {
                let t = &mut self.tiers[c as usize];
                t.target = targets[i];
                t.cap = targets[i].div_ceil(p) as u32;
                t.floor = (targets[i] / p) as u32;
                let grandchildren = t.children.clone();
                self.split_integer(&grandchildren, Some(child_level), targets[i], p);
            }
        }
    }
}

/// Shares of `total` proportional to `weights` (all above zero), each clamped
/// to `[lo, hi]`: finds the factor `lambda` with
/// `sum(clamp(lambda * w, lo, hi)) = total` by bisection (the sum grows with
/// lambda). The caller guarantees `sum(lo) <= total <= sum(hi)`.
fn water_fill(total: f64, weights: &[f64], lo: &[f64], hi: &[f64]) -> Vec<f64> {
    let fill = |lambda: f64| -> Vec<f64> {
        weights.iter().zip(lo.iter().zip(hi)).map(|(w, (l, h))| (lambda * w).clamp(*l, *h)).collect()
    };
    let mut low = 0.0f64;
    let mut high = weights.iter().zip(hi).map(|(w, h)| h / w).fold(0.0f64, f64::max);
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if fill(mid).iter().sum::<f64>() < total {
            low = mid;
        } else {
            high = mid;
        }
    }
    fill(high)
}

/// Integers `out[i]` in `[lo[i], hi[i]]`, each the floor or ceiling of
/// `ideal[i]` where the bounds allow, summing to `total`. Ceilings go first to
/// the entries that already hold more than their floor (so rounding does not
/// move anything that need not move), then to the largest fractions.
fn round_sticky(total: u64, ideal: &[f64], lo: &[u64], hi: &[u64], current: &[u64]) -> Vec<u64> {
    let n = ideal.len();
    let floor: Vec<u64> =
        (0..n).map(|i| ((ideal[i] + 1e-6).floor().max(0.0) as u64).clamp(lo[i], hi[i])).collect();
    let frac: Vec<f64> = (0..n).map(|i| ideal[i] - floor[i] as f64).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let keeps = |i: usize| current[i] > floor[i];
        keeps(b).cmp(&keeps(a)).then(frac[b].total_cmp(&frac[a])).then(a.cmp(&b))
    });
    let mut out = floor.clone();
    let mut sum: u64 = out.iter().sum();
    // First only round up to ceilings; only if float error left the sums
    // short go further (up to the bounds).
    let mut strict = true;
    while sum < total {
        let before = sum;
        for &i in &order {
            if sum == total {
                break;
            }
            if out[i] < hi[i] && (!strict || (out[i] as f64) < ideal[i] - 1e-6) {
                out[i] += 1;
                sum += 1;
            }
        }
        if sum == before {
            if !strict {
                break;
            }
            strict = false;
        }
    }
    while sum > total {
        let before = sum;
        for &i in order.iter().rev() {
            if sum == total {
                break;
            }
            if out[i] > lo[i] {
                out[i] -= 1;
                sum -= 1;
            }
        }
        if sum == before {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(region: u32, zone: u32, node: &str, weight: f64) -> PlanDevice<'_> {
        PlanDevice { region, zone, node, weight, active: true, parts: 0 }
    }

    #[test]
    fn equal_zones_share_equally_and_cap_at_one_replica() {
        let devices: Vec<_> =
            (0..6).map(|i| dev(1, i % 3, ["a", "b", "c", "d", "e", "f"][i as usize], 1.0)).collect();
        let plan = Plan::new(&devices, 64, 3);
        assert_eq!(plan.dev_target, vec![32; 6]);
        for &r in &plan.regions {
            assert_eq!(plan.tiers[r as usize].cap, 3);
            for &z in &plan.tiers[r as usize].children {
                assert_eq!(plan.tiers[z as usize].target, 64);
                assert_eq!(plan.tiers[z as usize].cap, 1);
            }
        }
    }

    #[test]
    fn dispersion_beats_weight_when_zones_are_few() {
        // Three zones, three replicas: every zone holds one replica of every
        // partition whatever its weight.
        let devices =
            vec![dev(1, 1, "a", 10.0), dev(1, 2, "b", 1.0), dev(1, 3, "c", 1.0), dev(1, 1, "d", 10.0)];
        let plan = Plan::new(&devices, 100, 3);
        assert_eq!(plan.dev_target, vec![50, 100, 100, 50]);
    }

    #[test]
    fn weight_decides_when_zones_are_plenty() {
        let devices =
            vec![dev(1, 1, "a", 1.0), dev(1, 2, "b", 1.0), dev(1, 3, "c", 2.0), dev(1, 4, "d", 4.0)];
        let plan = Plan::new(&devices, 80, 2);
        assert_eq!(plan.dev_target, vec![20, 20, 40, 80]);
        // Device d's zone would want 80 of 80 partitions: allowed (cap 1).
        assert!((plan.dev_ideal[3] - 80.0).abs() < 1e-6);
    }

    #[test]
    fn two_regions_each_get_at_least_one_replica() {
        // Region 2 is tiny, but with 2 regions and 3 replicas every partition
        // has a replica in each.
        let devices = vec![
            dev(1, 1, "a", 100.0),
            dev(1, 2, "b", 100.0),
            dev(1, 3, "c", 100.0),
            dev(2, 1, "d", 1.0),
            dev(2, 2, "e", 1.0),
        ];
        let plan = Plan::new(&devices, 64, 3);
        let r2 = plan.regions[1] as usize;
        assert_eq!(plan.tiers[r2].target, 64);
        assert_eq!(plan.tiers[r2].cap, 1);
        assert_eq!(plan.dev_target.iter().sum::<u64>(), 192);
    }

    #[test]
    fn rounding_keeps_current_holdings() {
        // Shares of 10/3 each: one device gets 4. The one already holding 4 keeps it.
        let out = round_sticky(10, &[10.0 / 3.0; 3], &[0; 3], &[10; 3], &[3, 3, 4]);
        assert_eq!(out, vec![3, 3, 4]);
        let out = round_sticky(10, &[10.0 / 3.0; 3], &[0; 3], &[10; 3], &[4, 3, 3]);
        assert_eq!(out, vec![4, 3, 3]);
        // Bounds win over shares.
        let out = round_sticky(10, &[9.5, 0.5], &[0, 2], &[10, 10], &[0, 0]);
        assert_eq!(out, vec![8, 2]);
    }
}
