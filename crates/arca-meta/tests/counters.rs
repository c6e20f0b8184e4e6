//! Counters and the event log stay equal to the rows: after random
//! sequences of puts, overwrites and deletes (stale ones included), and
//! under many concurrent writers sharing group commits.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arca_meta::{EventKind, ListEntry, ListQuery, MetaStore, PutCondition};
use arca_types::ObjectId;
use common::*;
use proptest::prelude::*;

/// Live objects and bytes of a bucket, counted from a full listing.
fn recount(store: &MetaStore, bucket: ObjectId) -> (u64, u64) {
    let q = ListQuery { max_keys: usize::MAX, ..Default::default() };
    let page = store.list_objects(bucket, &q).unwrap();
    page.entries.iter().fold((0, 0), |(n, bytes), e| match e {
        ListEntry::Object(o) => (n + 1, bytes + o.meta.size),
        ListEntry::CommonPrefix(_) => unreachable!("no delimiter"),
    })
}

#[derive(Debug, Clone)]
enum Op {
    Put { bucket: usize, key: u8, micros: u64, size: u64 },
    Delete { bucket: usize, key: u8, micros: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..2, 0u8..6, 1u64..200, 0u64..1000).prop_map(|(bucket, key, micros, size)| Op::Put { bucket, key, micros, size }),
        1 => (0usize..2, 0u8..6, 1u64..200).prop_map(|(bucket, key, micros)| Op::Delete { bucket, key, micros }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn counters_equal_the_live_rows(ops in proptest::collection::vec(op(), 0..40)) {
        let store = shared();
        let buckets = [ObjectId::random(), ObjectId::random()];
        // The model: last writer wins per key; (ts, Some(size)) or (ts, None) for a tombstone.
        let mut model: BTreeMap<(usize, u8), (u64, Option<u64>)> = BTreeMap::new();
        let mut applied = 0;
        for op in &ops {
            let (slot, micros, new) = match *op {
                Op::Put { bucket, key, micros, size } => ((bucket, key), micros, Some(size)),
                Op::Delete { bucket, key, micros } => ((bucket, key), micros, None),
            };
            let wins = model.get(&slot).is_none_or(|&(t, _)| t < micros);
            let b = buckets[slot.0];
            let k = format!("k{}", slot.1);
            let did = match new {
                Some(size) => store.put_object(object(b, &k, micros, size), PutCondition::Always).unwrap().applied,
                None => {
                    let before = store.get_object(b, &k).unwrap();
                    let deleted = store.delete_object(b, &k, ts(micros)).unwrap();
                    if wins { prop_assert_eq!(deleted, before); } else { prop_assert!(deleted.is_none()); }
                    wins
                }
            };
            prop_assert_eq!(did, wins);
            if wins {
                model.insert(slot, (micros, new));
                applied += 1;
            }
        }
        for (i, &b) in buckets.iter().enumerate() {
            let live: Vec<u64> = model.iter().filter(|((bi, _), _)| *bi == i).filter_map(|(_, (_, s))| *s).collect();
            let stats = store.bucket_stats(b).unwrap();
            prop_assert_eq!((stats.objects, stats.bytes), (live.len() as u64, live.iter().sum::<u64>()));
            prop_assert_eq!(recount(store, b), (stats.objects, stats.bytes));
        }
        // One event per applied write, and none for a write that lost.
        let events = store.events_after(0, usize::MAX).unwrap();
        prop_assert_eq!(events.iter().filter(|e| buckets.contains(&e.bucket_id)).count(), applied);
    }
}

#[test]
fn concurrent_writers_share_commits_without_losing_counts_or_events() {
    let dir = tempfile::tempdir().unwrap();
    // Durable commits, so groups actually form while one syncs.
    let store = Arc::new(MetaStore::open(dir.path(), Default::default()).unwrap());
    let bucket = ObjectId::random();
    let clock = Arc::new(arca_types::Clock::new(1));
    // Counts of writes known to have been applied: a put says so; a delete
    // that removed a live row certainly was.
    let applied_puts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let live_deletes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (store, clock) = (store.clone(), clock.clone());
            let (applied_puts, live_deletes) = (applied_puts.clone(), live_deletes.clone());
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    // Threads share keys, so overwrites race each other: a
                    // write can reach the store after a newer one of the same
                    // key and lose (last writer wins), writing no event.
                    let key = format!("k{}", (t * 7 + i) % 25);
                    let mut row = object(bucket, &key, 0, t * 1000 + i);
                    row.ts = clock.now();
                    if store.put_object(row, PutCondition::Always).unwrap().applied {
                        applied_puts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if i % 5 == 4 && store.delete_object(bucket, &key, clock.now()).unwrap().is_some() {
                        live_deletes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let applied_puts = applied_puts.load(std::sync::atomic::Ordering::Relaxed);
    let live_deletes = live_deletes.load(std::sync::atomic::Ordering::Relaxed);
    let stats = store.bucket_stats(bucket).unwrap();
    assert_eq!(recount(&store, bucket), (stats.objects, stats.bytes));
    let events = store.events_after(0, usize::MAX).unwrap();
    let created = events.iter().filter(|e| e.kind == EventKind::ObjectCreated).count();
    let removed = events.iter().filter(|e| e.kind == EventKind::ObjectRemoved).count();
    assert_eq!(created, applied_puts, "one creation event per applied put");
    assert!((live_deletes..=16 * 8).contains(&removed), "{removed} removals for {live_deletes} live deletes");
    let seqs: HashSet<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), events.len());
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    // The events replayed in order rebuild the stored state.
    let mut state: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for e in &events {
        let size = (e.kind == EventKind::ObjectCreated).then_some(e.size);
        state.insert(e.key.clone(), size);
    }
    for (key, size) in state {
        assert_eq!(store.get_object(bucket, &key).unwrap().map(|r| r.meta.size), size, "{key}");
    }
}
