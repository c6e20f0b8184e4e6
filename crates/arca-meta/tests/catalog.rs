//! The catalog: bucket names are unique among live buckets, deletes need an
//! empty bucket, stale writes are refused, keys keep no secret once deleted.

mod common;

use arca_meta::{KeyRow, MetaError, PutCondition};
use common::*;

#[test]
fn buckets_are_created_once_listed_by_name_and_deleted_when_empty() {
    let (_dir, store) = open_temp();
    let photos = bucket_row("photos", 10);
    store.create_bucket(photos.clone()).unwrap();
    store.create_bucket(bucket_row("archive", 11)).unwrap();
    match store.create_bucket(bucket_row("photos", 12)) {
        Err(MetaError::BucketExists(existing)) => assert_eq!(*existing, photos),
        other => panic!("expected BucketExists, got {other:?}"),
    }
    let names: Vec<String> = store.list_buckets().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["archive", "photos"]);

    store.put_object(object(photos.id, "k", 13, 1), PutCondition::Always).unwrap();
    assert!(matches!(store.delete_bucket("photos", ts(14)), Err(MetaError::BucketNotEmpty)));
    store.delete_object(photos.id, "k", ts(15)).unwrap();
    assert_eq!(store.delete_bucket("photos", ts(16)).unwrap(), photos);
    assert!(store.get_bucket("photos").unwrap().is_none());
    assert!(matches!(store.delete_bucket("photos", ts(17)), Err(MetaError::NoSuchBucket)));

    // The name is free again; a new bucket gets a new id and sees nothing of the old one.
    let again = bucket_row("photos", 18);
    store.create_bucket(again.clone()).unwrap();
    assert_ne!(again.id, photos.id);
    assert_eq!(store.bucket_stats(again.id).unwrap(), Default::default());
}

#[test]
fn updates_need_a_live_bucket_and_a_newer_timestamp() {
    let (_dir, store) = open_temp();
    let row = bucket_row("b", 10);
    assert!(matches!(store.update_bucket(row.clone()), Err(MetaError::NoSuchBucket)));
    store.create_bucket(row.clone()).unwrap();
    let granted = arca_meta::BucketRow { grants: vec!["AKOTHER".into()], ts: ts(20), ..row.clone() };
    store.update_bucket(granted.clone()).unwrap();
    assert_eq!(store.get_bucket("b").unwrap(), Some(granted));
    let stale = arca_meta::BucketRow { grants: vec![], ts: ts(15), ..row.clone() };
    assert!(matches!(store.update_bucket(stale), Err(MetaError::Stale { stored }) if stored == ts(20)));
    let other_id = arca_meta::BucketRow { id: arca_types::ObjectId::random(), ts: ts(30), ..row };
    assert!(matches!(store.update_bucket(other_id), Err(MetaError::NoSuchBucket)));
    assert!(matches!(store.delete_bucket("b", ts(19)), Err(MetaError::Stale { .. })));
}

#[test]
fn access_keys_put_list_delete() {
    let (_dir, store) = open_temp();
    let key = |id: &str, micros| KeyRow {
        access_key: id.into(),
        secret_key: format!("secret-{id}"),
        name: id.to_lowercase(),
        is_root: false,
        created: ts(micros),
        ts: ts(micros),
        deleted: false,
    };
    store.put_key(key("AKB", 1)).unwrap();
    store.put_key(key("AKA", 2)).unwrap();
    assert!(matches!(store.put_key(key("AKA", 2)), Err(MetaError::Stale { .. })));
    let ids: Vec<String> = store.list_keys().unwrap().into_iter().map(|k| k.access_key).collect();
    assert_eq!(ids, ["AKA", "AKB"]);
    assert!(store.delete_key("AKA", ts(3)).unwrap());
    assert!(!store.delete_key("AKA", ts(4)).unwrap());
    assert!(store.get_key("AKA").unwrap().is_none());
    assert_eq!(store.get_key("AKB").unwrap().unwrap().secret_key, "secret-AKB");
    assert!(store.get_key("").unwrap().is_none());
    // Key writes are not events (the log must not carry secrets).
    assert!(store.events_after(0, 10).unwrap().is_empty());
}

#[test]
fn no_row_lands_in_a_deleted_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let open = || arca_meta::MetaStore::open(dir.path(), Default::default()).unwrap();
    let store = open();
    let gone = bucket_row("gone", 10);
    let photos = bucket_row("photos", 10);
    for row in [&gone, &photos] {
        store.create_bucket(row.clone()).unwrap();
        store.delete_bucket(&row.name, ts(11)).unwrap();
    }
    let upload = |bucket, micros| arca_meta::UploadRow {
        bucket,
        key: "k".into(),
        upload_id: arca_types::ObjectId::random(),
        initiated: ts(micros),
        meta: Default::default(),
        ts: ts(micros),
        deleted: false,
    };
    let refused = |store: &arca_meta::MetaStore, bucket, micros| {
        // A gateway that checked the bucket before DeleteBucket committed
        // still cannot leave an object or an upload behind in it.
        let put = store.put_object(object(bucket, "k", micros, 1), PutCondition::Always);
        assert!(matches!(put, Err(MetaError::NoSuchBucket)), "{put:?}");
        let created = store.create_upload(upload(bucket, micros));
        assert!(matches!(created, Err(MetaError::NoSuchBucket)), "{created:?}");
    };
    refused(&store, gone.id, 12);
    refused(&store, photos.id, 12);

    // Its name taken by a new bucket, the old id stays dead; the new one works.
    let again = bucket_row("photos", 13);
    store.create_bucket(again.clone()).unwrap();
    refused(&store, photos.id, 14);
    store.put_object(object(again.id, "k", 15, 1), PutCondition::Always).unwrap();
    drop(store);

    // A tombstone is remembered across a restart.
    let store = open();
    refused(&store, gone.id, 16);
    assert_eq!(store.bucket_stats(gone.id).unwrap(), Default::default());
    assert_eq!(store.bucket_stats(photos.id).unwrap(), Default::default());
    assert_eq!(store.bucket_stats(again.id).unwrap().objects, 1);
    // A bucket the index has never seen passes: a replica may learn of an
    // object before its bucket.
    let unseen = arca_types::ObjectId::random();
    store.put_object(object(unseen, "k", 17, 1), PutCondition::Always).unwrap();
}

#[test]
fn the_latest_timestamp_covers_catalog_rows_and_object_writes() {
    let dir = tempfile::tempdir().unwrap();
    let open = || arca_meta::MetaStore::open(dir.path(), Default::default()).unwrap();
    let store = open();
    assert_eq!(store.latest_timestamp().unwrap(), None);
    let bucket = bucket_row("b", 10);
    store.create_bucket(bucket.clone()).unwrap();
    assert_eq!(store.latest_timestamp().unwrap(), Some(ts(10)));
    store.put_object(object(bucket.id, "k", 30, 1), PutCondition::Always).unwrap();
    store.delete_object(bucket.id, "k", ts(40)).unwrap();
    assert_eq!(store.latest_timestamp().unwrap(), Some(ts(40)));
    // Object writes stand in the event log; key rows do not, and count too.
    let key = KeyRow {
        access_key: "AK".into(),
        secret_key: "s".into(),
        name: "n".into(),
        is_root: false,
        created: ts(50),
        ts: ts(50),
        deleted: false,
    };
    store.put_key(key).unwrap();
    drop(store);
    assert_eq!(open().latest_timestamp().unwrap(), Some(ts(50)));
}
