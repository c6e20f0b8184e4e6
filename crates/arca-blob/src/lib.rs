//! Per-device blob store: append-only volumes, group commit, compaction, scrub.
//!
//! A blob (an object stripe or a small object) is appended as one record to
//! the active volume file of the device; many blobs share a volume, so a
//! small object never costs a file (Q6). An in-memory index maps blob id ->
//! (volume, offset, length); per-volume sidecar files make it fast to
//! rebuild, and the volumes alone suffice to rebuild everything.
//!
//! - Writes are acknowledged only when durable; concurrent writers share
//!   one fsync (writer.rs).
//! - Every read verifies the blob's CRC32C; a mismatch is
//!   [`BlobError::Corrupt`], never bad bytes (store.rs).
//! - Deletes write a tombstone; compaction rewrites volumes with much
//!   garbage, crash-safe at every step (compaction.rs).
//! - Opening the store recovers from any crash: torn tails are truncated,
//!   every acknowledged blob is back (recovery.rs).
//! - Blobs carry their partition; a partition's blobs can be listed and
//!   digested for replica comparison (S4, S5); scrub finds rot (S9).
//!
//! docs/design.md section 4 specifies the format byte by byte and the
//! durability argument.

mod compaction;
mod error;
mod format;
mod index;
mod recovery;
mod scan;
mod scrub;
mod store;
mod volume;
mod writer;

use std::fmt;
use std::sync::Arc;

pub use error::BlobError;
pub use store::BlobStore;

// The server shares one store between threads; keep it that way.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<BlobStore>();
};

/// Tuning of a [`BlobStore`].
#[derive(Clone)]
pub struct BlobStoreConfig {
    /// A volume is sealed and a new one started once the next record would
    /// take it past this size (a single larger blob still gets a volume of
    /// its own). Default 1 GiB.
    pub volume_size_limit: u64,
    /// Largest blob accepted; at most `u32::MAX`. Default 64 MiB.
    pub max_blob_size: u64,
    /// Open read handles kept in the cache. Default 256.
    pub max_open_volumes: usize,
    /// Called at named points of compaction and volume rollover. For crash
    /// tests only (a test hook stops the process at a chosen point); `None`
    /// in production.
    pub fault_hook: Option<FaultHook>,
}

/// See [`BlobStoreConfig::fault_hook`].
pub type FaultHook = Arc<dyn Fn(FaultPoint) + Send + Sync>;

/// Points where a crash is most likely to lose data if the code is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// A compaction output volume and sidecar are written and fsynced under
    /// their `.tmp` names; nothing else has changed.
    CompactionOutputSynced,
    /// The output is renamed into place (and the directory synced); the
    /// inputs still exist, so two copies of the moved records are on disk.
    CompactionOutputRenamed,
    /// The in-memory index points at the output; inputs not yet unlinked.
    CompactionIndexSwitched,
    /// An input's volume file is unlinked, its sidecar not yet.
    CompactionInputVolumeUnlinked,
    /// The active volume was sealed and a new one created.
    VolumeRolledOver,
}

impl Default for BlobStoreConfig {
    fn default() -> Self {
        BlobStoreConfig {
            volume_size_limit: 1 << 30,
            max_blob_size: 64 << 20,
            max_open_volumes: 256,
            fault_hook: None,
        }
    }
}

impl fmt::Debug for BlobStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStoreConfig")
            .field("volume_size_limit", &self.volume_size_limit)
            .field("max_blob_size", &self.max_blob_size)
            .field("max_open_volumes", &self.max_open_volumes)
            .field("fault_hook", &self.fault_hook.is_some())
            .finish()
    }
}

impl BlobStoreConfig {
    fn validate(&self) -> Result<(), BlobError> {
        if self.max_blob_size > u64::from(u32::MAX) {
            return Err(BlobError::Config(format!("max_blob_size {} is above u32::MAX", self.max_blob_size)));
        }
        if self.volume_size_limit < 4096 {
            return Err(BlobError::Config(format!(
                "volume_size_limit {} is below 4096 bytes",
                self.volume_size_limit
            )));
        }
        if self.max_open_volumes == 0 {
            return Err(BlobError::Config("max_open_volumes must be at least 1".into()));
        }
        Ok(())
    }
}

/// What the index knows about a stored blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// Data length in bytes.
    pub len: u64,
    pub partition: u32,
    /// CRC32C of the data.
    pub crc32c: u32,
    /// Sequence number of the record (store-wide, increasing with time).
    pub seq: u64,
    /// Volume and byte offset of the record.
    pub volume: u32,
    pub offset: u64,
}

impl From<&index::Entry> for BlobInfo {
    fn from(e: &index::Entry) -> Self {
        BlobInfo {
            len: u64::from(e.len),
            partition: e.partition,
            crc32c: e.crc,
            seq: e.seq,
            volume: e.volume,
            offset: e.offset,
        }
    }
}

/// Counts and sizes of a store, from the in-memory index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobStoreStats {
    /// Live blobs.
    pub blobs: u64,
    /// Data bytes of live blobs (headers excluded).
    pub live_bytes: u64,
    /// Bytes compaction could reclaim: dead records and damaged gaps.
    pub garbage_bytes: u64,
    /// Bytes of tombstone records.
    pub tombstone_bytes: u64,
    /// Total size of the volume files.
    pub disk_bytes: u64,
    pub volumes: u64,
    /// Volumes set aside at startup because their header was damaged.
    pub quarantined_volumes: u64,
}

/// What one [`BlobStore::compact`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Volumes rewritten and removed.
    pub volumes_compacted: u64,
    /// New volumes written.
    pub volumes_written: u64,
    /// Live blobs copied to the new volumes.
    pub blobs_moved: u64,
    /// Tombstones kept because an older put of their id is still on disk.
    pub tombstones_kept: u64,
    /// Tombstones dropped.
    pub tombstones_dropped: u64,
    /// Copied blobs whose data already failed its checksum (copied as they
    /// are, so reads keep reporting them corrupt rather than losing them).
    pub corrupt_blobs_copied: u64,
    /// Disk bytes before minus after.
    pub bytes_reclaimed: u64,
}

/// What one [`BlobStore::scrub`] pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub volumes_scanned: u64,
    pub records_checked: u64,
    pub bytes_read: u64,
    /// Live blobs whose stored bytes fail verification: read them from
    /// another replica, and replace or delete them here.
    pub corrupt: Vec<CorruptBlob>,
    /// Dead records (garbage awaiting compaction) that fail verification;
    /// harmless, counted for the operator.
    pub corrupt_garbage_records: u64,
    /// Bytes of volumes without any readable record header.
    pub damaged_gap_bytes: u64,
}

/// A live blob that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlob {
    pub id: arca_types::BlobId,
    pub volume: u32,
    pub offset: u64,
    pub reason: String,
}
