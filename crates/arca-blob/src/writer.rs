//! Appending records to the active volume, and group commit.
//!
//! A writer appends its record at the tail of the active volume under the
//! append lock, then waits until an fsync that started after its append has
//! completed. Whoever finds no fsync in flight becomes the leader: it
//! fdatasyncs the volume once with the lock released (so the next batch
//! keeps appending meanwhile), then publishes every record appended before
//! its fsync began — writes their sidecar entries, applies them to the
//! in-memory index — and wakes the others. One write per record and one
//! fsync per batch acknowledge any number of concurrent writers (Q6), and no
//! data is copied to another thread.
//!
//! Invariants:
//! - a put or delete returns only after an fsync covering its record;
//! - the index shows a record only after that fsync (readers never see bytes
//!   that a crash could take back);
//! - records are appended and published in sequence-number order, so the
//!   volume never has holes and the index applies the newest record last.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arca_types::BlobId;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::FaultPoint;
use crate::error::BlobError;
use crate::format::{EntryKind, FILE_HEADER_LEN, IndexEntry, RECORD_HEADER_LEN, RecordHeader, RecordKind};
use crate::index::{Entry, Index, VolumeState};
use crate::store::BlobStore;
use crate::volume::{create_volume, new_salt};

pub(crate) struct Writer {
    pub state: Mutex<WriterState>,
    synced: Condvar,
}

pub(crate) struct WriterState {
    pub active: ActiveVolume,
    /// The last sequence number assigned to an appended record.
    pub last_seq: u64,
    /// Every record with a sequence number up to this one is durable and
    /// published.
    durable_seq: u64,
    sync_in_flight: bool,
    /// Appended records waiting for an fsync, in sequence order.
    pending: VecDeque<(u32, IndexEntry)>,
    /// Set when an fsync failed; see `BlobError::Failed`.
    failed: Option<String>,
}

/// The volume records are appended to.
pub(crate) struct ActiveVolume {
    pub id: u32,
    pub salt: u64,
    pub file: Arc<File>,
    /// The sidecar, extended as records are published; `None` after a write
    /// to it failed (recovery then scans the volume instead).
    pub idx: Option<File>,
    pub idx_len: u64,
    /// Where the next record goes.
    pub len: u64,
}

impl Writer {
    pub fn new(active: ActiveVolume, last_seq: u64) -> Self {
        Writer {
            state: Mutex::new(WriterState {
                active,
                last_seq,
                durable_seq: last_seq,
                sync_in_flight: false,
                pending: VecDeque::new(),
                failed: None,
            }),
            synced: Condvar::new(),
        }
    }
}

impl BlobStore {
    /// Appends a put record and waits until it is durable.
    pub(crate) fn write_put(&self, id: BlobId, partition: u32, data: &[u8]) -> Result<(), BlobError> {
        // Checksum outside the lock: for a 4 MiB stripe it is the longest step.
        let data_crc = crc32c::crc32c(data);
        let mut st = self.writer.state.lock();
        let seq = self.append(&mut st, RecordKind::Put, id, partition, data, data_crc)?;
        self.wait_durable(st, seq)
    }

    /// Appends a tombstone if the blob exists (as published, or as a record
    /// still waiting for its fsync) and waits until it is durable.
    pub(crate) fn write_tombstone(&self, id: BlobId) -> Result<bool, BlobError> {
        let mut st = self.writer.state.lock();
        let newest_pending =
            st.pending.iter().rev().find(|(_, e)| e.id == id).map(|(_, e)| (e.kind, e.partition));
        let partition = match newest_pending {
            Some((EntryKind::Record(RecordKind::Put), partition)) => partition,
            Some(_) => return Ok(false),
            None => match self.index.read().get(&id) {
                Some(e) => e.partition,
                None => return Ok(false),
            },
        };
        let seq = self.append(&mut st, RecordKind::Tombstone, id, partition, &[], 0)?;
        self.wait_durable(st, seq).map(|()| true)
    }

    fn append(
        &self,
        st: &mut WriterState,
        kind: RecordKind,
        id: BlobId,
        partition: u32,
        data: &[u8],
        data_crc: u32,
    ) -> Result<u64, BlobError> {
        if let Some(reason) = &st.failed {
            return Err(BlobError::Failed(reason.clone()));
        }
        let record_len = (RECORD_HEADER_LEN + data.len()) as u64;
        if st.active.len > FILE_HEADER_LEN as u64
            && st.active.len + record_len > self.config.volume_size_limit
        {
            self.roll_over(st)?;
        }
        let seq = st.last_seq + 1;
        let header = RecordHeader { kind, seq, id, partition, data_len: data.len() as u32, data_crc };
        let offset = st.active.len;
        let file = &st.active.file;
        let written = file
            .write_all_at(&header.encode(st.active.salt), offset)
            .and_then(|()| file.write_all_at(data, offset + RECORD_HEADER_LEN as u64));
        if let Err(e) = written {
            // Take the partial record back so the next append does not
            // leave it in the middle of the volume.
            if let Err(undo) = file.set_len(offset) {
                st.failed = Some(format!("append failed ({e}) and could not be undone ({undo})"));
            }
            return Err(BlobError::Io(e));
        }
        st.active.len += record_len;
        st.last_seq = seq;
        st.pending.push_back((st.active.id, IndexEntry::for_record(&header, offset)));
        Ok(seq)
    }

    /// Returns once record `seq` is durable and published, leading an fsync
    /// when none is in flight.
    fn wait_durable(&self, mut st: MutexGuard<'_, WriterState>, seq: u64) -> Result<(), BlobError> {
        loop {
            if st.durable_seq >= seq {
                return Ok(());
            }
            if let Some(reason) = &st.failed {
                return Err(BlobError::Failed(reason.clone()));
            }
            if st.sync_in_flight {
                self.writer.synced.wait(&mut st);
                continue;
            }
            st.sync_in_flight = true;
            let target = st.last_seq;
            let file = st.active.file.clone();
            let synced = MutexGuard::unlocked(&mut st, || file.sync_data());
            st.sync_in_flight = false;
            match synced {
                Ok(()) => self.publish(&mut st, target),
                // After a failed fsync the kernel may have dropped the dirty
                // pages; retrying could "succeed" without the data. Stop.
                Err(e) => st.failed = Some(format!("fsync of volume {} failed: {e}", st.active.id)),
            }
            self.writer.synced.notify_all();
        }
    }

    /// Makes every pending record up to `target` visible: sidecar entries
    /// (not synced: the sidecar is an accelerator), then the index.
    fn publish(&self, st: &mut WriterState, target: u64) {
        if target <= st.durable_seq {
            return;
        }
        let mut sidecar = Vec::new();
        {
            let mut index = self.index.write();
            while st.pending.front().is_some_and(|(_, e)| e.seq <= target) {
                let Some((volume, entry)) = st.pending.pop_front() else { break };
                apply_published(&mut index, volume, &entry);
                if volume == st.active.id {
                    sidecar.extend_from_slice(&entry.encode());
                }
            }
        }
        if let Some(idx) = &st.active.idx {
            match idx.write_all_at(&sidecar, st.active.idx_len) {
                Ok(()) => st.active.idx_len += sidecar.len() as u64,
                Err(e) => {
                    tracing::warn!(volume = st.active.id, "sidecar write failed, recovery will scan: {e}");
                    st.active.idx = None;
                }
            }
        }
        st.durable_seq = target;
    }

    /// Seals the active volume and starts a new one. Everything appended so
    /// far is made durable and published first, so pending records never
    /// span two volumes.
    pub(crate) fn roll_over(&self, st: &mut WriterState) -> Result<(), BlobError> {
        if let Err(e) = st.active.file.sync_data() {
            st.failed = Some(format!("fsync of volume {} failed: {e}", st.active.id));
            self.writer.synced.notify_all();
            return Err(BlobError::Io(e));
        }
        let last = st.last_seq;
        self.publish(st, last);
        self.writer.synced.notify_all();
        if let Some(idx) = &st.active.idx
            && let Err(e) = idx.sync_data()
        {
            tracing::warn!(volume = st.active.id, "sidecar fsync failed, recovery will scan: {e}");
        }
        let id = self.next_volume.fetch_add(1, Ordering::SeqCst);
        let salt = new_salt();
        let created = create_volume(&self.dir, id, salt)?;
        let file = Arc::new(created.vol);
        self.handles.insert(id, file.clone());
        {
            let mut index = self.index.write();
            if let Some(old) = index.volumes.get_mut(&st.active.id) {
                old.sealed = true;
            }
            index.volumes.insert(id, VolumeState::new(salt, FILE_HEADER_LEN as u64, false));
        }
        st.active = ActiveVolume {
            id,
            salt,
            file,
            idx: Some(created.idx),
            idx_len: FILE_HEADER_LEN as u64,
            len: FILE_HEADER_LEN as u64,
        };
        self.fault(FaultPoint::VolumeRolledOver);
        Ok(())
    }

    /// Seals the active volume if it holds any record (so that compaction
    /// may rewrite it).
    pub(crate) fn seal_active(&self) -> Result<(), BlobError> {
        let mut st = self.writer.state.lock();
        if let Some(reason) = &st.failed {
            return Err(BlobError::Failed(reason.clone()));
        }
        if st.active.len > FILE_HEADER_LEN as u64 { self.roll_over(&mut st) } else { Ok(()) }
    }
}

/// Applies one durable record to the index. At run time records arrive in
/// sequence order; the checks keep an older record from ever winning.
fn apply_published(index: &mut Index, volume: u32, e: &IndexEntry) {
    if let Some(v) = index.volumes.get_mut(&volume) {
        v.len = v.len.max(e.end());
    }
    let newer = index.get(&e.id).is_none_or(|cur| cur.seq < e.seq);
    match e.kind {
        EntryKind::Record(RecordKind::Put) if newer => index.insert(
            e.id,
            Entry {
                seq: e.seq,
                offset: e.offset,
                volume,
                len: e.len,
                crc: e.data_crc,
                partition: e.partition,
            },
        ),
        EntryKind::Record(RecordKind::Tombstone) => {
            if let Some(v) = index.volumes.get_mut(&volume) {
                v.tombstone_bytes += RECORD_HEADER_LEN as u64;
            }
            if newer {
                index.remove(&e.id);
            }
        }
        _ => {}
    }
}
