//! The ring servers load: a read-only partition -> devices table, lookups and handoff order.
//!
//! Lookups are a hash of the key (MD5), a shift, and a slice of the table: no
//! allocation, no search. The table is stored partition-major (the devices of
//! one partition are adjacent) so [`Ring::primaries`] is a plain slice.

use std::path::Path;

use arca_types::{PlacementHash, partition_of, placement_hash};

use crate::{Device, RingError, format};

/// A loaded ring: which devices hold each partition, in replica order.
///
/// Built by [`crate::RingBuilder::to_ring`] or read with [`Ring::load`]. A
/// server never edits a ring; it loads a new version when one is published.
#[derive(Debug, Clone, PartialEq)]
pub struct Ring {
    pub(crate) version: u64,
    pub(crate) part_power: u8,
    pub(crate) replicas: u8,
    /// Sorted by id, ids unique.
    pub(crate) devices: Vec<Device>,
    /// `table[p * replicas + r]` is the device id of replica `r` of partition `p`.
    pub(crate) table: Vec<u32>,
    /// `by_id[id]` is the device's index in `devices` (u32::MAX for none), so
    /// a lookup needs no search; empty when ids are too sparse for that to pay.
    by_id: Vec<u32>,
}

impl Ring {
    /// A ring from checked parts: devices sorted by unique id, every table
    /// entry naming one of them.
    pub(crate) fn assemble(
        version: u64,
        part_power: u8,
        replicas: u8,
        devices: Vec<Device>,
        table: Vec<u32>,
    ) -> Ring {
        let max_id = devices.last().map_or(0, |d| d.id as usize);
        let by_id = if max_id <= 4 * devices.len() + 4096 {
            let mut by_id = vec![u32::MAX; max_id + 1];
            for (i, d) in devices.iter().enumerate() {
                by_id[d.id as usize] = i as u32;
            }
            by_id
        } else {
            Vec::new()
        };
        Ring { version, part_power, replicas, devices, table, by_id }
    }

    /// Reads and verifies a ring file (magic, format version, checksum and
    /// internal consistency; see docs/design.md, "The ring file").
    pub fn load(path: impl AsRef<Path>) -> Result<Ring, RingError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| RingError::Io { path: path.to_path_buf(), source })?;
        Ring::from_bytes(&bytes).map_err(|e| e.in_file(path))
    }

    /// Writes the ring file atomically (a temporary file, fsync, rename), so a
    /// server loading it concurrently sees either the old ring or the new one.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), RingError> {
        format::write_atomically(path.as_ref(), &self.to_bytes())
    }

    /// Decodes the ring file format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Ring, RingError> {
        format::decode_ring(bytes)
    }

    /// Encodes the ring file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::encode_ring(self)
    }

    /// The ring version: incremented by every rebalance that publishes a change
    /// (of the assignment or of the device table). A greater version is newer.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// There are `2^part_power` partitions.
    pub fn part_power(&self) -> u8 {
        self.part_power
    }

    /// Number of partitions, `2^part_power`.
    pub fn partition_count(&self) -> u32 {
        1u32 << self.part_power
    }

    /// How many devices hold each partition.
    pub fn replicas(&self) -> u8 {
        self.replicas
    }

    /// The partition of a placement key: the top `part_power` bits of its MD5.
    pub fn partition_for_key(&self, key: &[u8]) -> u32 {
        partition_of(&placement_hash(key), self.part_power)
    }

    /// The partition of an already computed placement hash.
    pub fn partition_for_hash(&self, hash: &PlacementHash) -> u32 {
        partition_of(hash, self.part_power)
    }

    /// Ids of the devices holding `partition`, replica 0 first; always
    /// `replicas()` distinct ids. A partition outside `0..partition_count()`
    /// has no devices: the slice is empty.
    pub fn primaries(&self, partition: u32) -> &[u32] {
        let r = usize::from(self.replicas);
        (partition as usize).checked_mul(r).and_then(|start| self.table.get(start..start + r)).unwrap_or(&[])
    }

    /// The devices holding `partition`, replica 0 first.
    pub fn primary_devices(&self, partition: u32) -> impl Iterator<Item = &Device> + '_ {
        self.primaries(partition).iter().filter_map(|&id| self.device(id))
    }

    /// Devices to use, in order, when primaries of `partition` fail: every
    /// other device of weight above zero, each exactly once, in an order fixed
    /// by the ring and the partition alone (so every node computes the same
    /// list). Devices in a region no primary or earlier handoff uses come first,
    /// then those in an unused zone, then on an unused node, then the rest.
    /// Within each of those passes devices come in the order a walk of the
    /// partition table (from a start derived from the partition) first meets
    /// them, so handoff load follows weight like primary load does.
    pub fn handoffs(&self, partition: u32) -> Handoffs<'_> {
        Handoffs::new(self, partition)
    }

    /// The device with this id, if the ring has it.
    pub fn device(&self, id: u32) -> Option<&Device> {
        self.device_index(id).map(|i| &self.devices[i])
    }

    /// Every device of the ring, by ascending id (including devices of weight
    /// zero that still hold partitions while they are drained).
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The assignment as `replicas` rows of `partition_count()` device ids
    /// (Swift's `replica2part2dev`), the shape `arca ring show --json` prints.
    pub fn replica2part2dev(&self) -> Vec<Vec<u32>> {
        let r = usize::from(self.replicas);
        (0..r).map(|replica| self.table.iter().skip(replica).step_by(r).copied().collect()).collect()
    }

    pub(crate) fn device_index(&self, id: u32) -> Option<usize> {
        if self.by_id.is_empty() {
            self.devices.binary_search_by_key(&id, |d| d.id).ok()
        } else {
            self.by_id.get(id as usize).filter(|&&i| i != u32::MAX).map(|&i| i as usize)
        }
    }
}

/// Where a device is, for comparing failure domains.
#[derive(Clone, Copy, PartialEq)]
struct Place<'a> {
    region: u32,
    zone: u32,
    node: &'a str,
}

impl<'a> Place<'a> {
    fn of(device: &'a Device) -> Self {
        Place { region: device.region, zone: device.zone, node: &device.node }
    }
}

/// The handoff devices of one partition, lazily; see [`Ring::handoffs`].
pub struct Handoffs<'a> {
    ring: &'a Ring,
    /// Devices (as indexes into `ring.devices`) in the order the table walk met them.
    order: Vec<usize>,
    met: Vec<bool>,
    /// Devices already returned, or primaries.
    taken: Vec<bool>,
    used: Vec<Place<'a>>,
    /// 0: unused region; 1: unused zone; 2: unused node; 3: anything; 4: done.
    pass: u8,
    pos_in_order: usize,
    walk: TableWalk,
    /// Devices not met by the walk, appended once it is exhausted.
    tail_added: bool,
}

/// Visits every slot of the table once, starting at a partition derived from
/// `partition` and striding by an odd step (a full cycle, since the number of
/// partitions is a power of two).
struct TableWalk {
    next_step: u64,
    steps: u64,
    start: u64,
    stride: u64,
    replica: usize,
}

impl<'a> Handoffs<'a> {
    fn new(ring: &'a Ring, partition: u32) -> Self {
        let n = ring.devices.len();
        let mut taken = vec![false; n];
        let mut used = Vec::new();
        for &id in ring.primaries(partition) {
            if let Some(i) = ring.device_index(id) {
                taken[i] = true;
                used.push(Place::of(&ring.devices[i]));
            }
        }
        let parts = u64::from(ring.partition_count());
        let seed = mix64(u64::from(partition));
        let walk = TableWalk {
            next_step: 0,
            steps: parts,
            start: seed % parts,
            stride: (mix64(seed) | 1) % parts.max(2),
            replica: 0,
        };
        Handoffs {
            ring,
            order: Vec::new(),
            met: vec![false; n],
            taken,
            used,
            pass: 0,
            pos_in_order: 0,
            walk,
            tail_added: false,
        }
    }

    fn eligible(&self, i: usize) -> bool {
        let device = &self.ring.devices[i];
        if self.taken[i] || device.weight <= 0.0 {
            return false;
        }
        let place = Place::of(device);
        match self.pass {
            0 => !self.used.iter().any(|u| u.region == place.region),
            1 => !self.used.iter().any(|u| u.region == place.region && u.zone == place.zone),
            2 => !self.used.contains(&place),
            _ => true,
        }
    }

    /// Extends `order` with the next device the walk meets; false when every
    /// device is in `order`.
    fn meet_next(&mut self) -> bool {
        let r = usize::from(self.ring.replicas);
        while self.walk.next_step < self.walk.steps {
            let step = self.walk.next_step;
            let partition = (self.walk.start + step.wrapping_mul(self.walk.stride)) % self.walk.steps;
            let id = self.ring.table[partition as usize * r + self.walk.replica];
            self.walk.replica += 1;
            if self.walk.replica == r {
                self.walk.replica = 0;
                self.walk.next_step += 1;
            }
            if let Some(i) = self.ring.device_index(id)
                && !self.met[i]
            {
                self.met[i] = true;
                self.order.push(i);
                return true;
            }
        }
        if !self.tail_added {
            self.tail_added = true;
            let before = self.order.len();
            for i in 0..self.ring.devices.len() {
                if !self.met[i] {
                    self.met[i] = true;
                    self.order.push(i);
                }
            }
            return self.order.len() > before;
        }
        false
    }
}

impl<'a> Iterator for Handoffs<'a> {
    type Item = &'a Device;

    fn next(&mut self) -> Option<&'a Device> {
        while self.pass < 4 {
            // A pass ends early once no device could qualify for it, so a
            // cluster with a single region never walks the table for pass 0.
            let any_left = (0..self.ring.devices.len()).any(|i| self.eligible(i));
            if any_left {
                loop {
                    if self.pos_in_order == self.order.len() && !self.meet_next() {
                        break;
                    }
                    let i = self.order[self.pos_in_order];
                    self.pos_in_order += 1;
                    if self.eligible(i) {
                        self.taken[i] = true;
                        let device = &self.ring.devices[i];
                        self.used.push(Place::of(device));
                        return Some(device);
                    }
                }
            }
            self.pass += 1;
            self.pos_in_order = 0;
        }
        None
    }
}

/// SplitMix64's finaliser: a fixed, platform-independent 64-bit mix (the
/// handoff order must be the same on every node).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
