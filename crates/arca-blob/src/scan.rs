//! Reading a volume's records from its bytes alone: the scan that rebuilds
//! a sidecar, finds the torn tail after a crash, and steps over damage.
//!
//! Two kinds of bad bytes look alike and must be told apart:
//! - a torn tail: the record(s) being written when the process or machine
//!   died. Nothing after it is intact (writes are appended in order), none of
//!   it was acknowledged (an acknowledgement waits for an fsync covering the
//!   whole record), and recovery truncates it;
//! - damage inside the volume (bit rot, a bad sector): intact records follow
//!   it. The scan reports it and goes on, so it never hides the records after
//!   it. A record whose header is intact but whose data fails its checksum is
//!   reported as a record with `data_ok = false` (the header's length lets the
//!   scan step over it); bytes without an intact header are reported as a gap
//!   up to the next intact record.
//!
//! The rule: bad bytes with no intact record anywhere after them are a torn
//! tail; otherwise they are damage.

use std::fs::File;
use std::io;

use crate::format::{IndexEntry, RECORD_HEADER_LEN, RECORD_MAGIC, RecordHeader};
use crate::volume::PosReader;

/// One thing a scan found, in volume order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanEvent {
    /// A record with an intact header. `data_ok` is false when the data was
    /// checked and fails its checksum (always true when not checked).
    Record { header: RecordHeader, offset: u64, data_ok: bool },
    /// Bytes holding no intact record header, followed by an intact record.
    Gap { offset: u64, len: u64 },
}

impl ScanEvent {
    /// The sidecar entries that describe this event (a long gap takes
    /// several, since an entry's length is a u32).
    pub(crate) fn index_entries(&self) -> Vec<IndexEntry> {
        match *self {
            ScanEvent::Record { header, offset, .. } => vec![IndexEntry::for_record(&header, offset)],
            ScanEvent::Gap { offset, len } => {
                let mut out = Vec::new();
                let mut at = offset;
                let end = offset + len;
                while at < end {
                    let n = (end - at).min(u64::from(u32::MAX));
                    out.push(IndexEntry::gap(at, n as u32));
                    at += n;
                }
                out
            }
        }
    }
}

/// Scans `[start, end)` of a volume whose salt is `salt`, calling `on_event`
/// for each record and gap, and returns where the intact part ends: `end`
/// when the range is whole, else the start of the torn tail.
///
/// With `verify_data`, each record's data is read and checked (recovery and
/// scrub); without, only headers are read (cheap, for listings of a volume
/// already known to be intact).
pub(crate) fn scan_volume(
    file: &File,
    salt: u64,
    start: u64,
    end: u64,
    verify_data: bool,
    mut on_event: impl FnMut(ScanEvent),
) -> io::Result<u64> {
    let mut reader = PosReader::new(file, end);
    let mut lookahead = Lookahead { from: u64::MAX, found: None };
    let mut pos = start;
    loop {
        if end.saturating_sub(pos) < RECORD_HEADER_LEN as u64 {
            return Ok(pos);
        }
        let header = RecordHeader::decode(reader.read(pos, RECORD_HEADER_LEN)?, salt);
        match header {
            Some(header) if pos + header.record_len() <= end => {
                let data_ok = !verify_data || data_matches(&mut reader, &header, pos)?;
                let next = pos + header.record_len();
                if !data_ok && lookahead.next_intact(&mut reader, salt, next, verify_data)?.is_none() {
                    return Ok(pos);
                }
                on_event(ScanEvent::Record { header, offset: pos, data_ok });
                pos = next;
            }
            // An intact header whose record runs past the end: the write of
            // its data was cut short.
            Some(_) => return Ok(pos),
            None => match lookahead.next_intact(&mut reader, salt, pos + 1, verify_data)? {
                Some(next) => {
                    on_event(ScanEvent::Gap { offset: pos, len: next - pos });
                    pos = next;
                }
                None => return Ok(pos),
            },
        }
    }
}

fn data_matches(reader: &mut PosReader<'_>, header: &RecordHeader, offset: u64) -> io::Result<bool> {
    let data = reader.read(offset + RECORD_HEADER_LEN as u64, header.data_len as usize)?;
    Ok(crc32c::crc32c(data) == header.data_crc)
}

/// Remembers the last search for the next intact record, so a run of bad
/// records does not search the same bytes again for each of them.
struct Lookahead {
    from: u64,
    found: Option<u64>,
}

impl Lookahead {
    fn next_intact(
        &mut self,
        reader: &mut PosReader<'_>,
        salt: u64,
        from: u64,
        verify: bool,
    ) -> io::Result<Option<u64>> {
        let reusable = from >= self.from
            && match self.found {
                None => true,
                Some(at) => at >= from,
            };
        if !reusable {
            self.found = find_intact(reader, salt, from, verify)?;
            self.from = from;
        }
        Ok(self.found)
    }
}

/// The offset of the first intact record at or after `from`.
fn find_intact(reader: &mut PosReader<'_>, salt: u64, from: u64, verify: bool) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 1 << 20;
    let end = reader.end();
    let mut pos = from;
    while pos + RECORD_HEADER_LEN as u64 <= end {
        let n = CHUNK.min(end - pos);
        let candidates: Vec<u64> = reader
            .read(pos, n as usize)?
            .windows(RECORD_MAGIC.len())
            .enumerate()
            .filter(|(_, w)| *w == RECORD_MAGIC)
            .map(|(i, _)| pos + i as u64)
            .collect();
        for at in candidates {
            if is_intact(reader, salt, at, verify)? {
                return Ok(Some(at));
            }
        }
        if pos + n >= end {
            break;
        }
        // Overlap by three bytes so a magic split across chunks is found.
        pos += n - (RECORD_MAGIC.len() as u64 - 1);
    }
    Ok(None)
}

fn is_intact(reader: &mut PosReader<'_>, salt: u64, at: u64, verify: bool) -> io::Result<bool> {
    if at + RECORD_HEADER_LEN as u64 > reader.end() {
        return Ok(false);
    }
    let Some(header) = RecordHeader::decode(reader.read(at, RECORD_HEADER_LEN)?, salt) else {
        return Ok(false);
    };
    if at + header.record_len() > reader.end() {
        return Ok(false);
    }
    Ok(!verify || data_matches(reader, &header, at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{FILE_HEADER_LEN, RecordKind};
    use arca_types::{BlobId, ObjectId};
    use std::os::unix::fs::FileExt;

    const SALT: u64 = 42;

    /// A volume body of records with the given data lengths; returns the
    /// file and each record's offset.
    fn volume(lens: &[usize]) -> (tempfile::NamedTempFile, Vec<u64>) {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut at = FILE_HEADER_LEN as u64;
        let mut offsets = Vec::new();
        f.as_file().write_all_at(&[0u8; FILE_HEADER_LEN], 0).unwrap();
        for (i, len) in lens.iter().enumerate() {
            let data: Vec<u8> = (0..*len).map(|j| (i * 7 + j) as u8).collect();
            let h = RecordHeader {
                kind: RecordKind::Put,
                seq: i as u64 + 1,
                id: BlobId::new(ObjectId([i as u8; 16]), 0),
                partition: 1,
                data_len: *len as u32,
                data_crc: crc32c::crc32c(&data),
            };
            f.as_file().write_all_at(&h.encode(SALT), at).unwrap();
            f.as_file().write_all_at(&data, at + RECORD_HEADER_LEN as u64).unwrap();
            offsets.push(at);
            at += h.record_len();
        }
        (f, offsets)
    }

    fn scan_all(f: &File) -> (Vec<ScanEvent>, u64, u64) {
        let end = f.metadata().unwrap().len();
        let mut events = Vec::new();
        let valid = scan_volume(f, SALT, FILE_HEADER_LEN as u64, end, true, |e| events.push(e)).unwrap();
        (events, valid, end)
    }

    fn seqs(events: &[ScanEvent]) -> Vec<(u64, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                ScanEvent::Record { header, data_ok, .. } => Some((header.seq, *data_ok)),
                ScanEvent::Gap { .. } => None,
            })
            .collect()
    }

    #[test]
    fn intact_volume_scans_whole() {
        let (f, _) = volume(&[10, 0, 5000, 3]);
        let (events, valid, end) = scan_all(f.as_file());
        assert_eq!(valid, end);
        assert_eq!(seqs(&events), vec![(1, true), (2, true), (3, true), (4, true)]);
    }

    #[test]
    fn torn_tail_is_cut_at_the_last_whole_record() {
        for cut in [1u64, 30, 52, 60, 100] {
            let (f, offsets) = volume(&[100, 100, 100]);
            f.as_file().set_len(offsets[2] + cut).unwrap();
            let (events, valid, _) = scan_all(f.as_file());
            assert_eq!(valid, offsets[2], "cut {cut}");
            assert_eq!(seqs(&events), vec![(1, true), (2, true)]);
        }
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let (f, offsets) = volume(&[100, 100]);
        let end = f.as_file().metadata().unwrap().len();
        f.as_file().write_all_at(&[0u8; 4096], end).unwrap();
        // A header that made it to disk whose data did not.
        f.as_file().write_all_at(&[0u8; 100], offsets[1] + RECORD_HEADER_LEN as u64).unwrap();
        let (events, valid, _) = scan_all(f.as_file());
        assert_eq!(valid, offsets[1]);
        assert_eq!(seqs(&events), vec![(1, true)]);
    }

    #[test]
    fn bad_data_in_the_middle_is_reported_and_skipped() {
        let (f, offsets) = volume(&[100, 100, 100]);
        f.as_file().write_all_at(b"X", offsets[1] + RECORD_HEADER_LEN as u64 + 7).unwrap();
        let (events, valid, end) = scan_all(f.as_file());
        assert_eq!(valid, end);
        assert_eq!(seqs(&events), vec![(1, true), (2, false), (3, true)]);
    }

    #[test]
    fn bad_header_in_the_middle_becomes_a_gap_not_the_end() {
        let (f, offsets) = volume(&[100, 200, 100, 50]);
        f.as_file().write_all_at(b"garbage!", offsets[1] + 3).unwrap();
        let (events, valid, end) = scan_all(f.as_file());
        assert_eq!(valid, end);
        assert_eq!(seqs(&events), vec![(1, true), (3, true), (4, true)]);
        assert!(events.contains(&ScanEvent::Gap { offset: offsets[1], len: offsets[2] - offsets[1] }));
    }

    #[test]
    fn gap_entries_split_long_gaps() {
        let e = ScanEvent::Gap { offset: 40, len: u64::from(u32::MAX) + 10 };
        let entries = e.index_entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].end(), 40 + u64::from(u32::MAX) + 10);
    }
}
