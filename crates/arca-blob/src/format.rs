//! The on-disk format: volume superblocks, record headers, index sidecars.
//!
//! This module owns every byte layout of the blob store and nothing else; it
//! does no I/O. docs/design.md section 4 describes the same layouts in prose;
//! a change here is a format change and needs a new version number there.
//!
//! All integers are big-endian, as in `arca-types`. Every structure carries a
//! CRC32C of its own bytes, so a decoder can tell a valid structure from
//! zeros, torn writes and random data without trusting any length field first.

use arca_types::BlobId;

/// Size of the fixed header at the start of every `.vol` and `.idx` file.
pub const FILE_HEADER_LEN: usize = 40;
/// Size of a record header in a `.vol` file; the data follows it.
pub const RECORD_HEADER_LEN: usize = 52;
/// Size of one entry in a `.idx` sidecar.
pub const INDEX_ENTRY_LEN: usize = 56;
/// The only format version this code reads or writes.
pub const FORMAT_VERSION: u32 = 1;

pub const VOLUME_MAGIC: [u8; 8] = *b"ARCAVOL1";
pub const INDEX_MAGIC: [u8; 8] = *b"ARCAIDX1";
pub const RECORD_MAGIC: [u8; 4] = *b"ArcB";

/// What a record in a volume says about its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The blob's bytes follow the header.
    Put,
    /// The blob is deleted as of this record's sequence number; no data.
    Tombstone,
}

impl RecordKind {
    fn code(self) -> u8 {
        match self {
            RecordKind::Put => 1,
            RecordKind::Tombstone => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RecordKind::Put),
            2 => Some(RecordKind::Tombstone),
            _ => None,
        }
    }
}

/// Which file a [`FileHeader`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Volume,
    Index,
}

/// The first 40 bytes of a `.vol` or `.idx` file.
///
/// ```text
///  0  8  magic "ARCAVOL1" (.vol) or "ARCAIDX1" (.idx)
///  8  4  format version (1)
/// 12  4  reserved, zero
/// 16  4  volume id
/// 20  4  reserved, zero
/// 24  8  salt: random per volume; seeds every record header CRC
/// 32  4  reserved, zero
/// 36  4  CRC32C of bytes 0..36
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub kind: FileKind,
    pub volume: u32,
    pub salt: u64,
}

impl FileHeader {
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(match self.kind {
            FileKind::Volume => &VOLUME_MAGIC,
            FileKind::Index => &INDEX_MAGIC,
        });
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        b[16..20].copy_from_slice(&self.volume.to_be_bytes());
        b[24..32].copy_from_slice(&self.salt.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..36]);
        b[36..40].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// `None` unless the bytes are an intact header of the expected kind and
    /// of a version this code understands.
    pub fn decode(b: &[u8], kind: FileKind) -> Option<FileHeader> {
        let b: &[u8; FILE_HEADER_LEN] = b.get(..FILE_HEADER_LEN)?.try_into().ok()?;
        let magic = match kind {
            FileKind::Volume => &VOLUME_MAGIC,
            FileKind::Index => &INDEX_MAGIC,
        };
        if &b[0..8] != magic || crc32c::crc32c(&b[0..36]) != be32(&b[36..40]) {
            return None;
        }
        if be32(&b[8..12]) != FORMAT_VERSION {
            return None;
        }
        Some(FileHeader { kind, volume: be32(&b[16..20]), salt: be64(&b[24..32]) })
    }
}

/// The 52-byte header in front of every record in a volume.
///
/// ```text
///  0  4  magic "ArcB"
///  4  1  kind: 1 = put, 2 = tombstone
///  5  1  flags, zero (a reader rejects unknown flags)
///  6  2  reserved, zero
///  8  8  sequence number (store-wide, increasing; newest record of an id wins)
/// 16 20  blob id (16-byte object id, big-endian u32 stripe)
/// 36  4  partition
/// 40  4  data length (0 for a tombstone)
/// 44  4  CRC32C of the data
/// 48  4  CRC32C of the volume salt (8 bytes, big-endian) then bytes 0..48
/// ```
///
/// The salt makes a header that was copied from another volume (for
/// instance inside the data of a blob that is itself a volume file) fail its
/// check here, so a scan that resynchronises after damage cannot mistake
/// blob data for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: RecordKind,
    pub seq: u64,
    pub id: BlobId,
    pub partition: u32,
    pub data_len: u32,
    pub data_crc: u32,
}

impl RecordHeader {
    pub fn encode(&self, salt: u64) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..4].copy_from_slice(&RECORD_MAGIC);
        b[4] = self.kind.code();
        b[8..16].copy_from_slice(&self.seq.to_be_bytes());
        b[16..36].copy_from_slice(&self.id.to_bytes());
        b[36..40].copy_from_slice(&self.partition.to_be_bytes());
        b[40..44].copy_from_slice(&self.data_len.to_be_bytes());
        b[44..48].copy_from_slice(&self.data_crc.to_be_bytes());
        let crc = header_crc(salt, &b[0..48]);
        b[48..52].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// `None` unless the bytes are an intact header written for a volume
    /// with this salt.
    pub fn decode(b: &[u8], salt: u64) -> Option<RecordHeader> {
        let b: &[u8; RECORD_HEADER_LEN] = b.get(..RECORD_HEADER_LEN)?.try_into().ok()?;
        if b[0..4] != RECORD_MAGIC || header_crc(salt, &b[0..48]) != be32(&b[48..52]) {
            return None;
        }
        let kind = RecordKind::from_code(b[4])?;
        if b[5] != 0 {
            return None;
        }
        let data_len = be32(&b[40..44]);
        if kind == RecordKind::Tombstone && data_len != 0 {
            return None;
        }
        Some(RecordHeader {
            kind,
            seq: be64(&b[8..16]),
            id: blob_id(&b[16..36]),
            partition: be32(&b[36..40]),
            data_len,
            data_crc: be32(&b[44..48]),
        })
    }

    /// Bytes the record occupies in its volume, header included.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.data_len)
    }
}

fn header_crc(salt: u64, bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&salt.to_be_bytes()), bytes)
}

/// What an index entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Record(RecordKind),
    /// Bytes of the volume that hold no readable record (damage found by a
    /// scan); they count as garbage. `len` is the gap's length.
    Gap,
}

/// One 56-byte entry of a `.idx` sidecar: where one record (or one damaged
/// gap) of the volume lies, with the header fields needed to rebuild the
/// in-memory index without reading the volume.
///
/// ```text
///  0  8  sequence number (0 for a gap)
///  8 20  blob id (zero for a gap)
/// 28  4  partition
/// 32  1  kind: 1 = put, 2 = tombstone, 3 = gap
/// 33  3  reserved, zero
/// 36  8  offset of the record (or gap) in the volume
/// 44  4  data length (put, tombstone) or gap length
/// 48  4  CRC32C of the data
/// 52  4  CRC32C of bytes 0..52
/// ```
///
/// Entries are stored in volume order and tile the volume: each starts
/// where the previous one ends, the first at byte 40. A loader stops at
/// the first entry that breaks this rule or its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub kind: EntryKind,
    pub seq: u64,
    pub id: BlobId,
    pub partition: u32,
    pub offset: u64,
    pub len: u32,
    pub data_crc: u32,
}

impl IndexEntry {
    pub fn for_record(h: &RecordHeader, offset: u64) -> IndexEntry {
        IndexEntry {
            kind: EntryKind::Record(h.kind),
            seq: h.seq,
            id: h.id,
            partition: h.partition,
            offset,
            len: h.data_len,
            data_crc: h.data_crc,
        }
    }

    pub fn gap(offset: u64, len: u32) -> IndexEntry {
        IndexEntry {
            kind: EntryKind::Gap,
            seq: 0,
            id: BlobId::from_bytes(&[0u8; BlobId::ENCODED_LEN]),
            partition: 0,
            offset,
            len,
            data_crc: 0,
        }
    }

    /// Bytes of the volume this entry covers.
    pub fn span(&self) -> u64 {
        match self.kind {
            EntryKind::Record(_) => RECORD_HEADER_LEN as u64 + u64::from(self.len),
            EntryKind::Gap => u64::from(self.len),
        }
    }

    pub fn end(&self) -> u64 {
        self.offset + self.span()
    }

    pub fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        b[0..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..28].copy_from_slice(&self.id.to_bytes());
        b[28..32].copy_from_slice(&self.partition.to_be_bytes());
        b[32] = match self.kind {
            EntryKind::Record(k) => k.code(),
            EntryKind::Gap => 3,
        };
        b[36..44].copy_from_slice(&self.offset.to_be_bytes());
        b[44..48].copy_from_slice(&self.len.to_be_bytes());
        b[48..52].copy_from_slice(&self.data_crc.to_be_bytes());
        let crc = crc32c::crc32c(&b[0..52]);
        b[52..56].copy_from_slice(&crc.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<IndexEntry> {
        let b: &[u8; INDEX_ENTRY_LEN] = b.get(..INDEX_ENTRY_LEN)?.try_into().ok()?;
        if crc32c::crc32c(&b[0..52]) != be32(&b[52..56]) || b[33..36] != [0, 0, 0] {
            return None;
        }
        let kind = match b[32] {
            3 => EntryKind::Gap,
            code => EntryKind::Record(RecordKind::from_code(code)?),
        };
        let entry = IndexEntry {
            kind,
            seq: be64(&b[0..8]),
            id: blob_id(&b[8..28]),
            partition: be32(&b[28..32]),
            offset: be64(&b[36..44]),
            len: be32(&b[44..48]),
            data_crc: be32(&b[48..52]),
        };
        if entry.kind == EntryKind::Record(RecordKind::Tombstone) && entry.len != 0 {
            return None;
        }
        Some(entry)
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn blob_id(b: &[u8]) -> BlobId {
    let mut a = [0u8; BlobId::ENCODED_LEN];
    a.copy_from_slice(&b[..BlobId::ENCODED_LEN]);
    BlobId::from_bytes(&a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_types::ObjectId;
    use proptest::prelude::*;

    fn header(kind: RecordKind, seq: u64, obj: [u8; 16], stripe: u32, part: u32, len: u32) -> RecordHeader {
        RecordHeader {
            kind,
            seq,
            id: BlobId::new(ObjectId(obj), stripe),
            partition: part,
            data_len: if kind == RecordKind::Tombstone { 0 } else { len },
            data_crc: len.wrapping_mul(31),
        }
    }

    proptest! {
        #[test]
        fn record_header_round_trips(seq: u64, obj: [u8; 16], stripe: u32, part: u32, len: u32, salt: u64, tomb: bool) {
            let kind = if tomb { RecordKind::Tombstone } else { RecordKind::Put };
            let h = header(kind, seq, obj, stripe, part, len);
            prop_assert_eq!(RecordHeader::decode(&h.encode(salt), salt), Some(h));
        }

        #[test]
        fn record_header_rejects_any_single_bit_flip(seq: u64, obj: [u8; 16], len: u32, salt: u64, bit in 0usize..RECORD_HEADER_LEN * 8) {
            let h = header(RecordKind::Put, seq, obj, 0, 1, len);
            let mut b = h.encode(salt);
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(RecordHeader::decode(&b, salt), None);
        }

        #[test]
        fn record_header_is_bound_to_its_volume_salt(seq: u64, obj: [u8; 16], salt: u64, other: u64) {
            prop_assume!(salt != other);
            let h = header(RecordKind::Put, seq, obj, 0, 1, 10);
            prop_assert_eq!(RecordHeader::decode(&h.encode(salt), other), None);
        }

        #[test]
        fn index_entry_round_trips_and_rejects_bit_flips(seq: u64, obj: [u8; 16], off: u64, len: u32, bit in 0usize..INDEX_ENTRY_LEN * 8) {
            let h = header(RecordKind::Put, seq, obj, 3, 9, len);
            let e = IndexEntry::for_record(&h, off);
            let mut b = e.encode();
            prop_assert_eq!(IndexEntry::decode(&b), Some(e));
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(IndexEntry::decode(&b), None);
        }

        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80), salt: u64) {
            let _ = RecordHeader::decode(&bytes, salt);
            let _ = IndexEntry::decode(&bytes);
            let _ = FileHeader::decode(&bytes, FileKind::Volume);
        }
    }

    #[test]
    fn file_header_round_trips_and_checks_kind() {
        let h = FileHeader { kind: FileKind::Volume, volume: 7, salt: 0xdead_beef };
        let b = h.encode();
        assert_eq!(FileHeader::decode(&b, FileKind::Volume), Some(h));
        assert_eq!(FileHeader::decode(&b, FileKind::Index), None);
        assert_eq!(FileHeader::decode(&[0u8; FILE_HEADER_LEN], FileKind::Volume), None);
    }

    #[test]
    fn zeros_are_never_a_valid_entry_or_header() {
        assert_eq!(IndexEntry::decode(&[0u8; INDEX_ENTRY_LEN]), None);
        assert_eq!(RecordHeader::decode(&[0u8; RECORD_HEADER_LEN], 0), None);
    }
}
