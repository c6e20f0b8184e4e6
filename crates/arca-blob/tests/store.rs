//! Behaviour of the blob store through its public API, including what it
//! does with damaged files (torn tails, rot, lost sidecars).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use arca_blob::{BlobError, BlobStore, BlobStoreConfig, FaultPoint};
use arca_types::{BlobId, ObjectId};

fn id(n: u32) -> BlobId {
    BlobId::new(ObjectId([7; 16]), n)
}

fn data(n: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(n * 7) as u8).collect()
}

fn small_volumes() -> BlobStoreConfig {
    BlobStoreConfig { volume_size_limit: 8192, ..BlobStoreConfig::default() }
}

fn vol_path(dir: &Path, volume: u32) -> PathBuf {
    dir.join(format!("{volume:08x}.vol"))
}

fn idx_path(dir: &Path, volume: u32) -> PathBuf {
    dir.join(format!("{volume:08x}.idx"))
}

fn flip_byte(path: &Path, offset: u64) {
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

#[test]
fn put_get_stat_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    let body = data(1, 10_000);
    store.put(id(1), 42, &body).unwrap();
    store.put(id(2), 42, b"").unwrap();
    assert_eq!(store.get(&id(1)).unwrap(), body);
    assert_eq!(store.get(&id(2)).unwrap(), b"");
    assert_eq!(store.get_range(&id(1), 100, 50).unwrap(), &body[100..150]);
    assert_eq!(store.get_range(&id(1), 10_000, 0).unwrap(), b"");
    assert!(matches!(store.get_range(&id(1), 9_990, 11), Err(BlobError::RangeOutOfBounds { .. })));
    assert!(matches!(store.get_range(&id(1), u64::MAX, 2), Err(BlobError::RangeOutOfBounds { .. })));

    let info = store.stat(&id(1)).unwrap();
    assert_eq!((info.len, info.partition, info.crc32c), (10_000, 42, crc32c::crc32c(&body)));
    assert!(store.stat(&id(3)).is_none());
    assert!(matches!(store.get(&id(3)), Err(BlobError::NotFound(x)) if x == id(3)));

    let stats = store.stats();
    assert_eq!((stats.blobs, stats.live_bytes, stats.garbage_bytes), (2, 10_000, 0));
}

#[test]
fn limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let config = BlobStoreConfig { max_blob_size: 1000, ..BlobStoreConfig::default() };
    let store = BlobStore::open(dir.path(), config).unwrap();
    assert!(matches!(store.put(id(1), 0, &[0u8; 1001]), Err(BlobError::TooLarge { len: 1001, max: 1000 })));
    store.put(id(1), 0, &[0u8; 1000]).unwrap();

    let bad = BlobStoreConfig { max_blob_size: 1 << 33, ..BlobStoreConfig::default() };
    assert!(matches!(BlobStore::open(dir.path().join("x"), bad), Err(BlobError::Config(_))));
}

#[test]
fn a_second_open_of_one_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    assert!(matches!(BlobStore::open(dir.path(), BlobStoreConfig::default()), Err(BlobError::Locked(_))));
}

#[test]
fn reput_replaces_and_delete_reports_existence() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    store.put(id(1), 1, b"old").unwrap();
    store.put(id(1), 2, b"new").unwrap();
    assert_eq!(store.get(&id(1)).unwrap(), b"new");
    assert_eq!(store.partitions(), vec![2]);
    assert!(store.delete(&id(1)).unwrap());
    assert!(!store.delete(&id(1)).unwrap());
    assert!(!store.delete(&id(9)).unwrap());
    assert!(store.partitions().is_empty());
    drop(store);

    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert!(matches!(store.get(&id(1)), Err(BlobError::NotFound(_))));
    store.put(id(1), 3, b"again").unwrap();
    drop(store);
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert_eq!(store.get(&id(1)).unwrap(), b"again");
}

#[test]
fn everything_survives_reopen_across_many_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    for n in 0..200 {
        store.put(id(n), n % 5, &data(n, (n as usize * 37) % 3000)).unwrap();
    }
    for n in (0..200).step_by(3) {
        store.delete(&id(n)).unwrap();
    }
    let before = store.stats();
    assert!(before.volumes > 10, "small volume limit should have rolled over: {before:?}");
    drop(store);

    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert_eq!(store.stats().blobs, before.blobs);
    assert_eq!(store.stats().live_bytes, before.live_bytes);
    for n in 0..200 {
        match store.get(&id(n)) {
            Ok(got) => assert!(n % 3 != 0 && got == data(n, (n as usize * 37) % 3000)),
            Err(BlobError::NotFound(_)) => assert_eq!(n % 3, 0),
            Err(e) => panic!("blob {n}: {e}"),
        }
    }
}

#[test]
fn lost_or_damaged_sidecars_are_rebuilt_from_the_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    for n in 0..60 {
        store.put(id(n), n % 3, &data(n, 500)).unwrap();
    }
    store.delete(&id(5)).unwrap();
    let digests: Vec<_> = (0..3).map(|p| store.partition_digest(p)).collect();
    drop(store);

    // Remove one sidecar, truncate another mid-entry, flip a byte in a third.
    std::fs::remove_file(idx_path(dir.path(), 1)).unwrap();
    let f = OpenOptions::new().write(true).open(idx_path(dir.path(), 2)).unwrap();
    f.set_len(40 + 56 + 20).unwrap();
    flip_byte(&idx_path(dir.path(), 3), 40 + 56 + 3);

    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert_eq!((0..3).map(|p| store.partition_digest(p)).collect::<Vec<_>>(), digests);
    for n in 0..60 {
        assert_eq!(store.get(&id(n)).is_ok(), n != 5, "blob {n}");
    }
    assert!(store.scrub().unwrap().corrupt.is_empty());
}

#[test]
fn a_torn_tail_is_truncated_and_appending_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    store.put(id(1), 0, &data(1, 3000)).unwrap();
    store.put(id(2), 0, &data(2, 3000)).unwrap();
    let last = store.stat(&id(2)).unwrap();
    drop(store);

    // What a kill or power loss during an append leaves: a whole header
    // (here a copy of the last one) followed by too little data, or by
    // data that never reached the disk (zeros).
    let vol = vol_path(dir.path(), last.volume);
    let f = OpenOptions::new().read(true).write(true).open(&vol).unwrap();
    let len = f.metadata().unwrap().len();
    let mut record = vec![0u8; 52 + 3000];
    f.read_exact_at(&mut record, last.offset).unwrap();
    f.write_all_at(&record[..52 + 1500], len).unwrap();
    drop(f);
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    assert_eq!(std::fs::metadata(&vol).unwrap().len(), len, "short torn tail not truncated");
    drop(store);
    let f = OpenOptions::new().read(true).write(true).open(&vol).unwrap();
    record[52..].fill(0);
    f.write_all_at(&record, len).unwrap();
    drop(f);

    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    assert_eq!(std::fs::metadata(&vol).unwrap().len(), len, "zeroed torn tail not truncated");
    assert_eq!(store.get(&id(2)).unwrap(), data(2, 3000));
    store.put(id(3), 0, b"after").unwrap();
    drop(store);
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    assert_eq!(store.get(&id(3)).unwrap(), b"after");
    assert_eq!(store.get(&id(1)).unwrap(), data(1, 3000));
}

#[test]
fn rot_is_reported_not_returned_and_does_not_hide_later_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    for n in 0..6 {
        store.put(id(n), 0, &data(n, 1000)).unwrap();
    }
    let victim = store.stat(&id(1)).unwrap();
    let header_victim = store.stat(&id(2)).unwrap();
    assert_eq!(victim.volume, header_victim.volume);
    let vol = vol_path(dir.path(), victim.volume);
    flip_byte(&vol, victim.offset + 52 + 10);

    match store.get(&id(1)) {
        Err(e @ BlobError::Corrupt { .. }) => assert!(e.is_corrupt()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let report = store.scrub().unwrap();
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!((report.corrupt[0].id, report.corrupt[0].offset), (id(1), victim.offset));

    // Damage a header too, then lose every sidecar: the rebuild must step
    // over both damaged records and still find the ones after them.
    flip_byte(&vol, header_victim.offset + 20);
    drop(store);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert!(store.get(&id(1)).unwrap_err().is_corrupt());
    assert!(matches!(store.get(&id(2)), Err(BlobError::NotFound(_))));
    for n in [0, 3, 4, 5] {
        assert_eq!(store.get(&id(n)).unwrap(), data(n, 1000), "blob {n}");
    }
    let report = store.scrub().unwrap();
    assert_eq!(report.corrupt.iter().map(|c| c.id).collect::<Vec<_>>(), vec![id(1)]);
    assert!(report.damaged_gap_bytes >= 52 + 1000);

    // Compaction keeps the corrupt blob corrupt rather than dropping it.
    store.delete(&id(0)).unwrap();
    let compacted = store.compact(0.0).unwrap();
    assert!(compacted.corrupt_blobs_copied >= 1, "{compacted:?}");
    assert!(store.get(&id(1)).unwrap_err().is_corrupt());
    assert_eq!(store.get(&id(3)).unwrap(), data(3, 1000));
}

#[test]
fn compaction_reclaims_garbage_and_keeps_live_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    for n in 0..100 {
        store.put(id(n), n % 4, &data(n, 700)).unwrap();
    }
    for n in 0..100 {
        if n % 4 != 0 {
            store.delete(&id(n)).unwrap();
        }
    }
    let digests: Vec<_> = (0..4).map(|p| store.partition_digest(p)).collect();
    let before = store.stats();
    let report = store.compact(0.5).unwrap();
    let after = store.stats();
    assert!(report.volumes_compacted > 0 && report.bytes_reclaimed > 0, "{report:?}");
    assert!(after.disk_bytes < before.disk_bytes / 2, "{before:?} -> {after:?}");
    assert_eq!(after.blobs, 25);
    assert_eq!((0..4).map(|p| store.partition_digest(p)).collect::<Vec<_>>(), digests);
    // Compacting again finds nothing over the threshold.
    assert_eq!(store.compact(0.5).unwrap().volumes_compacted, 0);
    drop(store);

    let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
    assert_eq!(store.stats().blobs, 25);
    for n in 0..100 {
        assert_eq!(store.get(&id(n)).ok(), (n % 4 == 0).then(|| data(n, 700)), "blob {n}");
    }
    assert!(store.scrub().unwrap().corrupt.is_empty());
}

#[test]
fn tombstones_outlive_every_older_put_of_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = BlobStoreConfig { volume_size_limit: 4096, ..BlobStoreConfig::default() };
    let store = BlobStore::open(dir.path(), config.clone()).unwrap();
    // Volume 1: the victim and a filler that stays live.
    store.put(id(1), 0, &data(1, 1500)).unwrap();
    store.put(id(100), 0, &data(100, 1500)).unwrap();
    // Volume 2 on: the tombstone of the victim, next to garbage so that its
    // volume qualifies for compaction while volume 1 does not.
    store.put(id(2), 0, &data(2, 3000)).unwrap();
    store.delete(&id(1)).unwrap();
    store.put(id(3), 0, &data(3, 700)).unwrap();
    store.delete(&id(2)).unwrap();
    let vol_of_victim = 1;

    let report = store.compact(0.5).unwrap();
    assert!(report.tombstones_kept >= 1, "{report:?}");
    assert!(vol_path(dir.path(), vol_of_victim).exists());
    drop(store);
    let store = BlobStore::open(dir.path(), config.clone()).unwrap();
    assert!(matches!(store.get(&id(1)), Err(BlobError::NotFound(_))), "deleted blob resurrected");

    // Once the old put is compacted away, the tombstone may go too.
    store.delete(&id(100)).unwrap();
    store.compact(0.0).unwrap();
    assert!(!vol_path(dir.path(), vol_of_victim).exists());
    store.delete(&id(3)).unwrap();
    let report = store.compact(0.0).unwrap();
    assert!(report.tombstones_dropped >= 1, "{report:?}");
    drop(store);
    let store = BlobStore::open(dir.path(), config).unwrap();
    for n in [1, 2, 3, 100] {
        assert!(matches!(store.get(&id(n)), Err(BlobError::NotFound(_))), "blob {n} resurrected");
    }
}

/// Runs `during` at `point` of the next compaction, from inside it.
fn store_with_hook(
    dir: &Path,
    point: FaultPoint,
    during: impl Fn(&BlobStore) + Send + Sync + 'static,
) -> Arc<BlobStore> {
    let slot: Arc<OnceLock<Weak<BlobStore>>> = Arc::new(OnceLock::new());
    let fired = Arc::new(Mutex::new(false));
    let hook_slot = slot.clone();
    let config = BlobStoreConfig {
        volume_size_limit: 8192,
        fault_hook: Some(Arc::new(move |p| {
            let mut fired = fired.lock().unwrap();
            if p == point
                && !*fired
                && let Some(store) = hook_slot.get().and_then(Weak::upgrade)
            {
                *fired = true;
                during(&store);
            }
        })),
        ..BlobStoreConfig::default()
    };
    let store = Arc::new(BlobStore::open(dir, config).unwrap());
    slot.set(Arc::downgrade(&store)).unwrap();
    store
}

#[test]
fn writes_racing_a_compaction_win_in_memory_and_after_restart() {
    for point in [FaultPoint::CompactionOutputSynced, FaultPoint::CompactionOutputRenamed] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_hook(dir.path(), point, |s| {
            // While the compaction has copied blobs 0 and 1: delete one,
            // replace the other.
            assert!(s.delete(&id(0)).unwrap());
            s.put(id(1), 0, b"replaced during compaction").unwrap();
        });
        for n in 0..40 {
            store.put(id(n), 0, &data(n, 400)).unwrap();
        }
        for n in 2..30 {
            store.delete(&id(n)).unwrap();
        }
        let report = store.compact(0.3).unwrap();
        assert!(report.volumes_compacted > 0, "{report:?}");
        let check = |s: &BlobStore| {
            assert!(matches!(s.get(&id(0)), Err(BlobError::NotFound(_))), "{point:?}: deleted blob visible");
            assert_eq!(s.get(&id(1)).unwrap(), b"replaced during compaction", "{point:?}");
            for n in 30..40 {
                assert_eq!(s.get(&id(n)).unwrap(), data(n, 400));
            }
        };
        check(&store);
        drop(store);
        let store = BlobStore::open(dir.path(), small_volumes()).unwrap();
        check(&store);
        // And once more after compacting everything that is left.
        store.compact(0.0).unwrap();
        drop(store);
        check(&BlobStore::open(dir.path(), small_volumes()).unwrap());
    }
}

#[test]
fn partition_listing_and_digest_depend_only_on_contents() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = BlobStore::open(a_dir.path(), small_volumes()).unwrap();
    let b = BlobStore::open(b_dir.path(), small_volumes()).unwrap();
    for n in 0..30 {
        a.put(id(n), n % 2, &data(n, 300)).unwrap();
    }
    // Same final contents through another history: reverse order, extra
    // blobs deleted, one blob first written with other bytes, compaction.
    for n in (0..30).rev() {
        b.put(id(n), n % 2, &data(n + 1, 300)).unwrap();
        b.put(id(n), n % 2, &data(n, 300)).unwrap();
        b.put(id(1000 + n), n % 2, b"extra").unwrap();
        b.delete(&id(1000 + n)).unwrap();
    }
    b.compact(0.0).unwrap();
    assert_eq!(a.partitions(), vec![0, 1]);
    assert_eq!(b.partitions(), vec![0, 1]);
    for p in 0..2 {
        let blobs = a.partition_blobs(p);
        assert_eq!(blobs.len(), 15);
        assert!(blobs.windows(2).all(|w| w[0].0 < w[1].0), "not sorted by id");
        assert!(blobs.iter().all(|(_, info)| info.partition == p));
        assert_eq!(a.partition_digest(p), b.partition_digest(p));
    }
    b.put(id(4), 0, &data(99, 300)).unwrap();
    assert_ne!(a.partition_digest(0), b.partition_digest(0));
    assert_eq!(a.partition_digest(1), b.partition_digest(1));
    assert_ne!(a.partition_digest(7), a.partition_digest(0));
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap());
    let threads: Vec<_> = (0..16u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let n = t * 1000 + i;
                    store.put(id(n), t, &data(n, 100 + i as usize)).unwrap();
                    assert_eq!(store.get(&id(n)).unwrap(), data(n, 100 + i as usize));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(Arc::into_inner(store).unwrap());
    let store = BlobStore::open(dir.path(), BlobStoreConfig::default()).unwrap();
    assert_eq!(store.stats().blobs, 800);
    let mut seen = BTreeMap::new();
    for t in 0..16u32 {
        for (bid, info) in store.partition_blobs(t) {
            seen.insert(bid, info.len);
        }
    }
    assert_eq!(seen.len(), 800);
}
