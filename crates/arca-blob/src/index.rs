//! The in-memory index: blob id -> location, partition membership, and the
//! byte accounting of every volume that compaction decides on.
//!
//! It is derived state: recovery builds it from the sidecars and volumes,
//! and afterwards only published (durable) records change it. Records are
//! applied in sequence-number order at run time, so the newest record of an
//! id always wins; recovery, which meets records in any order, resolves the
//! newest record per id before it builds the index (see recovery.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arca_types::BlobId;

use crate::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN};

/// Where the live copy of a blob is, and what it is.
///
/// 32 bytes; with its 20-byte key and the partition set entry, the index
/// costs about 100 bytes of memory per live blob (docs/design.md §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub seq: u64,
    pub offset: u64,
    pub volume: u32,
    pub len: u32,
    pub crc: u32,
    pub partition: u32,
}

impl Entry {
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Byte accounting of one volume.
#[derive(Debug, Clone)]
pub(crate) struct VolumeState {
    pub salt: u64,
    /// Bytes of the volume that hold published records (the file length of
    /// a sealed volume).
    pub len: u64,
    /// Record bytes (header + data) of the live blobs stored here.
    pub live_bytes: u64,
    pub live_count: u64,
    /// Record bytes of tombstones stored here.
    pub tombstone_bytes: u64,
    /// No longer appended to (every volume but the active one).
    pub sealed: bool,
}

impl VolumeState {
    pub fn new(salt: u64, len: u64, sealed: bool) -> Self {
        VolumeState { salt, len, live_bytes: 0, live_count: 0, tombstone_bytes: 0, sealed }
    }

    /// Bytes compaction would reclaim: dead puts, damaged gaps. Tombstones
    /// are not counted: they are dropped when their volume is compacted for
    /// its garbage, and only if no older put of their id remains anywhere.
    pub fn garbage_bytes(&self) -> u64 {
        self.len.saturating_sub(FILE_HEADER_LEN as u64 + self.live_bytes + self.tombstone_bytes)
    }

    pub fn garbage_ratio(&self) -> f64 {
        if self.len == 0 { 0.0 } else { self.garbage_bytes() as f64 / self.len as f64 }
    }
}

#[derive(Default)]
pub(crate) struct Index {
    by_id: HashMap<BlobId, Entry>,
    by_partition: BTreeSet<(u32, BlobId)>,
    partition_counts: BTreeMap<u32, u64>,
    pub volumes: BTreeMap<u32, VolumeState>,
    live_data_bytes: u64,
}

impl Index {
    pub fn get(&self, id: &BlobId) -> Option<&Entry> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn live_data_bytes(&self) -> u64 {
        self.live_data_bytes
    }

    /// Makes `entry` the live copy of `id`, replacing any older one.
    pub fn insert(&mut self, id: BlobId, entry: Entry) {
        self.remove(&id);
        if let Some(v) = self.volumes.get_mut(&entry.volume) {
            v.live_bytes += entry.record_len();
            v.live_count += 1;
        }
        self.by_partition.insert((entry.partition, id));
        *self.partition_counts.entry(entry.partition).or_default() += 1;
        self.live_data_bytes += u64::from(entry.len);
        self.by_id.insert(id, entry);
    }

    /// Drops the live copy of `id`; returns it.
    pub fn remove(&mut self, id: &BlobId) -> Option<Entry> {
        let old = self.by_id.remove(id)?;
        if let Some(v) = self.volumes.get_mut(&old.volume) {
            v.live_bytes -= old.record_len();
            v.live_count -= 1;
        }
        self.by_partition.remove(&(old.partition, *id));
        if let Some(n) = self.partition_counts.get_mut(&old.partition) {
            *n -= 1;
            if *n == 0 {
                self.partition_counts.remove(&old.partition);
            }
        }
        self.live_data_bytes -= u64::from(old.len);
        Some(old)
    }

    /// Points `id` at a new copy of the same record (compaction), but only
    /// if the live copy is still exactly the one that was copied: a put or
    /// delete that was published meanwhile wins. Returns whether it moved.
    pub fn relocate(&mut self, id: &BlobId, seq: u64, from: (u32, u64), to: (u32, u64)) -> bool {
        let Some(current) = self.by_id.get(id).copied() else { return false };
        if current.seq != seq || (current.volume, current.offset) != from {
            return false;
        }
        self.insert(*id, Entry { volume: to.0, offset: to.1, ..current });
        true
    }

    pub fn partitions(&self) -> Vec<u32> {
        self.partition_counts.keys().copied().collect()
    }

    /// The live blobs of a partition, sorted by id.
    pub fn partition_blobs(&self, partition: u32) -> impl Iterator<Item = (BlobId, Entry)> + '_ {
        let lo = (partition, BlobId::from_bytes(&[0u8; BlobId::ENCODED_LEN]));
        let hi = (partition, BlobId::from_bytes(&[0xffu8; BlobId::ENCODED_LEN]));
        self.by_partition
            .range(lo..=hi)
            .filter_map(move |(_, id)| self.by_id.get(id).map(|entry| (*id, *entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_types::ObjectId;

    fn id(n: u8) -> BlobId {
        BlobId::new(ObjectId([n; 16]), 0)
    }

    fn entry(seq: u64, volume: u32, offset: u64, len: u32, partition: u32) -> Entry {
        Entry { seq, offset, volume, len, crc: 0, partition }
    }

    #[test]
    fn accounting_follows_inserts_removes_and_relocations() {
        let mut ix = Index::default();
        ix.volumes.insert(1, VolumeState::new(0, 1000, true));
        ix.volumes.insert(2, VolumeState::new(0, 1000, true));
        ix.insert(id(1), entry(1, 1, 40, 100, 7));
        ix.insert(id(2), entry(2, 1, 192, 100, 7));
        ix.insert(id(3), entry(3, 1, 344, 10, 9));
        assert_eq!(ix.volumes[&1].live_bytes, 3 * 52 + 210);
        assert_eq!(ix.partitions(), vec![7, 9]);
        assert_eq!(ix.partition_blobs(7).map(|(i, _)| i).collect::<Vec<_>>(), vec![id(1), id(2)]);

        // Replace: the old copy becomes garbage; partition moves.
        ix.insert(id(1), entry(4, 2, 40, 50, 9));
        assert_eq!(ix.volumes[&1].live_bytes, 2 * 52 + 110);
        assert_eq!(ix.volumes[&2].live_bytes, 52 + 50);
        assert_eq!(ix.partition_blobs(9).count(), 2);

        // A relocation of a copy that is no longer live is refused.
        assert!(!ix.relocate(&id(1), 1, (1, 40), (2, 200)));
        assert!(ix.relocate(&id(2), 2, (1, 192), (2, 200)));
        assert_eq!(ix.get(&id(2)).unwrap().volume, 2);

        assert!(ix.remove(&id(3)).is_some());
        assert_eq!(ix.partitions(), vec![7, 9]);
        assert!(ix.remove(&id(1)).is_some());
        assert_eq!(ix.partitions(), vec![7]);
        assert_eq!(ix.volumes[&1].live_count, 0);
        assert_eq!(ix.volumes[&1].live_bytes, 0);
        assert_eq!(ix.live_data_bytes(), 100);
    }

    #[test]
    fn garbage_excludes_header_live_and_tombstones() {
        let mut v = VolumeState::new(0, 1040, true);
        v.live_bytes = 500;
        v.tombstone_bytes = 52;
        assert_eq!(v.garbage_bytes(), 1040 - 40 - 500 - 52);
    }
}
