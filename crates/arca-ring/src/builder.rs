//! The ring builder: the operator-side state a rebalance needs (devices, the
//! assignment, when each partition last moved), its edits, and publishing the
//! compact [`Ring`] from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::device::{check_fields, check_weight};
use crate::plan::{NO_TIER, Plan, PlanDevice};
use crate::rebalance::{self, NONE};
use crate::ring::mix64;
use crate::{Device, DeviceSpec, MAX_PART_POWER, MAX_REPLICAS, Ring, RingError, format};

/// A device as the builder keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BuilderDevice {
    #[serde(flatten)]
    pub device: Device,
    /// Removed by the operator; it stays (with weight 0) while it still holds
    /// partitions, and leaves once a rebalance has moved them all.
    pub removed: bool,
}

/// The current placement: `table[p * replicas + r]` is a device id, and
/// `last_moved[p]` the minute (since the Unix epoch) partition `p` last had a
/// replica moved, 0 for never.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assignment {
    pub table: Vec<u32>,
    pub last_moved: Vec<u32>,
}

/// Builds and rebalances a ring; see the crate documentation.
///
/// Edits (`add_device`, `remove_device`, `set_weight`) only record intent;
/// [`RingBuilder::rebalance`] turns them into a new assignment and a new
/// published ring version. Several edits may share one rebalance.
#[derive(Debug, Clone, PartialEq)]
pub struct RingBuilder {
    pub(crate) part_power: u8,
    pub(crate) replicas: u8,
    pub(crate) min_part_hours: u32,
    /// Version of the last published ring (0: never published).
    pub(crate) version: u64,
    pub(crate) next_device_id: u32,
    /// Sorted by id.
    pub(crate) devices: Vec<BuilderDevice>,
    /// The device table of the last published ring.
    pub(crate) published: Vec<Device>,
    /// Devices changed since the last publication.
    pub(crate) dirty: bool,
    pub(crate) assignment: Option<Assignment>,
}

/// What a rebalance did and how good the result is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebalanceReport {
    /// The ring version after the rebalance.
    pub version: u64,
    /// Whether this rebalance published a new version (something changed).
    pub published: bool,
    /// Partition-replicas placed where there was none (the first rebalance).
    pub assigned: u64,
    /// Partition-replicas moved from one device to another (data to copy).
    pub moved: u64,
    /// The worst device's deviation from its fair share, in percent of that
    /// share (0 is perfect; see docs/design.md for "fair share").
    pub balance: f64,
    /// The device with that deviation.
    pub worst_device: Option<u32>,
    /// Partition-replicas still above their device's target, which a later
    /// rebalance will move (blocked now by min_part_hours, by the one-replica
    /// rule, or by dispersion).
    pub pending_moves: u64,
    /// Partition-replicas still on removed devices (included in `pending_moves`).
    pub on_removed_devices: u64,
    /// Partitions less dispersed than the cluster's shape allows: replicas
    /// crowding a region, zone or node beyond its cap, or missing from one
    /// that should hold one of every partition.
    pub undispersed_partitions: u64,
    /// Removed devices that held nothing any more and left the ring.
    pub dropped_devices: Vec<u32>,
}

/// A device's place in the builder with what it holds and should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceUsage {
    pub device: Device,
    pub removed: bool,
    /// Partition-replicas it holds in the current assignment.
    pub partitions: u64,
    /// Partition-replicas it should hold (weights and dispersion, exact);
    /// None when the builder has too few devices to place anything.
    pub fair_share: Option<f64>,
}

/// Where the compact ring of a builder file is published: beside it, with
/// `.ring` appended to the file name (`object.builder` ->
/// `object.builder.ring`).
pub fn ring_path_for(builder_path: &Path) -> PathBuf {
    let mut name = builder_path.as_os_str().to_owned();
    name.push(".ring");
    PathBuf::from(name)
}

fn minutes_since_epoch(now: SystemTime) -> u32 {
    let minutes = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 60).unwrap_or(0);
    minutes.clamp(1, u64::from(u32::MAX)) as u32
}

impl RingBuilder {
    /// An empty builder for `2^part_power` partitions of `replicas` replicas.
    /// `min_part_hours` is how long a partition that moved stays put (the
    /// time its data needs to be copied); 0 disables the wait, not the rule
    /// that a rebalance moves at most one replica of a partition.
    pub fn new(part_power: u8, replicas: u8, min_part_hours: u32) -> Result<RingBuilder, RingError> {
        if part_power > MAX_PART_POWER {
            return Err(RingError::InvalidArgument(format!(
                "part power {part_power} is above the maximum of {MAX_PART_POWER}"
            )));
        }
        if replicas == 0 || replicas > MAX_REPLICAS {
            return Err(RingError::InvalidArgument(format!(
                "replicas must be from 1 to {MAX_REPLICAS}, not {replicas}"
            )));
        }
        Ok(RingBuilder {
            part_power,
            replicas,
            min_part_hours,
            version: 0,
            next_device_id: 0,
            devices: Vec::new(),
            published: Vec::new(),
            dirty: false,
            assignment: None,
        })
    }

    /// A rebalanced one-replica ring of one device: what a new single-node
    /// data directory starts with. Grow it later with `add_device` and
    /// `rebalance` like any other builder.
    pub fn with_one_device(part_power: u8, device: DeviceSpec) -> Result<RingBuilder, RingError> {
        let mut builder = RingBuilder::new(part_power, 1, 1)?;
        builder.add_device(device)?;
        builder.rebalance()?;
        Ok(builder)
    }

    pub fn part_power(&self) -> u8 {
        self.part_power
    }

    pub fn replicas(&self) -> u8 {
        self.replicas
    }

    pub fn min_part_hours(&self) -> u32 {
        self.min_part_hours
    }

    pub fn set_min_part_hours(&mut self, hours: u32) {
        self.min_part_hours = hours;
    }

    /// Version of the last published ring; 0 before the first rebalance.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether devices changed since the last rebalance.
    pub fn has_pending_changes(&self) -> bool {
        self.dirty
    }

    /// Whether a rebalance has ever assigned partitions.
    pub fn is_assigned(&self) -> bool {
        self.assignment.is_some()
    }

    /// Every device, by ascending id, including removed devices that still
    /// hold partitions.
    pub fn devices(&self) -> impl Iterator<Item = &Device> + '_ {
        self.devices.iter().map(|d| &d.device)
    }

    pub fn device(&self, id: u32) -> Option<&Device> {
        self.position(id).map(|i| &self.devices[i].device)
    }

    /// Whether the device was removed and waits to be drained.
    pub fn is_removed(&self, id: u32) -> bool {
        self.position(id).is_some_and(|i| self.devices[i].removed)
    }

    fn position(&self, id: u32) -> Option<usize> {
        self.devices.binary_search_by_key(&id, |d| d.device.id).ok()
    }

    /// Adds a device and returns its id. Ids are never reused, so an id in
    /// logs or on disk always means one device.
    pub fn add_device(&mut self, spec: DeviceSpec) -> Result<u32, RingError> {
        check_fields(&spec.node, &spec.device, spec.weight)?;
        if let Some(same) =
            self.devices.iter().find(|d| d.device.node == spec.node && d.device.device == spec.device)
        {
            return Err(RingError::DuplicateDevice {
                node: spec.node,
                device: spec.device,
                id: same.device.id,
            });
        }
        let id = self.next_device_id;
        self.next_device_id =
            id.checked_add(1).ok_or_else(|| RingError::InvalidArgument("no device ids left".to_string()))?;
        let DeviceSpec { region, zone, node, device, weight } = spec;
        self.devices.push(BuilderDevice {
            device: Device { id, region, zone, node, device, weight },
            removed: false,
        });
        self.dirty = true;
        Ok(id)
    }

    /// Removes a device: the next rebalance moves its partitions away (one
    /// replica per partition per rebalance, ignoring min_part_hours since a
    /// removed device is presumed gone) and drops it once it holds nothing.
    pub fn remove_device(&mut self, id: u32) -> Result<(), RingError> {
        let i = self.position(id).ok_or(RingError::UnknownDevice(id))?;
        if self.devices[i].removed {
            return Err(RingError::DeviceRemoved(id));
        }
        let holds_any = self.assignment.as_ref().is_some_and(|a| a.table.contains(&id));
        if holds_any {
            self.devices[i].removed = true;
            self.devices[i].device.weight = 0.0;
        } else {
            self.devices.remove(i);
        }
        self.dirty = true;
        Ok(())
    }

    /// Changes a device's weight (0 drains it but keeps it in the ring).
    pub fn set_weight(&mut self, id: u32, weight: f64) -> Result<(), RingError> {
        check_weight(weight)?;
        let i = self.position(id).ok_or(RingError::UnknownDevice(id))?;
        if self.devices[i].removed {
            return Err(RingError::DeviceRemoved(id));
        }
        self.devices[i].device.weight = weight;
        self.dirty = true;
        Ok(())
    }

    /// Partition-replicas per device id, for every device of the builder.
    fn counts(&self) -> HashMap<u32, u64> {
        let mut counts: HashMap<u32, u64> = self.devices.iter().map(|d| (d.device.id, 0)).collect();
        if let Some(a) = &self.assignment {
            for id in &a.table {
                *counts.entry(*id).or_insert(0) += 1;
            }
        }
        counts
    }

    fn active_count(&self) -> usize {
        self.devices.iter().filter(|d| !d.removed && d.device.weight > 0.0).count()
    }

    /// The plan for the current devices, given device indexes' current counts.
    fn plan(&self, counts_by_index: &[u64]) -> Result<Plan, RingError> {
        let active = self.active_count();
        if active < usize::from(self.replicas) {
            return Err(RingError::NotEnoughDevices { replicas: self.replicas, active });
        }
        let inputs: Vec<PlanDevice<'_>> = self
            .devices
            .iter()
            .zip(counts_by_index)
            .map(|(d, &parts)| PlanDevice {
                region: d.device.region,
                zone: d.device.zone,
                node: &d.device.node,
                weight: d.device.weight,
                active: !d.removed && d.device.weight > 0.0,
                parts,
            })
            .collect();
        Ok(Plan::new(&inputs, 1u64 << self.part_power, u32::from(self.replicas)))
    }

    /// Each device with what it holds and its fair share.
    pub fn usage(&self) -> Vec<DeviceUsage> {
        let counts = self.counts();
        let by_index: Vec<u64> = self.devices.iter().map(|d| counts[&d.device.id]).collect();
        let plan = self.plan(&by_index).ok();
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| DeviceUsage {
                device: d.device.clone(),
                removed: d.removed,
                partitions: by_index[i],
                fair_share: plan.as_ref().map(|p| p.dev_ideal[i]),
            })
            .collect()
    }

    /// The worst deviation from fair share in percent, and its device, for the
    /// current assignment; None before the first rebalance or when there are
    /// too few devices.
    pub fn balance(&self) -> Option<(f64, u32)> {
        self.assignment.as_ref()?;
        let usage = self.usage();
        if usage.iter().any(|u| u.fair_share.is_none()) {
            return None;
        }
        worst_balance(usage.iter().map(|u| (u.device.id, u.partitions as f64, u.fair_share.unwrap_or(0.0))))
    }

    /// Rebalances now; see [`RingBuilder::rebalance_at`].
    pub fn rebalance(&mut self) -> Result<RebalanceReport, RingError> {
        self.rebalance_at(SystemTime::now())
    }

    /// Computes a new assignment that follows the weights, zones and edits,
    /// moving as few partition-replicas as it can and never more than one
    /// replica of any partition (plus any number of empty slots); partitions
    /// moved less than min_part_hours before `now` stay put unless on a
    /// removed device. Publishes a new version if anything changed.
    pub fn rebalance_at(&mut self, now: SystemTime) -> Result<RebalanceReport, RingError> {
        let parts = 1usize << self.part_power;
        let r = usize::from(self.replicas);
        let index: HashMap<u32, u32> =
            self.devices.iter().enumerate().map(|(i, d)| (d.device.id, i as u32)).collect();
        let (table, mut last_moved) = match &self.assignment {
            Some(a) => (
                a.table.iter().map(|id| index.get(id).copied().unwrap_or(NONE)).collect::<Vec<u32>>(),
                a.last_moved.clone(),
            ),
            None => (vec![NONE; parts * r], vec![0u32; parts]),
        };
        let mut counts = vec![0u64; self.devices.len()];
        for &d in &table {
            if d != NONE {
                counts[d as usize] += 1;
            }
        }
        let plan = self.plan(&counts)?;
        let now_minute = minutes_since_epoch(now);
        let gate_minutes = u64::from(self.min_part_hours) * 60;
        let gate_open = last_moved
            .iter()
            .map(|&m| m == 0 || u64::from(now_minute.saturating_sub(m)) >= gate_minutes)
            .collect();
        let outcome = rebalance::run(rebalance::Input {
            plan: &plan,
            replicas: r,
            partitions: parts,
            table,
            removed: self.devices.iter().map(|d| d.removed).collect(),
            gate_open,
            seed: mix64(self.version),
        });
        for &p in &outcome.changed {
            last_moved[p as usize] = now_minute;
        }
        let mut counts = vec![0u64; self.devices.len()];
        for &d in &outcome.table {
            counts[d as usize] += 1;
        }
        let pending_moves: u64 =
            counts.iter().zip(&plan.dev_target).map(|(&c, &t)| c.saturating_sub(t)).sum();
        let on_removed_devices: u64 =
            counts.iter().zip(&self.devices).filter(|(_, d)| d.removed).map(|(c, _)| *c).sum();
        let undispersed_partitions = undispersed_partitions(&plan, &outcome.table, r);
        let (balance, worst_device) = worst_balance(
            self.devices.iter().enumerate().map(|(i, d)| (d.device.id, counts[i] as f64, plan.dev_ideal[i])),
        )
        .map_or((0.0, None), |(b, id)| (b, Some(id)));
        let table: Vec<u32> = outcome.table.iter().map(|&i| self.devices[i as usize].device.id).collect();

        let mut dropped_devices = Vec::new();
        let mut keep = counts.iter();
        self.devices.retain(|d| {
            let holds = *keep.next().unwrap_or(&0) > 0;
            if d.removed && !holds {
                dropped_devices.push(d.device.id);
                false
            } else {
                true
            }
        });
        let changed = outcome.moved > 0 || outcome.assigned > 0 || self.dirty || !dropped_devices.is_empty();
        if changed {
            self.version += 1;
            self.published = self.devices.iter().map(|d| d.device.clone()).collect();
            self.dirty = false;
        }
        self.assignment = Some(Assignment { table, last_moved });
        Ok(RebalanceReport {
            version: self.version,
            published: changed,
            assigned: outcome.assigned,
            moved: outcome.moved,
            balance,
            worst_device,
            pending_moves,
            on_removed_devices,
            undispersed_partitions,
            dropped_devices,
        })
    }

    /// The assignment as `replicas` rows of `2^part_power` device ids; None
    /// before the first rebalance.
    pub fn replica2part2dev(&self) -> Option<Vec<Vec<u32>>> {
        let a = self.assignment.as_ref()?;
        let r = usize::from(self.replicas);
        Some((0..r).map(|replica| a.table.iter().skip(replica).step_by(r).copied().collect()).collect())
    }

    /// The ring of the last rebalance (the published device table and
    /// assignment, whatever edits have been made since).
    pub fn to_ring(&self) -> Result<Ring, RingError> {
        let a = self.assignment.as_ref().ok_or(RingError::NotRebalanced)?;
        Ok(Ring::assemble(
            self.version,
            self.part_power,
            self.replicas,
            self.published.clone(),
            a.table.clone(),
        ))
    }

    /// Writes [`RingBuilder::to_ring`] to `path` atomically.
    pub fn write_ring(&self, path: impl AsRef<Path>) -> Result<(), RingError> {
        self.to_ring()?.save(path)
    }

    /// Writes the builder file atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), RingError> {
        format::write_atomically(path.as_ref(), &self.to_bytes())
    }

    /// Reads and verifies a builder file.
    pub fn load(path: impl AsRef<Path>) -> Result<RingBuilder, RingError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| RingError::Io { path: path.to_path_buf(), source })?;
        RingBuilder::from_bytes(&bytes).map_err(|e| e.in_file(path))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        format::encode_builder(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<RingBuilder, RingError> {
        format::decode_builder(bytes)
    }
}

/// The largest `|parts - share| / share` in percent over devices with a
/// share above zero, with its device id.
fn worst_balance(devices: impl Iterator<Item = (u32, f64, f64)>) -> Option<(f64, u32)> {
    let mut worst: Option<(f64, u32)> = None;
    for (id, parts, share) in devices {
        if share <= 0.0 {
            continue;
        }
        let deviation = (parts - share).abs() / share * 100.0;
        if worst.is_none_or(|(w, _)| deviation > w) {
            worst = Some((deviation, id));
        }
    }
    worst
}

/// Partitions with more replicas in some region, zone or node than its cap,
/// or fewer than its floor.
fn undispersed_partitions(plan: &Plan, table: &[u32], replicas: usize) -> u64 {
    let count = |slots: &[u32], level: usize, t: u32| {
        slots.iter().filter(|&&o| plan.dev_tiers[o as usize][level] == t).count() as u32
    };
    table
        .chunks_exact(replicas)
        .filter(|slots| {
            let crowded = slots.iter().any(|&d| {
                (0..3).any(|level| {
                    let t = plan.dev_tiers[d as usize][level];
                    t != NO_TIER && count(slots, level, t) > plan.tiers[t as usize].cap
                })
            });
            let thin = plan.floored.iter().any(|&t| {
                let tier = &plan.tiers[t as usize];
                count(slots, usize::from(tier.level), t) < tier.floor
            });
            crowded || thin
        })
        .count() as u64
}
