//! Multipart uploads: parts only on live uploads, completion checks the
//! manifest, closing is atomic and counted, listing follows S3's markers.

mod common;

use arca_meta::{
    EventKind, MetaError, MetaStore, ObjectBody, PartRow, PutCondition, UploadListQuery, UploadRow,
};
use arca_types::ObjectId;
use common::*;

fn put_part(store: &MetaStore, up: &UploadRow, p: &PartRow) -> Result<Option<PartRow>, MetaError> {
    store.put_part(up.bucket, &up.key, p.clone())
}

#[test]
fn complete_writes_the_object_closes_the_upload_and_returns_unused_parts() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let up = upload(b, "big", 10);
    store.create_upload(up.clone()).unwrap();
    assert_eq!(store.bucket_stats(b).unwrap().uploads, 1);
    let p1 = part(up.upload_id, 1, 11);
    let p2 = part(up.upload_id, 2, 12);
    let p3 = part(up.upload_id, 3, 13);
    for p in [&p1, &p2, &p3] {
        assert!(put_part(&store, &up, p).unwrap().is_none());
    }
    // Uploading part 2 again replaces it; the old one is returned.
    let p2b = part(up.upload_id, 2, 14);
    assert_eq!(put_part(&store, &up, &p2b).unwrap(), Some(p2.clone()));
    let (listed, truncated) = store.list_parts(up.upload_id, 0, 2).unwrap();
    assert_eq!(listed.iter().map(|p| p.part_number).collect::<Vec<_>>(), vec![1, 2]);
    assert!(truncated);
    let (listed, truncated) = store.list_parts(up.upload_id, 2, 10).unwrap();
    assert_eq!((listed.len(), truncated), (1, false));

    // The replaced part 2 is not a valid part any more.
    let bad = completed(b, "big", 20, &[&p1, &p2]);
    assert!(matches!(store.complete_upload(b, "big", up.upload_id, bad), Err(MetaError::InvalidPart(2))));
    assert!(
        store.get_upload(b, "big", up.upload_id).unwrap().is_some(),
        "a failed completion changes nothing"
    );

    let good = completed(b, "big", 21, &[&p1, &p2b]);
    let outcome = store.complete_upload(b, "big", up.upload_id, good.clone()).unwrap();
    assert!(outcome.applied && outcome.replaced.is_none());
    assert_eq!(outcome.unused_parts, vec![p3]);
    assert_eq!(store.get_object(b, "big").unwrap(), Some(good.clone()));
    assert!(store.get_upload(b, "big", up.upload_id).unwrap().is_none());
    assert_eq!(store.list_parts(up.upload_id, 0, 100).unwrap(), (vec![], false));
    let stats = store.bucket_stats(b).unwrap();
    assert_eq!((stats.objects, stats.bytes, stats.uploads), (1, 10 << 20, 0));

    // Closed: neither a second completion, an abort nor a part is accepted.
    assert!(matches!(store.complete_upload(b, "big", up.upload_id, good), Err(MetaError::NoSuchUpload)));
    assert!(matches!(store.abort_upload(b, "big", up.upload_id, ts(30)), Err(MetaError::NoSuchUpload)));
    assert!(matches!(put_part(&store, &up, &part(up.upload_id, 4, 31)), Err(MetaError::NoSuchUpload)));

    let kinds: Vec<EventKind> = store.events_after(0, 10).unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::UploadCreated, EventKind::UploadCompleted]);
}

#[test]
fn completing_under_a_newer_object_frees_every_part() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let up = upload(b, "k", 10);
    store.create_upload(up.clone()).unwrap();
    let p1 = part(up.upload_id, 1, 11);
    put_part(&store, &up, &p1).unwrap();
    store.put_object(object(b, "k", 50, 3), PutCondition::Always).unwrap();
    let outcome = store.complete_upload(b, "k", up.upload_id, completed(b, "k", 40, &[&p1])).unwrap();
    assert!(!outcome.applied);
    assert_eq!(outcome.unused_parts, vec![p1]);
    assert_eq!(store.get_object(b, "k").unwrap().unwrap().ts, ts(50));
    assert_eq!(store.bucket_stats(b).unwrap().uploads, 0);
}

#[test]
fn abort_returns_parts_and_a_bucket_with_uploads_is_not_empty() {
    let (_dir, store) = open_temp();
    let bucket = bucket_row("mp", 1);
    store.create_bucket(bucket.clone()).unwrap();
    let b = bucket.id;
    let up = upload(b, "k", 10);
    assert!(matches!(put_part(&store, &up, &part(up.upload_id, 1, 11)), Err(MetaError::NoSuchUpload)));
    store.create_upload(up.clone()).unwrap();
    let p1 = part(up.upload_id, 1, 11);
    put_part(&store, &up, &p1).unwrap();
    assert!(matches!(store.delete_bucket("mp", ts(12)), Err(MetaError::BucketNotEmpty)));
    assert_eq!(store.abort_upload(b, "k", up.upload_id, ts(13)).unwrap(), vec![p1]);
    assert_eq!(store.list_parts(up.upload_id, 0, 10).unwrap(), (vec![], false));
    assert_eq!(store.bucket_stats(b).unwrap().uploads, 0);
    store.delete_bucket("mp", ts(14)).unwrap();
    let last = store.events_after(0, 10).unwrap();
    let kinds: Vec<EventKind> = last.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::BucketCreated,
            EventKind::UploadCreated,
            EventKind::UploadAborted,
            EventKind::BucketRemoved
        ]
    );
    assert!(last.iter().all(|e| e.bucket == "mp" && e.bucket_id == b));
}

#[test]
fn upload_listing_follows_key_and_upload_id_markers() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let rows = [
        upload(b, "a", 3),
        upload(b, "a", 1),
        upload(b, "a", 2),
        upload(b, "dir/x", 4),
        upload(b, "dir/y", 5),
        upload(b, "z", 6),
    ];
    for r in &rows {
        store.create_upload(r.clone()).unwrap();
    }
    store.abort_upload(b, "z", rows[5].upload_id, ts(7)).unwrap();
    let ids = |page: &arca_meta::UploadListPage| {
        page.uploads.iter().map(|u| u.initiated.micros).collect::<Vec<_>>()
    };

    let all = store.list_uploads(b, &UploadListQuery::default()).unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5], "by key, then initiation; aborted ones gone");
    assert!(!all.is_truncated);

    let q = UploadListQuery { max_uploads: 2, ..Default::default() };
    let first = store.list_uploads(b, &q).unwrap();
    assert_eq!(ids(&first), vec![1, 2]);
    assert!(first.is_truncated);
    assert_eq!(first.next_key_marker.as_deref(), Some("a"));
    assert_eq!(first.next_upload_id_marker, Some(rows[2].upload_id));
    let q = UploadListQuery {
        key_marker: first.next_key_marker.clone(),
        upload_id_marker: first.next_upload_id_marker,
        max_uploads: 2,
        ..Default::default()
    };
    assert_eq!(ids(&store.list_uploads(b, &q).unwrap()), vec![3, 4]);

    // A key marker alone skips every upload of that key.
    let q = UploadListQuery { key_marker: Some("a".into()), ..Default::default() };
    assert_eq!(ids(&store.list_uploads(b, &q).unwrap()), vec![4, 5]);

    // With a delimiter, dir/ rolls up and counts once.
    let q = UploadListQuery { delimiter: Some("/".into()), max_uploads: 4, ..Default::default() };
    let page = store.list_uploads(b, &q).unwrap();
    assert_eq!(ids(&page), vec![1, 2, 3]);
    assert_eq!(page.common_prefixes, vec!["dir/".to_owned()]);
    assert!(!page.is_truncated);
    let q = UploadListQuery { delimiter: Some("/".into()), max_uploads: 3, ..Default::default() };
    let page = store.list_uploads(b, &q).unwrap();
    assert!(page.is_truncated && page.common_prefixes.is_empty());
    let q = UploadListQuery {
        delimiter: Some("/".into()),
        key_marker: Some("dir/".into()),
        ..Default::default()
    };
    let page = store.list_uploads(b, &q).unwrap();
    assert!(page.uploads.is_empty() && page.common_prefixes.is_empty() && !page.is_truncated);
}

#[test]
fn referenced_bodies_follow_parts_into_their_object() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let up = upload(b, "big", 10);
    store.create_upload(up.clone()).unwrap();
    let p1 = part(up.upload_id, 1, 11);
    let p2 = part(up.upload_id, 2, 12);
    for p in [&p1, &p2] {
        put_part(&store, &up, p).unwrap();
    }
    // An inline object refers to no body; a striped one to its part's.
    store.put_object(object(b, "small", 13, 10), PutCondition::Always).unwrap();
    let single = completed(b, "single", 14, &[&part(ObjectId::random(), 1, 14)]);
    let single_body = match &single.body {
        ObjectBody::Striped(m) => m.parts[0].body,
        ObjectBody::Inline(_) => unreachable!("completed() builds a striped row"),
    };
    store.put_object(single, PutCondition::Always).unwrap();
    let expected: std::collections::HashSet<ObjectId> = [p1.body, p2.body, single_body].into();
    assert_eq!(store.referenced_bodies().unwrap(), expected);

    // Completing with part 1 only: part 2's body is referenced by nothing.
    store.complete_upload(b, "big", up.upload_id, completed(b, "big", 20, &[&p1])).unwrap();
    assert_eq!(store.referenced_bodies().unwrap(), [p1.body, single_body].into());
    // Deleting the object drops its body too.
    store.delete_object(b, "big", ts(30)).unwrap();
    assert_eq!(store.referenced_bodies().unwrap(), [single_body].into());
}
