//! Index upkeep: old tombstones are reclaimed (and stop ordering older
//! writes), newer ones and live rows stay; the event log is trimmed by age
//! and its sequence numbers continue across a restart.

mod common;

use arca_meta::{MetaConfig, MetaError, MetaStore, PutCondition, Reclaimed, UploadRow};
use arca_types::ObjectId;
use common::*;

#[test]
fn tombstones_older_than_the_cutoff_are_reclaimed_and_nothing_else() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let key = |i: u64| format!("k{i:05}");
    let rows: Vec<_> = (0..2500).map(|i| object(b, &key(i), 10 + i, 3)).collect();
    store.put_objects(rows).unwrap();
    // 1500 deletes at ts 10,000.. 11,499: the first 1200 fall before the
    // cutoff (more than one removal batch).
    for i in 0..1500 {
        store.delete_object(b, &key(i), ts(10_000 + i)).unwrap();
    }
    let cutoff = ts(11_200);
    assert_eq!(store.reclaim_tombstones(cutoff).unwrap(), Reclaimed { objects: 1200, uploads: 0 });
    assert_eq!(store.reclaim_tombstones(cutoff).unwrap(), Reclaimed::default());

    // Live rows and counters are untouched.
    assert_eq!(store.bucket_stats(b).unwrap().objects, 1000);
    assert!(store.get_object(b, &key(2000)).unwrap().is_some());
    // A put older than a reclaimed delete is no longer refused by last
    // writer wins; one older than a kept tombstone still is.
    let late = store.put_object(object(b, &key(5), 50, 1), PutCondition::Always).unwrap();
    assert!(late.applied);
    let late = store.put_object(object(b, &key(1300), 50, 1), PutCondition::Always).unwrap();
    assert!(!late.applied);
}

#[test]
fn closed_uploads_are_reclaimed() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let upload = |micros| UploadRow {
        bucket: b,
        key: "k".into(),
        upload_id: ObjectId([9; 16]),
        initiated: ts(10),
        meta: Default::default(),
        ts: ts(micros),
        deleted: false,
    };
    store.create_upload(upload(10)).unwrap();
    let live = ObjectId([8; 16]);
    store.create_upload(UploadRow { upload_id: live, ..upload(11) }).unwrap();
    store.abort_upload(b, "k", ObjectId([9; 16]), ts(20)).unwrap();
    // The tombstone orders a late create of the same upload...
    assert!(matches!(store.create_upload(upload(15)), Err(MetaError::Stale { .. })));
    assert_eq!(store.reclaim_tombstones(ts(30)).unwrap(), Reclaimed { objects: 0, uploads: 1 });
    // ... until it is reclaimed; the live upload stays.
    assert!(store.get_upload(b, "k", live).unwrap().is_some());
    store.create_upload(upload(15)).unwrap();
}

#[test]
fn events_are_trimmed_by_age_and_numbers_continue_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || MetaStore::open(dir.path(), MetaConfig { sync: false, ..Default::default() }).unwrap();
    let store = open();
    let b = ObjectId::random();
    for i in 0..2100 {
        store.put_object(object(b, &format!("k{i}"), 10 + i, 1), PutCondition::Always).unwrap();
    }
    let seqs = |store: &MetaStore| -> Vec<u64> {
        store.events_after(0, usize::MAX).unwrap().iter().map(|e| e.seq).collect()
    };
    // Events at ts 10..2110; those before 1510 go (more than one batch).
    assert_eq!(store.trim_events(ts(1510)).unwrap(), 1500);
    assert_eq!(seqs(&store), (1501..=2100).collect::<Vec<_>>());
    // Everything is old now, but the newest event stays.
    assert_eq!(store.trim_events(ts(1_000_000)).unwrap(), 599);
    assert_eq!(seqs(&store), [2100]);
    drop(store);

    let store = open();
    store.put_object(object(b, "after", 5000, 1), PutCondition::Always).unwrap();
    assert_eq!(seqs(&store), [2100, 2101]);
}
