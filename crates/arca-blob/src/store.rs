//! `BlobStore`: the state every part shares, and the read side of the API.
//!
//! Writes live in writer.rs, opening in recovery.rs, compaction and scrub
//! in their own files; this file holds what ties them together and the
//! operations that only read.
//!
//! Lock order (never taken the other way round): compaction -> writer
//! state -> index -> handle cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;

use arca_types::BlobId;
use md5::{Digest, Md5};
use parking_lot::{Mutex, RwLock};

use crate::error::BlobError;
use crate::format::{RECORD_HEADER_LEN, RecordHeader, RecordKind};
use crate::index::{Entry, Index};
use crate::volume::HandleCache;
use crate::writer::Writer;
use crate::{BlobInfo, BlobStoreConfig, BlobStoreStats, FaultPoint};

/// A per-device store of blobs in append-only volume files.
///
/// `Send + Sync`: share it through an `Arc`. Every method blocks on disk
/// I/O; async callers run it on a blocking thread.
pub struct BlobStore {
    pub(crate) dir: PathBuf,
    pub(crate) config: BlobStoreConfig,
    pub(crate) index: RwLock<Index>,
    pub(crate) handles: HandleCache,
    pub(crate) writer: Writer,
    /// The id the next new volume gets (ids are never reused).
    pub(crate) next_volume: AtomicU32,
    /// Serialises compaction and scrub's per-volume passes.
    pub(crate) compaction: Mutex<()>,
    pub(crate) quarantined: Vec<PathBuf>,
    /// Held open for its lock on `LOCK`.
    pub(crate) _lock: File,
}

impl BlobStore {
    /// Stores `data` as blob `id` of `partition` and returns once it is
    /// durable (group commit: one fsync covers every concurrent writer).
    /// Re-putting an existing id replaces it: the newest record wins.
    ///
    /// `partition` is the blob's placement partition, as the ring sees it:
    /// `arca_types::partition_of(&arca_types::placement_hash(key), part_power)`
    /// of the blob's placement key. The store only records it, so that a
    /// partition's blobs can be listed and compared between replicas.
    pub fn put(&self, id: BlobId, partition: u32, data: &[u8]) -> Result<(), BlobError> {
        let len = data.len() as u64;
        if len > self.config.max_blob_size {
            return Err(BlobError::TooLarge { len, max: self.config.max_blob_size });
        }
        self.write_put(id, partition, data)
    }

    /// The whole blob, its checksum verified.
    pub fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        // A compaction may move the blob between the index lookup and the
        // open of its volume; the volume is then gone and a second lookup
        // finds the new copy. Three tries cover two moves in a row.
        let mut last_err = None;
        for _ in 0..3 {
            let (entry, salt) = {
                let index = self.index.read();
                let entry = *index.get(id).ok_or(BlobError::NotFound(*id))?;
                let salt = index.volumes.get(&entry.volume).map(|v| v.salt);
                (entry, salt)
            };
            let Some(salt) = salt else { continue };
            let file = match self.handles.get(entry.volume) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            return read_record(&file, *id, &entry, salt);
        }
        Err(last_err.map(BlobError::Io).unwrap_or(BlobError::NotFound(*id)))
    }

    /// Bytes `[offset, offset + len)` of the blob. The whole blob is read
    /// and verified first (blobs are at most a few MiB), so a range read
    /// never returns unverified bytes.
    pub fn get_range(&self, id: &BlobId, offset: u64, len: u64) -> Result<Vec<u8>, BlobError> {
        let mut data = self.get(id)?;
        let blob_len = data.len() as u64;
        let end = offset.checked_add(len).filter(|end| *end <= blob_len);
        let Some(end) = end else {
            return Err(BlobError::RangeOutOfBounds { id: *id, offset, len, blob_len });
        };
        data.truncate(end as usize);
        data.drain(..offset as usize);
        Ok(data)
    }

    /// Sets a corrupt blob aside (the auditor, seeds S9): the bytes of its
    /// record, unverified, are copied to `quarantine/` under this store's
    /// directory for an operator to inspect, and the blob is deleted, so
    /// nothing serves it and a good copy put later is not mistaken for it.
    /// Returns the quarantine file, or `None` if the blob is not stored.
    pub fn quarantine(&self, id: &BlobId) -> Result<Option<PathBuf>, BlobError> {
        let Some(entry) = self.index.read().get(id).copied() else { return Ok(None) };
        let file = self.handles.get(entry.volume)?;
        let len = RECORD_HEADER_LEN as u64 + u64::from(entry.len);
        let mut bytes = vec![0u8; len as usize];
        let mut read = 0;
        while read < bytes.len() {
            match file.read_at(&mut bytes[read..], entry.offset + read as u64) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        bytes.truncate(read);
        let dir = self.dir.join("quarantine");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{id}-{:08x}-{}", entry.volume, entry.offset));
        std::fs::write(&path, &bytes)?;
        self.delete(id)?;
        Ok(Some(path))
    }

    /// What the index knows about a blob, without reading it.
    pub fn stat(&self, id: &BlobId) -> Option<BlobInfo> {
        self.index.read().get(id).map(BlobInfo::from)
    }

    /// Deletes a blob with a durable tombstone; returns whether it existed.
    /// Deleting a missing blob writes nothing.
    pub fn delete(&self, id: &BlobId) -> Result<bool, BlobError> {
        self.write_tombstone(*id)
    }

    /// The partitions holding at least one blob, ascending.
    pub fn partitions(&self) -> Vec<u32> {
        self.index.read().partitions()
    }

    /// The blobs of a partition, sorted by id.
    pub fn partition_blobs(&self, partition: u32) -> Vec<(BlobId, BlobInfo)> {
        self.index.read().partition_blobs(partition).map(|(id, e)| (id, BlobInfo::from(&e))).collect()
    }

    /// A digest of a partition's contents for comparing replicas (S5): MD5
    /// over the blobs sorted by id, each as id (20 bytes), length (u32 BE)
    /// and CRC32C (u32 BE). A function of the set of (id, length, checksum)
    /// only: where the blobs lie and in which order they were written do
    /// not matter.
    pub fn partition_digest(&self, partition: u32) -> [u8; 16] {
        let mut md5 = Md5::new();
        for (id, e) in self.index.read().partition_blobs(partition) {
            md5.update(id.to_bytes());
            md5.update(e.len.to_be_bytes());
            md5.update(e.crc.to_be_bytes());
        }
        md5.finalize().into()
    }

    pub fn stats(&self) -> BlobStoreStats {
        let index = self.index.read();
        let mut stats = BlobStoreStats {
            blobs: index.len() as u64,
            live_bytes: index.live_data_bytes(),
            volumes: index.volumes.len() as u64,
            quarantined_volumes: self.quarantined.len() as u64,
            ..BlobStoreStats::default()
        };
        for v in index.volumes.values() {
            stats.disk_bytes += v.len;
            stats.garbage_bytes += v.garbage_bytes();
            stats.tombstone_bytes += v.tombstone_bytes;
        }
        stats
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub(crate) fn fault(&self, point: FaultPoint) {
        if let Some(hook) = &self.config.fault_hook {
            hook(point);
        }
    }
}

/// Reads and verifies the record the index entry points at.
fn read_record(file: &File, id: BlobId, entry: &Entry, salt: u64) -> Result<Vec<u8>, BlobError> {
    let corrupt =
        |reason: String| BlobError::Corrupt { id, volume: entry.volume, offset: entry.offset, reason };
    let eof_is_corrupt = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            corrupt("record extends past the end of its volume".into())
        } else {
            BlobError::Io(e)
        }
    };
    let mut head = [0u8; RECORD_HEADER_LEN];
    file.read_exact_at(&mut head, entry.offset).map_err(eof_is_corrupt)?;
    let header = RecordHeader::decode(&head, salt)
        .ok_or_else(|| corrupt("record header fails its checksum".into()))?;
    if header.kind != RecordKind::Put
        || header.id != id
        || header.seq != entry.seq
        || header.data_len != entry.len
        || header.data_crc != entry.crc
    {
        return Err(corrupt("record header does not match the index".into()));
    }
    let mut data = vec![0u8; entry.len as usize];
    file.read_exact_at(&mut data, entry.offset + RECORD_HEADER_LEN as u64).map_err(eof_is_corrupt)?;
    let crc = crc32c::crc32c(&data);
    if crc != entry.crc {
        return Err(corrupt(format!("data checksum {crc:08x}, expected {:08x}", entry.crc)));
    }
    Ok(data)
}
