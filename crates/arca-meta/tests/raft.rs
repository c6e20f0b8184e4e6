//! Storage for Raft groups: the log, applies in log order with their
//! marker, and snapshots that carry a range or the catalog to another node.

mod common;

use arca_meta::raft::{
    ApplyItem, CatalogCommand, CatalogOutcome, GroupState, IndexCommand, IndexOutcome, RaftMeta,
};
use arca_meta::ranges::{KeyRange, Split};
use arca_meta::{KeyRow, ListQuery, MetaConfig, MetaError, MetaStore, PutCondition, UploadListQuery};
use arca_types::ObjectId;
use common::{bucket_row, completed, object, open_temp, part, ts, upload};
use futures::executor::block_on;

const GROUP: u64 = 42;

fn apply(
    store: &MetaStore,
    commands: Vec<IndexCommand>,
    applied: u8,
) -> Vec<Result<IndexOutcome, MetaError>> {
    let items = commands.into_iter().map(ApplyItem::Command).collect();
    block_on(store.apply_index(GROUP, items, vec![applied]))
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn the_log_appends_truncates_and_purges() {
    let (_dir, store) = open_temp();
    let entries: Vec<(u64, Vec<u8>)> = (0..10).map(|i| (i, vec![i as u8; 3])).collect();
    block_on(store.raft_append(GROUP, entries)).unwrap();
    block_on(store.raft_append(GROUP + 1, vec![(0, b"other".to_vec())])).unwrap();
    assert_eq!(store.raft_entries(GROUP, 3, 6).unwrap().iter().map(|e| e.0).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(store.raft_last_entry(GROUP).unwrap().unwrap().0, 9);
    block_on(store.raft_truncate(GROUP, 7)).unwrap();
    assert_eq!(store.raft_last_entry(GROUP).unwrap().unwrap().0, 6);
    block_on(store.raft_purge(GROUP, 2, b"purged-at-2".to_vec())).unwrap();
    let left: Vec<u64> = store.raft_entries(GROUP, 0, u64::MAX).unwrap().iter().map(|e| e.0).collect();
    assert_eq!(left, [3, 4, 5, 6]);
    assert_eq!(store.raft_meta(GROUP, RaftMeta::Purged).unwrap().unwrap(), b"purged-at-2");
    // Other groups are untouched.
    assert_eq!(store.raft_entries(GROUP + 1, 0, u64::MAX).unwrap().len(), 1);
    block_on(store.raft_set_meta(GROUP, RaftMeta::Vote, Some(b"vote".to_vec()), true)).unwrap();
    assert_eq!(store.raft_meta(GROUP, RaftMeta::Vote).unwrap().unwrap(), b"vote");
}

#[test]
fn applies_follow_the_log_and_record_their_position() {
    let (_dir, store) = open_temp();
    let bucket = ObjectId::random();
    store.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let newer = object(bucket, "k", 200, 10);
    let older = object(bucket, "k", 100, 20);
    let results = apply(
        &store,
        vec![
            IndexCommand::PutObject { row: newer.clone(), condition: PutCondition::Always },
            // Later in the log, earlier by its clock: the log decides.
            IndexCommand::PutObject { row: older.clone(), condition: PutCondition::Always },
            IndexCommand::PutObject { row: object(bucket, "k", 300, 1), condition: PutCondition::IfAbsent },
        ],
        1,
    );
    assert!(matches!(&results[0], Ok(IndexOutcome::Put(o)) if o.applied && o.replaced.is_none()));
    assert!(
        matches!(&results[1], Ok(IndexOutcome::Put(o)) if o.applied && o.replaced.as_ref() == Some(&newer))
    );
    assert!(matches!(results[2], Err(MetaError::PreconditionFailed)));
    assert_eq!(store.get_object(bucket, "k").unwrap().unwrap(), older);
    assert_eq!(store.group_state(GROUP).unwrap().unwrap().applied, Some(vec![1]));
    assert_eq!(store.bucket_stats(bucket).unwrap().objects, 1);

    // A proposal retried after its answer was lost is answered as the
    // first time and counted once.
    let once = object(bucket, "once", 400, 5);
    let condition = PutCondition::IfAbsent;
    let first =
        apply(&store, vec![IndexCommand::PutObject { row: once.clone(), condition: condition.clone() }], 2);
    let again = apply(&store, vec![IndexCommand::PutObject { row: once, condition }], 3);
    assert!(matches!(first[0], Ok(IndexOutcome::Put(ref o)) if o.applied));
    assert!(matches!(again[0], Ok(IndexOutcome::Put(ref o)) if o.applied));
    assert_eq!(store.bucket_stats(bucket).unwrap().objects, 2);
}

#[test]
fn a_closed_range_refuses_new_objects_until_reopened() {
    let (_dir, store) = open_temp();
    let bucket = ObjectId::random();
    store.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let put = |micros| IndexCommand::PutObject {
        row: object(bucket, "k", micros, 1),
        condition: PutCondition::Always,
    };
    let results = apply(&store, vec![put(1), IndexCommand::Close { bucket }], 1);
    assert!(matches!(results[1], Err(MetaError::BucketNotEmpty)));
    let results = apply(
        &store,
        vec![
            IndexCommand::DeleteObject { bucket, key: "k".into(), ts: ts(2) },
            IndexCommand::Close { bucket },
            put(3),
            IndexCommand::CreateUpload { row: upload(bucket, "u", 4) },
        ],
        2,
    );
    assert!(matches!(results[1], Ok(IndexOutcome::Closed(_))));
    assert!(matches!(results[2], Err(MetaError::NoSuchBucket)));
    assert!(matches!(results[3], Err(MetaError::NoSuchBucket)));
    assert!(store.group_state(GROUP).unwrap().unwrap().closed);
    let results = apply(&store, vec![IndexCommand::Reopen { bucket }, put(5)], 3);
    assert!(matches!(results[1], Ok(IndexOutcome::Put(_))));
}

#[test]
fn a_range_snapshot_carries_every_row_to_another_node() {
    let (_a, source) = open_temp();
    let bucket = ObjectId::random();
    source.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let mut commands: Vec<IndexCommand> = (0..2500)
        .map(|i| IndexCommand::PutObject {
            row: object(bucket, &format!("key-{i:05}"), 10 + i, i % 100),
            condition: PutCondition::Always,
        })
        .collect();
    commands.push(IndexCommand::DeleteObject { bucket, key: "key-00007".into(), ts: ts(5000) });
    let open = upload(bucket, "big", 6000);
    commands.push(IndexCommand::CreateUpload { row: open.clone() });
    for n in 1..=3 {
        commands.push(IndexCommand::PutPart {
            bucket,
            key: "big".into(),
            row: part(open.upload_id, n, 6000 + u64::from(n)),
        });
    }
    // Another bucket's rows stay out of the snapshot.
    let other = ObjectId::random();
    commands.push(IndexCommand::PutObject {
        row: object(other, "stranger", 7000, 1),
        condition: PutCondition::Always,
    });
    for result in apply(&source, commands, 9) {
        result.unwrap();
    }

    let mut file = Vec::new();
    let state = source.index_snapshot(GROUP, bucket, &mut file).unwrap();
    assert_eq!(state.applied, Some(vec![9]));

    // Install over a replica that holds stale rows of the same range.
    let (_b, replica) = open_temp();
    replica.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    apply(
        &replica,
        vec![IndexCommand::PutObject { row: object(bucket, "stale", 1, 1), condition: PutCondition::Always }],
        1,
    );
    let installed = replica.install_index_snapshot(GROUP, bucket, &mut file.as_slice()).unwrap();
    assert_eq!(installed.applied, Some(vec![9]));
    assert!(!replica.group_state(GROUP).unwrap().unwrap().installing);

    let all = |store: &MetaStore| {
        let q = ListQuery { max_keys: 5000, ..Default::default() };
        store.list_objects(bucket, &q).unwrap().entries
    };
    assert_eq!(all(&replica), all(&source));
    assert_eq!(all(&replica).len(), 2499);
    assert!(replica.get_object(bucket, "stale").unwrap().is_none());
    assert_eq!(replica.bucket_stats(bucket).unwrap(), source.bucket_stats(bucket).unwrap());
    let uploads =
        |store: &MetaStore| store.list_uploads(bucket, &UploadListQuery::default()).unwrap().uploads;
    assert_eq!(uploads(&replica), uploads(&source));
    assert_eq!(replica.list_parts(open.upload_id, 0, 100).unwrap().0.len(), 3);
    assert!(replica.get_object(other, "stranger").unwrap().is_none());

    // A damaged snapshot is refused.
    let mut damaged = file.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0xFF;
    assert!(replica.install_index_snapshot(GROUP, bucket, &mut damaged.as_slice()).is_err());
}

#[test]
fn an_interrupted_install_leaves_an_empty_group_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = ObjectId::random();
    {
        let store = MetaStore::open(dir.path(), MetaConfig { sync: false, ..Default::default() }).unwrap();
        store.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
        apply(
            &store,
            vec![IndexCommand::PutObject { row: object(bucket, "k", 1, 1), condition: PutCondition::Always }],
            1,
        );
        block_on(store.raft_append(GROUP, vec![(0, b"entry".to_vec())])).unwrap();
        // A snapshot whose frames stop short: the install fails half way.
        let mut file = Vec::new();
        store.index_snapshot(GROUP, bucket, &mut file).unwrap();
        file.truncate(file.len() - 3);
        assert!(store.install_index_snapshot(GROUP, bucket, &mut file.as_slice()).is_err());
        assert!(store.group_state(GROUP).unwrap().unwrap().installing);
    }
    let store = MetaStore::open(dir.path(), MetaConfig { sync: false, ..Default::default() }).unwrap();
    let state = store.group_state(GROUP).unwrap().unwrap();
    assert_eq!(state, GroupState { bucket: Some(bucket), epoch: 1, ..GroupState::default() });
    assert!(store.get_object(bucket, "k").unwrap().is_none());
    assert!(store.raft_entries(GROUP, 0, u64::MAX).unwrap().is_empty());
}

#[test]
fn the_catalog_applies_and_travels_in_a_snapshot() {
    let (_a, source) = open_temp();
    source.create_group(0, None, KeyRange::whole(), 0).unwrap();
    let bucket = bucket_row("photos", 10);
    let root = |ak: &str, micros| KeyRow {
        access_key: ak.into(),
        secret_key: "secret".into(),
        name: "root".into(),
        is_root: true,
        created: ts(micros),
        ts: ts(micros),
        deleted: false,
    };
    let items = vec![
        ApplyItem::Command(CatalogCommand::CreateBucket {
            row: bucket.clone(),
            cluster: vec![(b"range/x".to_vec(), b"desc".to_vec())],
        }),
        ApplyItem::Command(CatalogCommand::CreateBucket {
            row: bucket_row("photos", 11),
            cluster: Vec::new(),
        }),
        ApplyItem::Command(CatalogCommand::SetRootKey { row: root("AKOLD", 12) }),
        ApplyItem::Command(CatalogCommand::SetRootKey { row: root("AKNEW", 13) }),
        ApplyItem::Command(CatalogCommand::SwapCluster {
            key: b"ring".to_vec(),
            expect: Some(b"wrong".to_vec()),
            value: b"ring-2".to_vec(),
            remove: Vec::new(),
            put: Vec::new(),
        }),
        ApplyItem::Command(CatalogCommand::SwapCluster {
            key: b"ring".to_vec(),
            expect: None,
            value: b"ring-1".to_vec(),
            remove: Vec::new(),
            put: vec![(b"ring_previous".to_vec(), b"ring-0".to_vec())],
        }),
        ApplyItem::Membership(b"members".to_vec()),
    ];
    let results = block_on(source.apply_catalog(items, b"applied".to_vec())).unwrap();
    assert!(matches!(results[0], Some(Ok(CatalogOutcome::Done))));
    assert!(matches!(results[1], Some(Err(MetaError::BucketExists(_)))));
    assert!(matches!(results[4], Some(Err(MetaError::PreconditionFailed))));
    assert!(matches!(results[5], Some(Ok(CatalogOutcome::Done))));
    assert!(results[6].is_none());
    let roots: Vec<String> =
        source.list_keys().unwrap().into_iter().filter(|k| k.is_root).map(|k| k.access_key).collect();
    assert_eq!(roots, ["AKNEW"]);

    let snapshot = source.catalog_snapshot().unwrap();
    assert_eq!(snapshot.state.applied, Some(b"applied".to_vec()));
    assert_eq!(snapshot.state.membership, Some(b"members".to_vec()));
    let (_b, replica) = open_temp();
    replica.create_bucket(bucket_row("leftover", 1)).unwrap();
    replica.install_catalog_snapshot(snapshot).unwrap();
    assert_eq!(replica.list_buckets().unwrap(), source.list_buckets().unwrap());
    assert_eq!(replica.list_keys().unwrap(), source.list_keys().unwrap());
    assert_eq!(replica.cluster_rows().unwrap(), source.cluster_rows().unwrap());
    assert!(replica.get_bucket("leftover").unwrap().is_none());
}

#[test]
fn a_completion_retried_after_it_took_effect_succeeds_again() {
    let (_dir, store) = open_temp();
    let bucket = ObjectId::random();
    store.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let open = upload(bucket, "mp", 10);
    let p1 = part(open.upload_id, 1, 11);
    let row = completed(bucket, "mp", 12, &[&p1]);
    let complete = IndexCommand::CompleteUpload { bucket, key: "mp".into(), upload_id: open.upload_id, row };
    let results = apply(
        &store,
        vec![
            IndexCommand::CreateUpload { row: open.clone() },
            IndexCommand::PutPart { bucket, key: "mp".into(), row: p1 },
            complete.clone(),
            complete,
        ],
        1,
    );
    assert!(matches!(results[2], Ok(IndexOutcome::Completed(ref o)) if o.applied));
    assert!(matches!(results[3], Ok(IndexOutcome::Completed(ref o)) if o.applied));
    let stats = store.bucket_stats(bucket).unwrap();
    assert_eq!((stats.objects, stats.uploads), (1, 0));
}

/// Applies a split the way a replica does: the counts of the upper half
/// are taken from its own rows just before.
fn split(
    store: &MetaStore,
    group: u64,
    bucket: ObjectId,
    at: &str,
    child: u64,
    applied: u8,
) -> Result<IndexOutcome, MetaError> {
    let upper = store.count_range(group, at, child).unwrap();
    let membership = store.group_state(group).unwrap().unwrap().membership.unwrap();
    let command = IndexCommand::Split(Split {
        bucket,
        at: at.into(),
        child,
        child_applied: b"child-applied".to_vec(),
        child_membership: b"child-membership".to_vec(),
        expect_membership: membership,
        upper: Some(upper),
    });
    let items = vec![ApplyItem::Command(command)];
    block_on(store.apply_index(group, items, vec![applied])).unwrap().pop().unwrap().unwrap()
}

#[test]
fn a_split_cuts_rows_counters_listings_and_snapshots_at_one_key() {
    let (_dir, store) = open_temp();
    let bucket = ObjectId::random();
    store.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let mut commands = Vec::new();
    for (i, key) in ["a", "b/1", "b/2", "c", "d", "e/x", "f"].iter().enumerate() {
        let row = object(bucket, key, 10 + i as u64, 100 + i as u64);
        commands.push(IndexCommand::PutObject { row, condition: PutCondition::Always });
    }
    commands.push(IndexCommand::DeleteObject { bucket, key: "c".into(), ts: ts(50) });
    let open = upload(bucket, "e/up", 60);
    commands.push(IndexCommand::CreateUpload { row: open.clone() });
    commands.push(IndexCommand::PutPart { bucket, key: "e/up".into(), row: part(open.upload_id, 1, 61) });
    apply(&store, commands, 1);
    let membership = vec![ApplyItem::Membership(b"voters".to_vec())];
    block_on(store.apply_index(GROUP, membership, vec![1])).unwrap();
    let before = store.bucket_stats(bucket).unwrap();
    assert_eq!((before.objects, before.uploads), (6, 1));

    let at = store.split_key(GROUP).unwrap().expect("a middle key");
    assert!(at.as_str() > "a" && at.as_str() <= "f", "{at}");
    let at = "d".to_owned();
    const CHILD: u64 = 77;
    assert!(matches!(split(&store, GROUP, bucket, &at, CHILD, 2), Ok(IndexOutcome::Split)));
    // The same split again (a retried proposal) finds the bounds moved on.
    assert!(matches!(split(&store, GROUP, bucket, &at, CHILD + 1, 3), Err(MetaError::WrongRange)));
    assert!(store.group_state(CHILD + 1).unwrap().is_none());

    let parent = store.group_state(GROUP).unwrap().unwrap();
    let child = store.group_state(CHILD).unwrap().unwrap();
    assert_eq!(parent.range, KeyRange { start: String::new(), end: Some("d".into()) });
    assert_eq!(child.range, KeyRange { start: "d".into(), end: None });
    assert_eq!((parent.epoch, child.epoch), (2, 2));
    assert_eq!(child.applied.as_deref(), Some(&b"child-applied"[..]));
    assert_eq!(store.raft_meta(CHILD, RaftMeta::Purged).unwrap().as_deref(), Some(&b"child-applied"[..]));
    // Counters: each half its own, the sum unchanged.
    let lower = store.range_stats(bucket, "").unwrap();
    let upper = store.range_stats(bucket, "d").unwrap();
    assert_eq!((lower.objects, lower.uploads, lower.bytes), (3, 0, 100 + 101 + 102));
    assert_eq!((upper.objects, upper.uploads, upper.bytes), (3, 1, 104 + 105 + 106));
    assert_eq!(store.bucket_stats(bucket).unwrap(), before);

    // Writes outside a group's bounds are refused in its log.
    let stray = IndexCommand::PutObject { row: object(bucket, "zz", 90, 1), condition: PutCondition::Always };
    assert!(matches!(apply(&store, vec![stray.clone()], 4)[0], Err(MetaError::WrongRange)));
    let items = vec![ApplyItem::Command(stray)];
    let placed = block_on(store.apply_index(CHILD, items, vec![1])).unwrap().pop().unwrap().unwrap();
    assert!(matches!(placed, Ok(IndexOutcome::Put(_))));
    assert_eq!(store.range_stats(bucket, "d").unwrap().objects, 4);
    assert_eq!(store.range_stats(bucket, "").unwrap().objects, 3);

    // Listings of the halves, one after the other, are the whole listing.
    let whole: Vec<String> = store
        .list_objects(bucket, &ListQuery::default())
        .unwrap()
        .entries
        .iter()
        .map(|e| e.marker().to_owned())
        .collect();
    let mut halves = Vec::new();
    for range in [&parent.range, &child.range] {
        let page = store.list_objects_in(bucket, &ListQuery::default(), range).unwrap();
        assert!(!page.is_truncated);
        halves.extend(page.entries.iter().map(|e| e.marker().to_owned()));
    }
    assert_eq!(halves, whole);
    assert_eq!(whole, ["a", "b/1", "b/2", "d", "e/x", "f", "zz"]);
    let uploads = store.list_uploads_in(bucket, &UploadListQuery::default(), &parent.range).unwrap();
    assert!(uploads.uploads.is_empty());
    let uploads = store.list_uploads_in(bucket, &UploadListQuery::default(), &child.range).unwrap();
    assert_eq!(uploads.uploads.len(), 1);

    // A snapshot of the child carries its rows only, and installs them
    // into another store without touching that store's other range.
    let mut file = Vec::new();
    store.index_snapshot(CHILD, bucket, &mut file).unwrap();
    let (_other, replica) = open_temp();
    replica.create_group(CHILD, Some(bucket), child.range.clone(), 2).unwrap();
    let state = replica.install_index_snapshot(CHILD, bucket, &mut file.as_slice()).unwrap();
    assert_eq!(state.range, child.range);
    let listed = replica.list_objects(bucket, &ListQuery::default()).unwrap();
    let keys: Vec<&str> = listed.entries.iter().map(|e| e.marker()).collect();
    assert_eq!(keys, ["d", "e/x", "f", "zz"]);
    assert_eq!(replica.bucket_stats(bucket).unwrap(), store.range_stats(bucket, "d").unwrap());
    assert_eq!(replica.list_parts(open.upload_id, 0, 10).unwrap().0.len(), 1);

    // Dropping the parent removes its rows and leaves the child's.
    store.drop_group(GROUP).unwrap();
    let left = store.list_objects(bucket, &ListQuery::default()).unwrap();
    assert_eq!(left.entries.len(), 4);
    assert_eq!(store.bucket_stats(bucket).unwrap(), store.range_stats(bucket, "d").unwrap());
}

#[test]
fn a_snapshot_from_before_a_split_leaves_the_new_half_here_alone() {
    let (_a, source) = open_temp();
    let bucket = ObjectId::random();
    source.create_group(GROUP, Some(bucket), KeyRange::whole(), 1).unwrap();
    let puts = ["a", "b", "x", "y"]
        .iter()
        .enumerate()
        .map(|(i, key)| IndexCommand::PutObject {
            row: object(bucket, key, 10 + i as u64, 100),
            condition: PutCondition::Always,
        })
        .collect();
    apply(&source, puts, 1);
    block_on(source.apply_index(GROUP, vec![ApplyItem::Membership(b"voters".to_vec())], vec![1])).unwrap();
    let mut before_split = Vec::new();
    source.index_snapshot(GROUP, bucket, &mut before_split).unwrap();

    // The range splits at "m"; its new half then deletes "x" and adds "z".
    const CHILD: u64 = 77;
    assert!(matches!(split(&source, GROUP, bucket, "m", CHILD, 2), Ok(IndexOutcome::Split)));
    let later = vec![
        ApplyItem::Command(IndexCommand::DeleteObject { bucket, key: "x".into(), ts: ts(50) }),
        ApplyItem::Command(IndexCommand::PutObject {
            row: object(bucket, "z", 60, 100),
            condition: PutCondition::Always,
        }),
    ];
    block_on(source.apply_index(CHILD, later, vec![2])).unwrap();
    let mut child_file = Vec::new();
    source.index_snapshot(CHILD, bucket, &mut child_file).unwrap();
    let child_range = KeyRange { start: "m".into(), end: None };

    // A replica gets the new half first, then the parent by the snapshot
    // from before the split, then replays the split.
    let (_b, replica) = open_temp();
    replica.create_group(CHILD, Some(bucket), child_range.clone(), 2).unwrap();
    replica.install_index_snapshot(CHILD, bucket, &mut child_file.as_slice()).unwrap();
    replica
        .create_group(GROUP, Some(bucket), KeyRange { start: String::new(), end: Some("m".into()) }, 2)
        .unwrap();
    replica.install_index_snapshot(GROUP, bucket, &mut before_split.as_slice()).unwrap();
    let keys = |store: &MetaStore, range: &KeyRange| -> Vec<String> {
        let page = store.list_objects_in(bucket, &ListQuery::default(), range).unwrap();
        page.entries.iter().map(|e| e.marker().to_owned()).collect()
    };
    assert_eq!(keys(&replica, &child_range), ["y", "z"], "the half's rows are its own, not the snapshot's");
    let child_state = replica.group_state(CHILD).unwrap().unwrap();

    assert!(matches!(split(&replica, GROUP, bucket, "m", CHILD, 2), Ok(IndexOutcome::Split)));
    assert_eq!(replica.group_state(CHILD).unwrap().unwrap(), child_state, "the half's state stays");
    let lower = KeyRange { start: String::new(), end: Some("m".into()) };
    assert_eq!(keys(&replica, &lower), ["a", "b"]);
    assert_eq!(keys(&replica, &child_range), ["y", "z"]);
    for start in ["", "m"] {
        assert_eq!(
            replica.range_stats(bucket, start).unwrap(),
            source.range_stats(bucket, start).unwrap(),
            "{start}"
        );
    }

    // Dropping the parent here leaves the half's rows.
    replica.drop_group(GROUP).unwrap();
    assert_eq!(keys(&replica, &KeyRange::whole()), ["y", "z"]);
}
