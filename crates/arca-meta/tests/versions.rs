//! Versions: the current one, delete markers, the null version among the
//! others, and ListObjectVersions' order and paging.

mod common;

use arca_meta::{
    ListEntry, ListQuery, MetaError, MetaStore, ObjectMeta, ObjectRow, PutCondition, VersionListEntry,
    VersionListQuery, version_of,
};
use arca_types::ObjectId;
use common::*;

fn versioned(bucket: ObjectId, key: &str, micros: u64, size: u64) -> ObjectRow {
    ObjectRow { version: Some(version_of(ts(micros))), ..object(bucket, key, micros, size) }
}

fn marker(bucket: ObjectId, key: &str, micros: u64, null: bool) -> ObjectRow {
    ObjectRow {
        version: (!null).then(|| version_of(ts(micros))),
        meta: ObjectMeta { delete_marker: true, ..ObjectMeta::default() },
        ..object(bucket, key, micros, 0)
    }
}

fn put(store: &MetaStore, row: ObjectRow) {
    assert!(store.put_object(row, PutCondition::Always).unwrap().applied);
}

/// Every (key, version timestamp, is_latest, is a marker) of a listing,
/// read page by page with `page` entries each.
fn all_versions(store: &MetaStore, b: ObjectId, page: usize) -> Vec<(String, u64, bool, bool)> {
    let mut out = Vec::new();
    let mut q = VersionListQuery { max_keys: page, ..Default::default() };
    loop {
        let got = store.list_versions(b, &q).unwrap();
        for e in &got.entries {
            if let VersionListEntry::Version(v) = e {
                out.push((v.key.clone(), v.ts.micros, v.is_latest, v.meta.delete_marker));
            }
        }
        if !got.is_truncated {
            return out;
        }
        q.key_marker = got.next_key_marker;
        q.version_marker = got.next_version_marker;
    }
}

fn current_keys(store: &MetaStore, b: ObjectId) -> Vec<(String, u64)> {
    let page = store.list_objects(b, &ListQuery::default()).unwrap();
    page.entries
        .into_iter()
        .map(|e| match e {
            ListEntry::Object(o) => (o.key, o.ts.micros),
            ListEntry::CommonPrefix(p) => (p, 0),
        })
        .collect()
}

#[test]
fn the_current_version_is_the_newest_live_one_wherever_the_null_one_sits() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    // "a": a null version older than two versions.
    put(&store, object(b, "a", 10, 1));
    put(&store, versioned(b, "a", 20, 2));
    put(&store, versioned(b, "a", 30, 3));
    // "b": versions, then a null version newer than them (Suspended).
    put(&store, versioned(b, "b", 15, 4));
    put(&store, object(b, "b", 40, 5));
    // "c": a version hidden by a delete marker.
    put(&store, versioned(b, "c", 12, 6));
    put(&store, marker(b, "c", 50, false));
    // "d": a null delete marker over a version.
    put(&store, versioned(b, "d", 13, 7));
    put(&store, marker(b, "d", 60, true));

    assert_eq!(store.get_current(b, "a").unwrap().unwrap().ts, ts(30));
    assert_eq!(store.get_current(b, "b").unwrap().unwrap().ts, ts(40));
    assert!(store.get_current(b, "c").unwrap().unwrap().meta.delete_marker);
    assert!(store.get_current(b, "d").unwrap().unwrap().meta.delete_marker);
    assert_eq!(store.get_version(b, "a", None).unwrap().unwrap().ts, ts(10));
    assert_eq!(store.get_version(b, "a", Some(version_of(ts(20)))).unwrap().unwrap().meta.size, 2);
    assert!(store.get_version(b, "a", Some(version_of(ts(21)))).unwrap().is_none());
    assert_eq!(current_keys(&store, b), vec![("a".into(), 30), ("b".into(), 40)]);

    let want = vec![
        ("a".to_owned(), 30, true, false),
        ("a".into(), 20, false, false),
        ("a".into(), 10, false, false),
        ("b".into(), 40, true, false),
        ("b".into(), 15, false, false),
        ("c".into(), 50, true, true),
        ("c".into(), 12, false, false),
        ("d".into(), 60, true, true),
        ("d".into(), 13, false, false),
    ];
    // Every page size gives the same listing: the held-back null version
    // and the resume inside a key's versions both work at page edges.
    for page in [1, 2, 3, 1000] {
        assert_eq!(all_versions(&store, b, page), want, "pages of {page}");
    }
    // Nine versions, markers included, keep the bucket from being empty.
    assert_eq!(store.bucket_stats(b).unwrap().objects, 9);
}

#[test]
fn deleting_versions_reveals_older_ones_and_frees_nothing_twice() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    put(&store, versioned(b, "k", 10, 100));
    put(&store, versioned(b, "k", 20, 200));
    put(&store, marker(b, "k", 30, false));
    assert!(current_keys(&store, b).is_empty());

    // Removing the marker makes the previous version current again.
    let removed = store.delete_version(b, "k", Some(version_of(ts(30))), ts(31)).unwrap().unwrap();
    assert!(removed.meta.delete_marker);
    assert_eq!(current_keys(&store, b), vec![("k".into(), 20)]);
    let removed = store.delete_version(b, "k", Some(version_of(ts(20))), ts(32)).unwrap().unwrap();
    assert_eq!(removed.meta.size, 200);
    assert_eq!(store.get_current(b, "k").unwrap().unwrap().ts, ts(10));
    // A second delete of the same version finds nothing.
    assert!(store.delete_version(b, "k", Some(version_of(ts(20))), ts(33)).unwrap().is_none());
    let stats = store.bucket_stats(b).unwrap();
    assert_eq!((stats.objects, stats.bytes), (1, 100));

    // A conditional write checks the current version, not the null slot.
    let cond = store.put_object(versioned(b, "k", 40, 1), PutCondition::IfAbsent);
    assert!(matches!(cond, Err(MetaError::PreconditionFailed)));
    put(&store, marker(b, "k", 50, false));
    assert!(store.put_object(versioned(b, "k", 60, 1), PutCondition::IfAbsent).unwrap().applied);
}

#[test]
fn a_version_id_must_be_made_from_its_timestamp() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let row = ObjectRow { version: Some(version_of(ts(99))), ..object(b, "k", 10, 1) };
    assert!(matches!(store.put_object(row, PutCondition::Always), Err(MetaError::Invalid(_))));
}

#[test]
fn versions_roll_up_under_a_delimiter() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    for (i, key) in ["dir/a", "dir/b", "top"].iter().enumerate() {
        put(&store, versioned(b, key, 10 + i as u64, 1));
        put(&store, versioned(b, key, 20 + i as u64, 1));
    }
    let q = VersionListQuery { delimiter: Some("/".into()), ..Default::default() };
    let page = store.list_versions(b, &q).unwrap();
    let shown: Vec<String> = page
        .entries
        .iter()
        .map(|e| match e {
            VersionListEntry::Version(v) => format!("{}@{}", v.key, v.ts.micros),
            VersionListEntry::CommonPrefix(p) => p.clone(),
        })
        .collect();
    assert_eq!(shown, vec!["dir/", "top@22", "top@12"]);
}
