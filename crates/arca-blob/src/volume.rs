//! Volume and index-sidecar files: naming, creation, positional reads, and
//! the cache of open handles that reads go through.
//!
//! A volume `<id>.vol` is an append-only file of records (format.rs); its
//! sidecar `<id>.idx` lists the volume's records in order so that startup
//! need not read the volume. The sidecar is an accelerator: everything in it
//! can be rebuilt from the volume, and a loader trusts only its prefix that
//! is intact and consistent with the volume (see `load_index_prefix`).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::format::{FILE_HEADER_LEN, FileHeader, FileKind, INDEX_ENTRY_LEN, IndexEntry};
use crate::scan::scan_volume;

pub(crate) fn vol_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08x}.vol"))
}

pub(crate) fn idx_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08x}.idx"))
}

/// Where a file is written before it is complete and synced; renamed into
/// place afterwards. Recovery deletes every leftover `.tmp`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Adds the path to an I/O error (keeping its kind).
pub(crate) fn at_path(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Makes creations, renames and unlinks in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A fresh random salt for a new volume.
pub(crate) fn new_salt() -> u64 {
    let id = arca_types::ObjectId::random();
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

/// A newly created, empty volume and its sidecar, both open for writing.
pub(crate) struct NewVolume {
    pub vol: File,
    pub idx: File,
}

/// Creates `<id>.vol` and `<id>.idx` holding only their headers.
///
/// Both are written under a `.tmp` name, synced, renamed into place, and the
/// directory synced, so a `.vol` that exists always starts with an intact
/// header; a crash leaves at most `.tmp` files, which recovery deletes.
pub(crate) fn create_volume(dir: &Path, id: u32, salt: u64) -> io::Result<NewVolume> {
    let vol = write_new_file(&vol_path(dir, id), &FileHeader { kind: FileKind::Volume, volume: id, salt })?;
    let idx = write_new_file(&idx_path(dir, id), &FileHeader { kind: FileKind::Index, volume: id, salt })?;
    sync_dir(dir)?;
    Ok(NewVolume { vol, idx })
}

fn write_new_file(path: &Path, header: &FileHeader) -> io::Result<File> {
    let tmp = tmp_path(path);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
    file.write_all_at(&header.encode(), 0)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(file)
}

/// Reads and checks the header of a volume file.
pub(crate) fn read_volume_header(file: &File) -> io::Result<Option<FileHeader>> {
    let mut b = [0u8; FILE_HEADER_LEN];
    match file.read_exact_at(&mut b, 0) {
        Ok(()) => Ok(FileHeader::decode(&b, FileKind::Volume)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The part of a sidecar that can be trusted.
pub(crate) struct IndexPrefix {
    pub entries: Vec<IndexEntry>,
    /// Volume bytes the entries cover: `[0, covered)`.
    pub covered: u64,
    /// Whether the sidecar's header was intact and for this volume (so the
    /// sidecar can be extended in place rather than rewritten).
    pub header_ok: bool,
}

/// Reads the trusted prefix of the sidecar at `path` for volume `id`.
///
/// Entries are accepted while each is intact, starts where the previous one
/// ended (the first at byte 40) and ends within `vol_len`. The first entry
/// that fails ends the prefix: what follows is not trusted, and the volume
/// from `covered` on must be scanned instead.
pub(crate) fn load_index_prefix(path: &Path, id: u32, salt: u64, vol_len: u64) -> io::Result<IndexPrefix> {
    let empty = |header_ok| IndexPrefix { entries: Vec::new(), covered: FILE_HEADER_LEN as u64, header_ok };
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty(false)),
        Err(e) => return Err(e),
    };
    match FileHeader::decode(&bytes, FileKind::Index) {
        Some(h) if h.volume == id && h.salt == salt => {}
        _ => return Ok(empty(false)),
    }
    let mut prefix = empty(true);
    for chunk in bytes[FILE_HEADER_LEN..].chunks_exact(INDEX_ENTRY_LEN) {
        let Some(entry) = IndexEntry::decode(chunk) else { break };
        if entry.offset != prefix.covered || entry.end() > vol_len {
            break;
        }
        prefix.covered = entry.end();
        prefix.entries.push(entry);
    }
    Ok(prefix)
}

/// Every record (and damaged gap) of a volume, in volume order, up to
/// `vol_len`: the sidecar's trusted prefix, then a scan of the rest.
/// Read-only: a damaged tail is left alone (recovery owns truncation).
pub(crate) fn volume_entries(
    dir: &Path,
    file: &File,
    id: u32,
    salt: u64,
    vol_len: u64,
) -> io::Result<Vec<IndexEntry>> {
    let prefix = load_index_prefix(&idx_path(dir, id), id, salt, vol_len)?;
    let mut entries = prefix.entries;
    if prefix.covered < vol_len {
        scan_volume(file, salt, prefix.covered, vol_len, false, |ev| entries.extend(ev.index_entries()))?;
    }
    Ok(entries)
}

/// Read-only handles of volumes, opened on first use and kept open so that
/// a read costs one `pread`, not an `open` (Q6: "reuses open file handles").
///
/// The cache is bounded (a device can hold thousands of volumes); when full
/// it closes the least recently used handle. A handle stays valid after its
/// volume is unlinked by compaction, so a read that raced with compaction
/// still reads the (identical) old copy.
pub(crate) struct HandleCache {
    dir: PathBuf,
    capacity: usize,
    inner: Mutex<HandleCacheInner>,
}

struct HandleCacheInner {
    handles: HashMap<u32, (Arc<File>, u64)>,
    tick: u64,
}

impl HandleCache {
    pub fn new(dir: PathBuf, capacity: usize) -> Self {
        HandleCache {
            dir,
            capacity: capacity.max(1),
            inner: Mutex::new(HandleCacheInner { handles: HashMap::new(), tick: 0 }),
        }
    }

    pub fn get(&self, id: u32) -> io::Result<Arc<File>> {
        {
            let mut inner = self.inner.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((file, used)) = inner.handles.get_mut(&id) {
                *used = tick;
                return Ok(file.clone());
            }
        }
        // Open outside the lock: an open can be slow and must not stall
        // every other read.
        let path = vol_path(&self.dir, id);
        let file = Arc::new(File::open(&path).map_err(at_path(&path))?);
        self.insert(id, file.clone());
        Ok(file)
    }

    pub fn insert(&self, id: u32, file: Arc<File>) {
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.handles.contains_key(&id) && inner.handles.len() >= self.capacity {
            let oldest = inner.handles.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                inner.handles.remove(&oldest);
            }
        }
        inner.handles.insert(id, (file, tick));
    }

    pub fn remove(&self, id: u32) {
        self.inner.lock().handles.remove(&id);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().handles.len()
    }
}

/// Sequential reads at increasing offsets through one large buffer, so that
/// scanning a volume of small records costs a few large `pread`s rather than
/// two per record.
pub(crate) struct PosReader<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

const READ_CHUNK: usize = 1 << 20;

impl<'a> PosReader<'a> {
    /// Reads of `file` limited to `[.., end)`.
    pub fn new(file: &'a File, end: u64) -> Self {
        PosReader { file, end, buf: Vec::new(), buf_start: 0 }
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Bytes `[offset, offset + len)`; the range must lie below `end`.
    pub fn read(&mut self, offset: u64, len: usize) -> io::Result<&[u8]> {
        let want_end = offset.checked_add(len as u64).filter(|e| *e <= self.end).ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the scanned range")
        })?;
        let buf_end = self.buf_start + self.buf.len() as u64;
        if offset < self.buf_start || want_end > buf_end {
            let fill = (len.max(READ_CHUNK) as u64).min(self.end - offset) as usize;
            self.buf.resize(fill, 0);
            self.file.read_exact_at(&mut self.buf, offset)?;
            self.buf_start = offset;
        }
        let start = (offset - self.buf_start) as usize;
        Ok(&self.buf[start..start + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_cache_is_bounded_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        for id in 1..=3 {
            create_volume(dir.path(), id, id as u64).unwrap();
        }
        let cache = HandleCache::new(dir.path().to_path_buf(), 2);
        cache.get(1).unwrap();
        cache.get(2).unwrap();
        cache.get(1).unwrap();
        cache.get(3).unwrap(); // evicts 2, the least recently used
        assert_eq!(cache.len(), 2);
        assert!(cache.inner.lock().handles.contains_key(&1));
        assert!(!cache.inner.lock().handles.contains_key(&2));
        assert_eq!(cache.get(9).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn sidecar_prefix_stops_at_the_first_entry_that_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let created = create_volume(dir.path(), 1, 5).unwrap();
        let gap = |offset, len| IndexEntry::gap(offset, len).encode();
        // 40..140, 140..240, then an entry that does not start at 240.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&gap(40, 100));
        bytes.extend_from_slice(&gap(140, 100));
        bytes.extend_from_slice(&gap(300, 100));
        created.idx.write_all_at(&bytes, FILE_HEADER_LEN as u64).unwrap();
        let prefix = load_index_prefix(&idx_path(dir.path(), 1), 1, 5, 1000).unwrap();
        assert_eq!((prefix.entries.len(), prefix.covered, prefix.header_ok), (2, 240, true));
        // Entries past the volume's end are not trusted either.
        let prefix = load_index_prefix(&idx_path(dir.path(), 1), 1, 5, 200).unwrap();
        assert_eq!((prefix.entries.len(), prefix.covered), (1, 140));
        // A sidecar of another salt is not this volume's.
        let prefix = load_index_prefix(&idx_path(dir.path(), 1), 1, 6, 1000).unwrap();
        assert_eq!((prefix.entries.len(), prefix.header_ok), (0, false));
    }
}
