//! The two file formats: the compact ring file servers load and the builder
//! file `arca ring` edits; both framed by a magic, a format version and a
//! CRC-32C, specified byte by byte in docs/design.md section 3.
//!
//! Decoding treats its input as untrusted: every length is checked against
//! the bytes present before anything is allocated, and nothing panics.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::builder::{Assignment, BuilderDevice, RingBuilder};
use crate::device::check_fields;
use crate::{Device, MAX_PART_POWER, MAX_REPLICAS, Ring, RingError};

pub(crate) const RING_MAGIC: &[u8; 8] = b"ARCARING";
pub(crate) const BUILDER_MAGIC: &[u8; 8] = b"ARCARBLD";
pub(crate) const RING_FORMAT_VERSION: u16 = 1;
pub(crate) const BUILDER_FORMAT_VERSION: u16 = 1;

/// Magic + format version + checksum: the smallest possible file.
const FRAME_LEN: usize = 8 + 2 + 4;
/// id, region, zone, weight, two string lengths: the smallest device record.
const MIN_DEVICE_RECORD: usize = 4 + 4 + 4 + 8 + 2 + 2;

/// Checks magic, checksum and format version; returns the bytes between the
/// format version and the checksum.
fn unframe<'a>(bytes: &'a [u8], magic: &[u8; 8], version: u16, what: &str) -> Result<&'a [u8], RingError> {
    if bytes.len() < FRAME_LEN || &bytes[..8] != magic {
        return Err(RingError::corrupt(format!("not an Arca {what} (no {} magic)", magic.escape_ascii())));
    }
    let (body, stored) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_be_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(RingError::corrupt(format!(
            "{what} checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is damaged or truncated"
        )));
    }
    let found = u16::from_be_bytes([body[8], body[9]]);
    if found != version {
        return Err(RingError::corrupt(format!(
            "{what} format version {found} is not supported (this build reads version {version})"
        )));
    }
    Ok(&body[10..])
}

fn frame(magic: &[u8; 8], version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_LEN + payload.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Bounds-checked big-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RingError> {
        if self.remaining() < n {
            return Err(RingError::corrupt(format!(
                "truncated: needed {n} more bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, RingError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RingError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, RingError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, RingError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self, what: &str) -> Result<String, RingError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| RingError::corrupt(format!("{what} is not UTF-8")))
    }

    /// `count` u32 values, after checking they are all present.
    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, RingError> {
        let bytes = self.take(count.checked_mul(4).ok_or_else(|| RingError::corrupt("table too large"))?)?;
        Ok(bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

fn check_shape(part_power: u8, replicas: u8) -> Result<(), RingError> {
    if part_power > MAX_PART_POWER {
        return Err(RingError::corrupt(format!("part power {part_power} is above {MAX_PART_POWER}")));
    }
    if replicas == 0 || replicas > MAX_REPLICAS {
        return Err(RingError::corrupt(format!("replica count {replicas} is not in 1..={MAX_REPLICAS}")));
    }
    Ok(())
}

/// Devices sorted by strictly ascending id, with valid fields.
fn check_devices<'a>(devices: impl IntoIterator<Item = &'a Device>) -> Result<(), RingError> {
    let mut last: Option<u32> = None;
    for d in devices {
        if last.is_some_and(|l| l >= d.id) {
            return Err(RingError::corrupt(format!("device ids are not strictly ascending at id {}", d.id)));
        }
        last = Some(d.id);
        check_fields(&d.node, &d.device, d.weight)
            .map_err(|e| RingError::corrupt(format!("device {}: {e}", d.id)))?;
    }
    Ok(())
}

/// Every id of the table names one of `devices` (sorted by id), and no
/// partition lists one device twice.
fn check_table(table: &[u32], replicas: u8, devices: &[Device]) -> Result<(), RingError> {
    let r = usize::from(replicas);
    for (p, slots) in table.chunks_exact(r).enumerate() {
        for (i, id) in slots.iter().enumerate() {
            if devices.binary_search_by_key(id, |d| d.id).is_err() {
                return Err(RingError::corrupt(format!("partition {p} is assigned to unknown device {id}")));
            }
            if slots[..i].contains(id) {
                return Err(RingError::corrupt(format!("partition {p} lists device {id} twice")));
            }
        }
    }
    Ok(())
}

/// Replica-major rows (as stored) to the partition-major table (as used).
fn to_partition_major(rows: &[u32], replicas: usize, parts: usize) -> Vec<u32> {
    let mut table = vec![0u32; rows.len()];
    for r in 0..replicas {
        for p in 0..parts {
            table[p * replicas + r] = rows[r * parts + p];
        }
    }
    table
}

fn put_replica_major(out: &mut Vec<u8>, table: &[u32], replicas: usize) {
    for r in 0..replicas {
        for id in table.iter().skip(r).step_by(replicas) {
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

pub(crate) fn encode_ring(ring: &Ring) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + ring.devices.len() * 64 + ring.table.len() * 4);
    p.push(ring.part_power);
    p.push(ring.replicas);
    p.extend_from_slice(&ring.version.to_be_bytes());
    p.extend_from_slice(&(ring.devices.len() as u32).to_be_bytes());
    for d in &ring.devices {
        p.extend_from_slice(&d.id.to_be_bytes());
        p.extend_from_slice(&d.region.to_be_bytes());
        p.extend_from_slice(&d.zone.to_be_bytes());
        p.extend_from_slice(&d.weight.to_bits().to_be_bytes());
        // Lengths fit: names are checked to be at most 255 bytes.
        p.extend_from_slice(&(d.node.len() as u16).to_be_bytes());
        p.extend_from_slice(d.node.as_bytes());
        p.extend_from_slice(&(d.device.len() as u16).to_be_bytes());
        p.extend_from_slice(d.device.as_bytes());
    }
    put_replica_major(&mut p, &ring.table, usize::from(ring.replicas));
    frame(RING_MAGIC, RING_FORMAT_VERSION, &p)
}

pub(crate) fn decode_ring(bytes: &[u8]) -> Result<Ring, RingError> {
    let mut r = Reader::new(unframe(bytes, RING_MAGIC, RING_FORMAT_VERSION, "ring file")?);
    let part_power = r.u8()?;
    let replicas = r.u8()?;
    check_shape(part_power, replicas)?;
    let version = r.u64()?;
    let count = r.u32()? as usize;
    if count.saturating_mul(MIN_DEVICE_RECORD) > r.remaining() {
        return Err(RingError::corrupt(format!("{count} devices cannot fit in {} bytes", r.remaining())));
    }
    let mut devices = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.u32()?;
        let region = r.u32()?;
        let zone = r.u32()?;
        let weight = f64::from_bits(r.u64()?);
        let node = r.string("a node address")?;
        let device = r.string("a device name")?;
        devices.push(Device { id, region, zone, node, device, weight });
    }
    check_devices(&devices)?;
    let parts = 1usize << part_power;
    let slots = parts * usize::from(replicas);
    if r.remaining() != slots * 4 {
        return Err(RingError::corrupt(format!(
            "the partition table takes {} bytes; {slots} entries need {}",
            r.remaining(),
            slots * 4
        )));
    }
    let rows = r.u32s(slots)?;
    let table = to_partition_major(&rows, usize::from(replicas), parts);
    check_table(&table, replicas, &devices)?;
    Ok(Ring::assemble(version, part_power, replicas, devices, table))
}

/// The builder file's JSON header: everything but the two per-partition arrays.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuilderHeader {
    part_power: u8,
    replicas: u8,
    min_part_hours: u32,
    version: u64,
    next_device_id: u32,
    dirty: bool,
    assigned: bool,
    devices: Vec<BuilderDevice>,
    published_devices: Vec<Device>,
}

pub(crate) fn encode_builder(b: &RingBuilder) -> Vec<u8> {
    let header = BuilderHeader {
        part_power: b.part_power,
        replicas: b.replicas,
        min_part_hours: b.min_part_hours,
        version: b.version,
        next_device_id: b.next_device_id,
        dirty: b.dirty,
        assigned: b.assignment.is_some(),
        devices: b.devices.clone(),
        published_devices: b.published.clone(),
    };
    let json = serde_json::to_vec(&header).expect("a builder header always serialises");
    let mut p = Vec::with_capacity(4 + json.len());
    p.extend_from_slice(&(json.len() as u32).to_be_bytes());
    p.extend_from_slice(&json);
    if let Some(a) = &b.assignment {
        p.reserve(a.table.len() * 4 + a.last_moved.len() * 4);
        put_replica_major(&mut p, &a.table, usize::from(b.replicas));
        for m in &a.last_moved {
            p.extend_from_slice(&m.to_be_bytes());
        }
    }
    frame(BUILDER_MAGIC, BUILDER_FORMAT_VERSION, &p)
}

pub(crate) fn decode_builder(bytes: &[u8]) -> Result<RingBuilder, RingError> {
    let mut r = Reader::new(unframe(bytes, BUILDER_MAGIC, BUILDER_FORMAT_VERSION, "ring builder file")?);
    let header_len = r.u32()? as usize;
    let header: BuilderHeader = serde_json::from_slice(r.take(header_len)?)
        .map_err(|e| RingError::corrupt(format!("builder header: {e}")))?;
    check_shape(header.part_power, header.replicas)?;
    check_devices(header.devices.iter().map(|d| &d.device))?;
    check_devices(&header.published_devices)?;
    if let Some(last) = header.devices.last()
        && last.device.id >= header.next_device_id
    {
        return Err(RingError::corrupt(format!(
            "device id {} is not below the next device id {}",
            last.device.id, header.next_device_id
        )));
    }
    let parts = 1usize << header.part_power;
    let replicas = usize::from(header.replicas);
    let expected = if header.assigned { parts * replicas * 4 + parts * 4 } else { 0 };
    if r.remaining() != expected {
        return Err(RingError::corrupt(format!(
            "the partition arrays take {} bytes; {expected} expected",
            r.remaining()
        )));
    }
    let assignment = if header.assigned {
        let rows = r.u32s(parts * replicas)?;
        let table = to_partition_major(&rows, replicas, parts);
        let all: Vec<Device> = header.devices.iter().map(|d| d.device.clone()).collect();
        check_table(&table, header.replicas, &all)?;
        check_table(&table, header.replicas, &header.published_devices)?;
        let last_moved = r.u32s(parts)?;
        Some(Assignment { table, last_moved })
    } else {
        None
    };
    Ok(RingBuilder {
        part_power: header.part_power,
        replicas: header.replicas,
        min_part_hours: header.min_part_hours,
        version: header.version,
        next_device_id: header.next_device_id,
        devices: header.devices,
        published: header.published_devices,
        dirty: header.dirty,
        assignment,
    })
}

/// Replaces `path` with `bytes` so that a reader sees the old file or the new
/// one, never a mix: write a temporary file beside it, fsync it, rename it
/// over `path`, fsync the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RingError> {
    let io = |source| RingError::Io { path: path.to_path_buf(), source };
    let Some(name) = path.file_name() else {
        return Err(RingError::InvalidArgument(format!("{} is not a file path", path.display())));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    // The rename is durable once the directory is; not every platform can
    // open a directory for syncing, and the file itself is already safe.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_ring() -> Ring {
        let devices = (0..4)
            .map(|i| Device {
                id: i * 2,
                region: 1,
                zone: i % 3,
                node: format!("10.0.0.{i}:6000"),
                device: format!("d{i}"),
                weight: 100.0 + f64::from(i),
            })
            .collect();
        let table = (0..8u32).flat_map(|p| [(p % 4) * 2, ((p + 1) % 4) * 2]).collect();
        Ring::assemble(7, 3, 2, devices, table)
    }

    #[test]
    fn ring_bytes_round_trip_and_layout_is_as_documented() {
        let ring = small_ring();
        let bytes = ring.to_bytes();
        assert_eq!(&bytes[..8], b"ARCARING");
        assert_eq!(&bytes[8..10], &[0, 1]);
        assert_eq!(bytes[10], 3);
        assert_eq!(bytes[11], 2);
        assert_eq!(&bytes[12..20], &7u64.to_be_bytes());
        assert_eq!(&bytes[20..24], &4u32.to_be_bytes());
        // First device record: id 0, region 1, zone 0, weight 100.0.
        assert_eq!(&bytes[24..28], &0u32.to_be_bytes());
        assert_eq!(&bytes[28..32], &1u32.to_be_bytes());
        assert_eq!(&bytes[36..44], &100.0f64.to_bits().to_be_bytes());
        assert_eq!(&bytes[44..46], &13u16.to_be_bytes());
        assert_eq!(&bytes[46..59], b"10.0.0.0:6000");
        let crc = crc32c::crc32c(&bytes[..bytes.len() - 4]);
        assert_eq!(&bytes[bytes.len() - 4..], &crc.to_be_bytes());
        // The table is replica-major: replica 0 of partitions 0..8, then replica 1.
        let table_start = bytes.len() - 4 - 2 * 8 * 4;
        assert_eq!(&bytes[table_start..table_start + 8], &[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(Ring::from_bytes(&bytes).unwrap(), ring);
    }

    #[test]
    fn damaged_ring_files_are_rejected_with_a_reason() {
        let bytes = small_ring().to_bytes();
        let err = |b: &[u8]| Ring::from_bytes(b).unwrap_err().to_string();
        assert!(err(b"hello").contains("not an Arca ring file"));
        assert!(err(&bytes[..bytes.len() - 1]).contains("checksum mismatch"));
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(err(&flipped).contains("checksum mismatch"));
        let mut future = bytes[..bytes.len() - 4].to_vec();
        future[9] = 2;
        let crc = crc32c::crc32c(&future);
        future.extend_from_slice(&crc.to_be_bytes());
        assert!(err(&future).contains("format version 2 is not supported"));
    }

    #[test]
    fn a_table_naming_an_unknown_device_is_rejected() {
        let mut ring = small_ring();
        ring.table[5] = 99;
        let e = Ring::from_bytes(&ring.to_bytes()).unwrap_err().to_string();
        assert!(e.contains("unknown device 99"), "{e}");
        let mut ring = small_ring();
        ring.table[1] = ring.table[0];
        let e = Ring::from_bytes(&ring.to_bytes()).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
