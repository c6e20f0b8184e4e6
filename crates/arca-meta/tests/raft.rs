//! Storage for Raft groups: the log, applies in log order with their
//! marker, and snapshots that carry a range or the catalog to another node.

mod common;

use arca_meta::raft::{
    ApplyItem, CatalogCommand, CatalogOutcome, GroupState, IndexCommand, IndexOutcome, RaftMeta,
};
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
    store.create_group(GROUP, Some(bucket)).unwrap();
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
    store.create_group(GROUP, Some(bucket)).unwrap();
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
    assert!(matches!(results[1], Ok(IndexOutcome::Closed)));
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
    source.create_group(GROUP, Some(bucket)).unwrap();
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
    replica.create_group(GROUP, Some(bucket)).unwrap();
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
        store.create_group(GROUP, Some(bucket)).unwrap();
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
    assert_eq!(state, GroupState { bucket: Some(bucket), ..GroupState::default() });
    assert!(store.get_object(bucket, "k").unwrap().is_none());
    assert!(store.raft_entries(GROUP, 0, u64::MAX).unwrap().is_empty());
}

#[test]
fn the_catalog_applies_and_travels_in_a_snapshot() {
    let (_a, source) = open_temp();
    source.create_group(0, None).unwrap();
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
    store.create_group(GROUP, Some(bucket)).unwrap();
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
