//! Scrub: reading every record of every volume back and checking it, to
//! find rot before a read does (the auditor of S9).
//!
//! Each record the volume's sidecar lists is read (sequentially, in large
//! reads), its header checked against the sidecar and its data against the
//! CRC32C. Failures of live blobs are reported with their location so the
//! caller can fetch a good copy from another replica and replace this one;
//! failures of dead records are only counted, compaction will drop them.

use crate::error::BlobError;
use crate::format::{EntryKind, RECORD_HEADER_LEN, RecordHeader, RecordKind};
use crate::store::BlobStore;
use crate::volume::{PosReader, volume_entries};
use crate::{CorruptBlob, ScrubReport};

impl BlobStore {
    /// Verifies every record on the device; see [`ScrubReport`]. Reads the
    /// whole device, so run it in the background. Holds the compaction lock
    /// one volume at a time.
    pub fn scrub(&self) -> Result<ScrubReport, BlobError> {
        let mut report = ScrubReport::default();
        let ids: Vec<u32> = self.index.read().volumes.keys().copied().collect();
        for volume in ids {
            let _no_compaction = self.compaction.lock();
            let Some((salt, len)) = self.index.read().volumes.get(&volume).map(|v| (v.salt, v.len)) else {
                continue; // compacted away since the list was taken
            };
            let file = self.handles.get(volume)?;
            let entries = volume_entries(&self.dir, &file, volume, salt, len)?;
            let mut reader = PosReader::new(&file, len);
            report.volumes_scanned += 1;
            for e in entries {
                let kind = match e.kind {
                    EntryKind::Gap => {
                        report.damaged_gap_bytes += u64::from(e.len);
                        continue;
                    }
                    EntryKind::Record(kind) => kind,
                };
                report.records_checked += 1;
                report.bytes_read += e.span();
                let problem = match reader.read(e.offset, e.span() as usize) {
                    Err(err) => Some(format!("read failed: {err}")),
                    Ok(bytes) => match RecordHeader::decode(bytes, salt) {
                        None => Some("record header fails its checksum".to_string()),
                        Some(h)
                            if h.seq != e.seq || h.id != e.id || h.data_len != e.len || h.kind != kind =>
                        {
                            Some("record header does not match the sidecar".to_string())
                        }
                        Some(h) if crc32c::crc32c(&bytes[RECORD_HEADER_LEN..]) != h.data_crc => {
                            Some("data fails its checksum".to_string())
                        }
                        Some(_) => None,
                    },
                };
                let Some(reason) = problem else { continue };
                let live = kind == RecordKind::Put
                    && self.index.read().get(&e.id).is_some_and(|cur| {
                        cur.volume == volume && cur.offset == e.offset && cur.seq == e.seq
                    });
                if live {
                    tracing::warn!(id = %e.id, volume, offset = e.offset, "scrub: {reason}");
                    report.corrupt.push(CorruptBlob { id: e.id, volume, offset: e.offset, reason });
                } else {
                    report.corrupt_garbage_records += 1;
                }
            }
        }
        Ok(report)
    }
}
