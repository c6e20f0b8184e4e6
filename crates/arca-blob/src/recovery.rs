//! Opening a store: recovery after a clean stop, a kill -9 or a power loss.
//!
//! The volumes are the truth; the sidecars only save reading them. For each
//! volume, recovery trusts the sidecar's intact prefix (56 bytes per record,
//! see volume.rs), scans the volume from where that prefix ends — normally
//! only the records of the last batch before the crash — truncates a torn
//! tail, and brings the sidecar up to date. It then keeps, per blob id, the
//! record with the greatest (sequence number, volume id): the newest write
//! wins, a tombstone hides older puts wherever compaction left them, and of
//! two copies of one record (a compaction interrupted before it unlinked its
//! input) the one in the newer volume is the live one.
//!
//! Startup cost: one read of every sidecar (56 bytes per record ever written
//! and not yet compacted away) plus a scan of the unindexed tails, and the
//! memory of one map entry per blob id.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use arca_types::BlobId;
use parking_lot::{Mutex, RwLock};

use crate::BlobStoreConfig;
use crate::error::BlobError;
use crate::format::{
    EntryKind, FILE_HEADER_LEN, FileHeader, FileKind, INDEX_ENTRY_LEN, IndexEntry, RECORD_HEADER_LEN,
    RecordKind,
};
use crate::index::{Entry, Index, VolumeState};
use crate::scan::scan_volume;
use crate::store::BlobStore;
use crate::volume::{
    HandleCache, create_volume, idx_path, load_index_prefix, new_salt, read_volume_header, sync_dir,
    tmp_path, vol_path,
};
use crate::writer::{ActiveVolume, Writer};

/// The newest record seen so far for one id.
struct Newest {
    seq: u64,
    volume: u32,
    entry: IndexEntry,
}

/// A volume after its sidecar has been checked and completed.
struct LoadedVolume {
    id: u32,
    salt: u64,
    file: File,
    len: u64,
    /// Entries in the sidecar (all of them, after repair).
    entry_count: u64,
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir` and recovers it.
    ///
    /// Holds an exclusive lock on `dir/LOCK` for the store's lifetime: two
    /// processes appending to one volume would corrupt it.
    pub fn open(dir: impl AsRef<Path>, config: BlobStoreConfig) -> Result<BlobStore, BlobError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(BlobError::Locked(dir)),
            Err(TryLockError::Error(e)) => return Err(BlobError::Io(e)),
        }

        let listing = list_dir(&dir)?;
        let mut max_id = listing.max_id;
        let mut quarantined = listing.quarantined;
        let mut newest: HashMap<BlobId, Newest> = HashMap::new();
        let mut tombstone_bytes: HashMap<u32, u64> = HashMap::new();
        let mut max_seq = 0u64;
        let mut loaded = Vec::new();
        for id in &listing.volumes {
            let Some(volume) = load_volume(&dir, *id, &mut |entry| {
                let EntryKind::Record(kind) = entry.kind else { return };
                max_seq = max_seq.max(entry.seq);
                if kind == RecordKind::Tombstone {
                    *tombstone_bytes.entry(*id).or_default() += RECORD_HEADER_LEN as u64;
                }
                let wins = newest.get(&entry.id).is_none_or(|n| (entry.seq, *id) > (n.seq, n.volume));
                if wins {
                    newest.insert(entry.id, Newest { seq: entry.seq, volume: *id, entry });
                }
            })?
            else {
                quarantined.push(vol_path(&dir, *id));
                continue;
            };
            loaded.push(volume);
        }

        let mut index = Index::default();
        for v in &loaded {
            let mut state = VolumeState::new(v.salt, v.len, true);
            state.tombstone_bytes = tombstone_bytes.get(&v.id).copied().unwrap_or(0);
            index.volumes.insert(v.id, state);
        }
        for (id, n) in newest {
            if n.entry.kind == EntryKind::Record(RecordKind::Put) {
                let e = n.entry;
                let entry = Entry {
                    seq: n.seq,
                    offset: e.offset,
                    volume: n.volume,
                    len: e.len,
                    crc: e.data_crc,
                    partition: e.partition,
                };
                index.insert(id, entry);
            }
        }

        let handles = HandleCache::new(dir.clone(), config.max_open_volumes);
        // Keep appending to the newest volume unless it is full.
        let reuse = loaded.pop().filter(|v| v.len < config.volume_size_limit);
        let active = match reuse {
            Some(v) => {
                let idx = OpenOptions::new().write(true).open(idx_path(&dir, v.id))?;
                if let Some(state) = index.volumes.get_mut(&v.id) {
                    state.sealed = false;
                }
                let file = Arc::new(v.file);
                handles.insert(v.id, file.clone());
                ActiveVolume {
                    id: v.id,
                    salt: v.salt,
                    file,
                    idx: Some(idx),
                    idx_len: FILE_HEADER_LEN as u64 + v.entry_count * INDEX_ENTRY_LEN as u64,
                    len: v.len,
                }
            }
            None => {
                max_id += 1;
                let salt = new_salt();
                let created = create_volume(&dir, max_id, salt)?;
                index.volumes.insert(max_id, VolumeState::new(salt, FILE_HEADER_LEN as u64, false));
                let file = Arc::new(created.vol);
                handles.insert(max_id, file.clone());
                ActiveVolume {
                    id: max_id,
                    salt,
                    file,
                    idx: Some(created.idx),
                    idx_len: FILE_HEADER_LEN as u64,
                    len: FILE_HEADER_LEN as u64,
                }
            }
        };
        tracing::info!(
            dir = %dir.display(),
            blobs = index.len(),
            volumes = index.volumes.len(),
            quarantined = quarantined.len(),
            "blob store opened"
        );
        Ok(BlobStore {
            dir,
            index: RwLock::new(index),
            handles,
            writer: Writer::new(active, max_seq),
            next_volume: AtomicU32::new(max_id + 1),
            compaction: Mutex::new(()),
            quarantined,
            config,
            _lock: lock,
        })
    }
}

struct Listing {
    volumes: BTreeSet<u32>,
    quarantined: Vec<PathBuf>,
    /// The greatest volume id any file name uses (ids are never reused).
    max_id: u32,
}

/// Lists the volumes, deleting leftovers of interrupted work: `.tmp` files
/// (a compaction output or new volume that was never renamed into place)
/// and sidecars without a volume (a compaction that unlinked its input
/// volume but not yet the input's sidecar).
fn list_dir(dir: &Path) -> Result<Listing, BlobError> {
    let mut listing = Listing { volumes: BTreeSet::new(), quarantined: Vec::new(), max_id: 0 };
    let mut sidecars = BTreeSet::new();
    let mut removed = false;
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        let id_of =
            |suffix: &str| name.strip_suffix(suffix).and_then(|hex| u32::from_str_radix(hex, 16).ok());
        if name.ends_with(".tmp") {
            fs::remove_file(dirent.path())?;
            removed = true;
            continue;
        }
        if let Some(id) = id_of(".vol") {
            listing.volumes.insert(id);
        } else if let Some(id) = id_of(".idx") {
            sidecars.insert(id);
        } else if let Some(id) = id_of(".vol.corrupt") {
            listing.quarantined.push(dirent.path());
            listing.max_id = listing.max_id.max(id);
            continue;
        } else {
            continue;
        }
        if let Some(id) = id_of(".vol").or_else(|| id_of(".idx")) {
            listing.max_id = listing.max_id.max(id);
        }
    }
    for id in sidecars.difference(&listing.volumes) {
        fs::remove_file(idx_path(dir, *id))?;
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(listing)
}

/// Checks one volume, truncates its torn tail, completes its sidecar, and
/// feeds every record entry to `on_entry`. `None` when the volume's own
/// header is unreadable: it is renamed `<id>.vol.corrupt` and left for an
/// operator, its records unused (other replicas still hold them).
fn load_volume(
    dir: &Path,
    id: u32,
    on_entry: &mut dyn FnMut(IndexEntry),
) -> Result<Option<LoadedVolume>, BlobError> {
    let path = vol_path(dir, id);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let salt = match read_volume_header(&file)? {
        Some(h) if h.volume == id => h.salt,
        _ => {
            tracing::error!(volume = id, "volume header is damaged; quarantining the volume");
            let mut corrupt = path.clone().into_os_string();
            corrupt.push(".corrupt");
            fs::rename(&path, &corrupt)?;
            let _ = fs::remove_file(idx_path(dir, id));
            sync_dir(dir)?;
            return Ok(None);
        }
    };
    let file_len = file.metadata()?.len();
    let sidecar = idx_path(dir, id);
    let prefix = load_index_prefix(&sidecar, id, salt, file_len)?;
    let trusted = prefix.entries.len();
    let mut entries = prefix.entries;
    let mut len = file_len;
    if prefix.covered < file_len {
        len = scan_volume(&file, salt, prefix.covered, file_len, true, |ev| {
            entries.extend(ev.index_entries())
        })?;
        if len < file_len {
            tracing::warn!(volume = id, bytes = file_len - len, "truncating the torn tail of a volume");
            file.set_len(len)?;
            file.sync_all()?;
        }
    }

    let want_len = FILE_HEADER_LEN as u64 + (entries.len() * INDEX_ENTRY_LEN) as u64;
    let sidecar_len = fs::metadata(&sidecar).map(|m| m.len()).unwrap_or(0);
    if !prefix.header_ok {
        rewrite_sidecar(dir, id, salt, &entries)?;
    } else if entries.len() > trusted || sidecar_len != want_len {
        let idx = OpenOptions::new().write(true).open(&sidecar)?;
        let keep = FILE_HEADER_LEN as u64 + (trusted * INDEX_ENTRY_LEN) as u64;
        idx.set_len(keep)?;
        let tail: Vec<u8> = entries[trusted..].iter().flat_map(|e| e.encode()).collect();
        idx.write_all_at(&tail, keep)?;
        idx.sync_data()?;
    }
    let entry_count = entries.len() as u64;
    for e in entries {
        on_entry(e);
    }
    Ok(Some(LoadedVolume { id, salt, file, len, entry_count }))
}

fn rewrite_sidecar(dir: &Path, id: u32, salt: u64, entries: &[IndexEntry]) -> Result<(), BlobError> {
    let path = idx_path(dir, id);
    let mut bytes = Vec::with_capacity(FILE_HEADER_LEN + entries.len() * INDEX_ENTRY_LEN);
    bytes.extend_from_slice(&FileHeader { kind: FileKind::Index, volume: id, salt }.encode());
    for e in entries {
        bytes.extend_from_slice(&e.encode());
    }
    let tmp = tmp_path(&path);
    let file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    file.write_all_at(&bytes, 0)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(())
}
