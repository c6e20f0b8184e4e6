//! Compaction: rewriting volumes whose garbage ratio passes a threshold.
//!
//! Peers lose data here (SeaweedFS #1709, #6356), so every step leaves the
//! disk in a state recovery resolves correctly:
//!
//! 1. The live records of the input volumes (and the tombstones that must
//!    survive) are copied, with their original sequence numbers, to a new
//!    volume and sidecar under `.tmp` names, which are fsynced. A crash
//!    here leaves `.tmp` files that recovery deletes: nothing changed.
//! 2. Both are renamed into place and the directory fsynced. A crash from
//!    here on leaves two copies of each moved record; recovery keeps the
//!    one in the newer volume, and they are identical anyway.
//! 3. The in-memory index switches each moved blob to its new copy — only
//!    if the live copy is still the one copied, so a put or delete that
//!    landed meanwhile wins (and a delete's tombstone, with its greater
//!    sequence number, also beats the copy after a crash).
//! 4. The inputs are unlinked, volume before sidecar, and the directory
//!    fsynced. An orphan sidecar is deleted by recovery.
//!
//! A tombstone is dropped only when no put of its id with a smaller sequence
//! number remains in any other volume (the active one included); otherwise
//! dropping it would resurrect that put at the next recovery.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arca_types::BlobId;

use crate::error::BlobError;
use crate::format::{
    EntryKind, FileHeader, FileKind, IndexEntry, RECORD_HEADER_LEN, RecordHeader, RecordKind,
};
use crate::index::VolumeState;
use crate::store::BlobStore;
use crate::volume::{at_path, idx_path, new_salt, sync_dir, tmp_path, vol_path, volume_entries};
use crate::{CompactionReport, FaultPoint};

impl BlobStore {
    /// Rewrites every volume whose garbage ratio (garbage bytes / volume
    /// bytes) is at least `min_garbage_ratio` and that holds any garbage.
    /// The active volume is sealed first if it qualifies and holds at least
    /// an eighth of `volume_size_limit` of garbage. Runs one
    /// compaction at a time; puts, gets and deletes continue meanwhile.
    pub fn compact(&self, min_garbage_ratio: f64) -> Result<CompactionReport, BlobError> {
        let _one_at_a_time = self.compaction.lock();
        let qualifies = |v: &VolumeState| v.garbage_bytes() > 0 && v.garbage_ratio() >= min_garbage_ratio;
        // The active volume is sealed for compaction only when it holds
        // enough garbage to be worth it (an eighth of a full volume):
        // otherwise frequent compaction calls would leave a trail of tiny
        // volumes behind.
        let active = self.writer.state.lock().active.id;
        let worth_sealing =
            |v: &VolumeState| qualifies(v) && v.garbage_bytes() >= self.config.volume_size_limit / 8;
        if self.index.read().volumes.get(&active).is_some_and(worth_sealing) {
            self.seal_active()?;
        }
        let candidates: Vec<(u32, u64)> = self
            .index
            .read()
            .volumes
            .iter()
            .filter(|(_, v)| v.sealed && qualifies(v))
            .map(|(id, v)| (*id, v.live_bytes + v.tombstone_bytes))
            .collect();

        // Inputs are grouped so that one output volume holds a group's
        // survivors; each group is committed (and its inputs removed)
        // before the next starts, bounding the extra disk space needed.
        let mut report = CompactionReport::default();
        let mut group = Vec::new();
        let mut group_bytes = 0u64;
        for (id, keep_bytes) in candidates {
            if !group.is_empty() && group_bytes + keep_bytes > self.config.volume_size_limit {
                self.compact_group(&group, &mut report)?;
                group.clear();
                group_bytes = 0;
            }
            group.push(id);
            group_bytes += keep_bytes;
        }
        if !group.is_empty() {
            self.compact_group(&group, &mut report)?;
        }
        Ok(report)
    }

    fn compact_group(&self, inputs: &[u32], report: &mut CompactionReport) -> Result<(), BlobError> {
        let mut records: HashMap<u32, (Arc<File>, Vec<IndexEntry>)> = HashMap::new();
        let mut bytes_before = 0u64;
        for &id in inputs {
            let Some((salt, len)) = self.index.read().volumes.get(&id).map(|v| (v.salt, v.len)) else {
                continue;
            };
            let file = self.handles.get(id)?;
            let entries = volume_entries(&self.dir, &file, id, salt, len)?;
            records.insert(id, (file, entries));
            bytes_before += len;
        }

        // What survives: live puts (as the index sees them now) and the
        // tombstones that still hide an older put somewhere.
        let mut live = Vec::new();
        let mut tombstones = Vec::new();
        {
            let index = self.index.read();
            for &id in inputs {
                let Some((_, entries)) = records.get(&id) else { continue };
                for e in entries {
                    match e.kind {
                        EntryKind::Record(RecordKind::Put) => {
                            let is_live = index.get(&e.id).is_some_and(|cur| {
                                cur.seq == e.seq && (cur.volume, cur.offset) == (id, e.offset)
                            });
                            if is_live {
                                live.push((id, *e));
                            }
                        }
                        EntryKind::Record(RecordKind::Tombstone) => tombstones.push((id, *e)),
                        EntryKind::Gap => {}
                    }
                }
            }
        }
        let kept = self.tombstones_to_keep(&tombstones, &records)?;
        report.tombstones_kept += kept.len() as u64;
        report.tombstones_dropped += (tombstones.len() - kept.len()) as u64;

        let mut bytes_after = 0u64;
        if !live.is_empty() || !kept.is_empty() {
            let out = self.next_volume.fetch_add(1, Ordering::SeqCst);
            let salt = new_salt();
            let written = write_output(&self.dir, out, salt, &live, &kept, &records, report);
            let (vol_file, bytes, moves) = match written {
                Ok(w) => w,
                Err(e) => {
                    let _ = fs::remove_file(tmp_path(&vol_path(&self.dir, out)));
                    let _ = fs::remove_file(tmp_path(&idx_path(&self.dir, out)));
                    return Err(e.into());
                }
            };
            bytes_after = bytes;
            self.fault(FaultPoint::CompactionOutputSynced);

            for path in [idx_path(&self.dir, out), vol_path(&self.dir, out)] {
                fs::rename(tmp_path(&path), &path).map_err(at_path(&path))?;
            }
            sync_dir(&self.dir)?;
            self.fault(FaultPoint::CompactionOutputRenamed);

            self.handles.insert(out, Arc::new(vol_file));
            {
                let mut index = self.index.write();
                let mut state = VolumeState::new(salt, bytes_after, true);
                state.tombstone_bytes = kept.len() as u64 * RECORD_HEADER_LEN as u64;
                index.volumes.insert(out, state);
                for (id, seq, from, at) in moves {
                    if index.relocate(&id, seq, from, (out, at)) {
                        report.blobs_moved += 1;
                    }
                }
            }
            report.volumes_written += 1;
            self.fault(FaultPoint::CompactionIndexSwitched);
        }

        for &id in inputs {
            if !records.contains_key(&id) {
                continue;
            }
            {
                let mut index = self.index.write();
                let still_live = index.volumes.get(&id).map_or(0, |v| v.live_count);
                if still_live > 0 {
                    // Cannot happen (the volume is sealed and every live
                    // record was moved); keep the volume rather than lose
                    // the blobs if it ever does.
                    tracing::error!(volume = id, still_live, "compaction input still has live blobs; kept");
                    continue;
                }
                index.volumes.remove(&id);
            }
            self.handles.remove(id);
            let path = vol_path(&self.dir, id);
            fs::remove_file(&path).map_err(at_path(&path))?;
            self.fault(FaultPoint::CompactionInputVolumeUnlinked);
            let path = idx_path(&self.dir, id);
            fs::remove_file(&path).map_err(at_path(&path))?;
            report.volumes_compacted += 1;
        }
        sync_dir(&self.dir)?;
        report.bytes_reclaimed += bytes_before.saturating_sub(bytes_after);
        Ok(())
    }

    /// The tombstones among `tombstones` that must be copied: those with a
    /// put of the same id and a smaller sequence number in another volume.
    /// Reads the sidecar (and unindexed tail) of every volume; compaction is
    /// rare and this is 56 bytes per record.
    fn tombstones_to_keep(
        &self,
        tombstones: &[(u32, IndexEntry)],
        inputs: &HashMap<u32, (Arc<File>, Vec<IndexEntry>)>,
    ) -> Result<Vec<(u32, IndexEntry)>, BlobError> {
        if tombstones.is_empty() {
            return Ok(Vec::new());
        }
        // id -> every put of it: (sequence number, volume).
        let mut wanted: HashMap<BlobId, Vec<(u64, u32)>> =
            tombstones.iter().map(|(_, t)| (t.id, Vec::new())).collect();
        let volumes: Vec<(u32, u64, u64)> =
            self.index.read().volumes.iter().map(|(id, v)| (*id, v.salt, v.len)).collect();
        for (id, salt, len) in volumes {
            let mut note = |e: &IndexEntry| {
                if e.kind == EntryKind::Record(RecordKind::Put)
                    && let Some(puts) = wanted.get_mut(&e.id)
                {
                    puts.push((e.seq, id));
                }
            };
            match inputs.get(&id) {
                Some((_, entries)) => entries.iter().for_each(&mut note),
                None => {
                    let file = self.handles.get(id)?;
                    volume_entries(&self.dir, &file, id, salt, len)?.iter().for_each(&mut note);
                }
            }
        }
        Ok(tombstones
            .iter()
            .filter(|(vol, t)| wanted[&t.id].iter().any(|(seq, in_vol)| *seq < t.seq && in_vol != vol))
            .copied()
            .collect())
    }
}

/// A new relocation: (blob, sequence number, old (volume, offset), new offset).
type Move = (BlobId, u64, (u32, u64), u64);

/// Writes and fsyncs compaction output `out` under `.tmp` names: the live
/// puts, then the kept tombstones. Returns the volume file, its length and
/// the relocations to apply once it is in place.
fn write_output(
    dir: &Path,
    out: u32,
    salt: u64,
    live: &[(u32, IndexEntry)],
    kept: &[(u32, IndexEntry)],
    inputs: &HashMap<u32, (Arc<File>, Vec<IndexEntry>)>,
    report: &mut CompactionReport,
) -> io::Result<(File, u64, Vec<Move>)> {
    let vol_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp_path(&vol_path(dir, out)))?;
    let mut writer = AppendBuf::new(&vol_file);
    writer.push(&FileHeader { kind: FileKind::Volume, volume: out, salt }.encode())?;
    let mut out_entries = Vec::with_capacity(live.len() + kept.len());
    let mut moves = Vec::with_capacity(live.len());
    for (from, e) in live {
        let (file, _) = &inputs[from];
        let mut data = vec![0u8; e.len as usize];
        file.read_exact_at(&mut data, e.offset + RECORD_HEADER_LEN as u64)?;
        // A blob that already fails its checksum is copied as it is:
        // it stays detectably corrupt (the replicator repairs it)
        // instead of silently vanishing, which could resurrect an
        // older version of it.
        if crc32c::crc32c(&data) != e.data_crc {
            report.corrupt_blobs_copied += 1;
        }
        let header = header_of(e, RecordKind::Put);
        let at = writer.offset();
        writer.push(&header.encode(salt))?;
        writer.push(&data)?;
        out_entries.push(IndexEntry::for_record(&header, at));
        moves.push((e.id, e.seq, (*from, e.offset), at));
    }
    for (_, t) in kept {
        let header = header_of(t, RecordKind::Tombstone);
        let at = writer.offset();
        writer.push(&header.encode(salt))?;
        out_entries.push(IndexEntry::for_record(&header, at));
    }
    let len = writer.finish()?;
    vol_file.sync_all()?;
    let idx_tmp = tmp_path(&idx_path(dir, out));
    let idx_file = OpenOptions::new().write(true).create(true).truncate(true).open(&idx_tmp)?;
    let mut idx_writer = AppendBuf::new(&idx_file);
    idx_writer.push(&FileHeader { kind: FileKind::Index, volume: out, salt }.encode())?;
    for e in &out_entries {
        idx_writer.push(&e.encode())?;
    }
    idx_writer.finish()?;
    idx_file.sync_all()?;
    Ok((vol_file, len, moves))
}

fn header_of(e: &IndexEntry, kind: RecordKind) -> RecordHeader {
    RecordHeader { kind, seq: e.seq, id: e.id, partition: e.partition, data_len: e.len, data_crc: e.data_crc }
}

/// Buffered appends at explicit offsets (the output of a compaction is
/// written sequentially, in large writes).
struct AppendBuf<'a> {
    file: &'a File,
    written: u64,
    buf: Vec<u8>,
}

impl<'a> AppendBuf<'a> {
    const FLUSH_AT: usize = 1 << 20;

    fn new(file: &'a File) -> Self {
        AppendBuf { file, written: 0, buf: Vec::with_capacity(Self::FLUSH_AT) }
    }

    fn offset(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= Self::FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all_at(&self.buf, self.written)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered; returns the total length.
    fn finish(mut self) -> io::Result<u64> {
        self.flush()?;
        Ok(self.written)
    }
}
