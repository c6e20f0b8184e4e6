//! Object rows: conditions, last writer wins, tombstones, counters, events.

mod common;

use arca_meta::{EventKind, MetaError, PutCondition, PutOutcome};
use arca_types::ObjectId;
use common::*;

#[test]
fn put_get_overwrite_delete_keep_counters_and_events() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let first = store.put_object(object(b, "a", 10, 100), PutCondition::Always).unwrap();
    assert!(first.applied && first.replaced.is_none());
    assert_eq!(store.get_object(b, "a").unwrap().unwrap().meta.size, 100);

    let second = store.put_object(object(b, "a", 20, 30), PutCondition::Always).unwrap();
    assert_eq!(second.replaced.unwrap().ts, ts(10));
    let stats = store.bucket_stats(b).unwrap();
    assert_eq!((stats.objects, stats.bytes), (1, 30));

    let gone = store.delete_object(b, "a", ts(30)).unwrap().unwrap();
    assert_eq!(gone.ts, ts(20));
    assert!(store.get_object(b, "a").unwrap().is_none());
    let stats = store.bucket_stats(b).unwrap();
    assert_eq!((stats.objects, stats.bytes), (0, 0));

    let events = store.events_after(0, 100).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.seq, e.kind, e.ts)).collect();
    assert_eq!(
        kinds,
        vec![
            (1, EventKind::ObjectCreated, ts(10)),
            (2, EventKind::ObjectCreated, ts(20)),
            (3, EventKind::ObjectRemoved, ts(30))
        ]
    );
    assert_eq!(store.events_after(2, 100).unwrap().len(), 1);
}

#[test]
fn older_writes_lose_to_newer_rows_and_tombstones() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    store.put_object(object(b, "k", 50, 5), PutCondition::Always).unwrap();
    let stale = store.put_object(object(b, "k", 40, 9), PutCondition::Always).unwrap();
    assert!(!stale.applied);
    assert_eq!(store.get_object(b, "k").unwrap().unwrap().ts, ts(50));
    assert!(store.delete_object(b, "k", ts(45)).unwrap().is_none());
    assert!(store.get_object(b, "k").unwrap().is_some());
    store.delete_object(b, "k", ts(60)).unwrap();
    assert!(!store.put_object(object(b, "k", 55, 1), PutCondition::Always).unwrap().applied);
    assert!(store.get_object(b, "k").unwrap().is_none());
    assert_eq!(store.bucket_stats(b).unwrap().objects, 0);
}

#[test]
fn conditions_are_checked_against_the_live_row() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    store.put_object(object(b, "k", 1, 1), PutCondition::IfAbsent).unwrap();
    assert!(matches!(
        store.put_object(object(b, "k", 2, 1), PutCondition::IfAbsent),
        Err(MetaError::PreconditionFailed)
    ));
    let wrong = PutCondition::IfEtag("\"nope\"".into());
    assert!(matches!(store.put_object(object(b, "k", 3, 1), wrong), Err(MetaError::PreconditionFailed)));
    let right = PutCondition::IfEtag("etag-1".into());
    assert!(store.put_object(object(b, "k", 4, 1), right).unwrap().applied);
    store.delete_object(b, "k", ts(5)).unwrap();
    assert!(matches!(
        store.put_object(object(b, "k", 6, 1), PutCondition::IfEtag("*".into())),
        Err(MetaError::PreconditionFailed)
    ));
    assert!(store.put_object(object(b, "k", 7, 1), PutCondition::IfAbsent).unwrap().applied);
}

#[test]
fn bad_rows_are_refused_not_stored() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    assert!(matches!(
        store.put_object(object(b, "a\0b", 1, 1), PutCondition::Always),
        Err(MetaError::Invalid(_))
    ));
    let mut versioned = object(b, "v", 1, 1);
    versioned.version = Some(ObjectId::random());
    assert!(matches!(store.put_object(versioned, PutCondition::Always), Err(MetaError::Invalid(_))));
    assert_eq!(store.events_after(0, 10).unwrap(), vec![]);
}

#[test]
fn bulk_puts_see_each_other_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let b = ObjectId::random();
    {
        let store = arca_meta::MetaStore::open(dir.path(), Default::default()).unwrap();
        let rows = vec![object(b, "x", 1, 10), object(b, "y", 2, 20), object(b, "x", 3, 5)];
        let outcomes = store.put_objects(rows).unwrap();
        assert!(outcomes.iter().all(|o| o.applied));
        assert_eq!(outcomes[2].replaced.as_ref().unwrap().ts, ts(1));
    }
    let store = arca_meta::MetaStore::open(dir.path(), Default::default()).unwrap();
    let stats = store.bucket_stats(b).unwrap();
    assert_eq!((stats.objects, stats.bytes), (2, 25));
    assert_eq!(store.get_object(b, "x").unwrap().unwrap().ts, ts(3));
    // Sequence numbers continue after a restart.
    store.delete_object(b, "y", ts(4)).unwrap();
    let seqs: Vec<u64> = store.events_after(0, 10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

#[test]
fn async_puts_are_queued_at_the_call_and_answered_when_durable() {
    use futures::executor::block_on;
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let puts: Vec<_> = (0..50u64)
        .map(|i| store.put_object_async(object(b, &format!("k{i:02}"), 10 + i, 1), PutCondition::Always))
        .collect();
    let outcomes = block_on(futures::future::join_all(puts));
    assert!(outcomes.iter().all(|o| matches!(o, Ok(PutOutcome { applied: true, replaced: None }))));
    assert_eq!(store.bucket_stats(b).unwrap().objects, 50);

    let refused = block_on(store.put_object_async(object(b, "k00", 100, 1), PutCondition::IfAbsent));
    assert!(matches!(refused, Err(MetaError::PreconditionFailed)), "{refused:?}");
    let invalid = block_on(store.put_object_async(object(b, "nul\0", 101, 1), PutCondition::Always));
    assert!(matches!(invalid, Err(MetaError::Invalid(_))), "{invalid:?}");

    // A dropped future does not cancel its put: the writer runs jobs in
    // order, so once a later put is answered the dropped one is stored.
    drop(store.put_object_async(object(b, "dropped", 102, 1), PutCondition::Always));
    store.put_object(object(b, "after", 103, 1), PutCondition::Always).unwrap();
    assert!(store.get_object(b, "dropped").unwrap().is_some());
}
