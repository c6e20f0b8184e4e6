//! A copy is one request and is held to a single PUT's 5 GiB: CopyObject of
//! a larger source, and UploadPartCopy of a larger range, are refused with
//! InvalidRequest before a byte is copied. (A real 6 GiB object would take
//! minutes to write; the source here is a row whose manifest claims 6 GiB.)

use std::sync::Arc;
use std::time::Duration;

use arca_cluster::{Cluster, ClusterConfig, Role};
use arca_meta::raft::IndexCommand;
use arca_meta::{
    Manifest, ManifestPart, MetaConfig, MetaStore, ObjectBody, ObjectMeta, ObjectRow, PutCondition,
};
use arca_object::{
    ByteRange, Caller, Conditions, CopySource, MAX_COPY_SOURCE, ObjectConfig, ObjectError, ObjectService,
    PutObject,
};
use arca_ring::{DeviceSpec, RingBuilder};
use arca_types::{Clock, ObjectId};

/// A cluster of one, as `arca server` without --rpc runs it.
async fn service(dir: &std::path::Path) -> ObjectService {
    let node = "127.0.0.1:9000";
    let device = DeviceSpec { region: 1, zone: 1, node: node.into(), device: "d0".into(), weight: 1.0 };
    let ring = RingBuilder::with_one_device(4, device).unwrap().to_ring().unwrap();
    let meta = MetaStore::open(dir.join("meta"), MetaConfig { part_power: 4, ..Default::default() }).unwrap();
    let config = ClusterConfig {
        data: dir.to_path_buf(),
        node_id: 1,
        addr: node.into(),
        rpc_listen: None,
        secret: None,
        role: Role::All,
        blob: Default::default(),
        local_ring: ring,
        replication_interval: Duration::from_secs(30),
        snapshot_entries: arca_cluster::raft::DEFAULT_SNAPSHOT_ENTRIES,
        split: Default::default(),
        device_paths: Default::default(),
    };
    let cluster = Cluster::start(Arc::new(meta), config).await.unwrap();
    ObjectService::new(cluster, Arc::new(Clock::new(1)), ObjectConfig::default())
}

#[tokio::test]
async fn copies_above_five_gib_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let root = Caller::key("root".into(), true);
    let bucket = svc.create_bucket(&root, "big", false).await.unwrap();
    let size = 6 << 30;
    let part = ManifestPart {
        part_number: 0,
        body: ObjectId::random(),
        size,
        stripe_size: 4 << 20,
        etag: "\"e\"".into(),
    };
    let row = ObjectRow {
        bucket: bucket.id,
        key: "huge".into(),
        version: None,
        ts: svc.clock().now(),
        deleted: false,
        meta: ObjectMeta { size, etag: "\"e\"".into(), owner: "root".into(), ..Default::default() },
        body: ObjectBody::Striped(Manifest { parts: vec![part] }),
    };
    let command = IndexCommand::PutObject { row, condition: PutCondition::Always };
    svc.cluster().index_write(bucket.id, command).await.unwrap();
    let source = |range| CopySource {
        bucket: "big".into(),
        key: "huge".into(),
        version: Default::default(),
        conditions: Conditions::default(),
        range,
        customer_key: None,
    };
    let refused = |result: Result<(), ObjectError>| match result {
        Err(ObjectError::InvalidRequest(msg)) => assert!(msg.contains("5368709120"), "{msg}"),
        other => panic!("expected InvalidRequest, got {other:?}"),
    };

    let dest = PutObject {
        bucket: "big".into(),
        key: "copy".into(),
        meta: ObjectMeta::default(),
        content_length: None,
        content_md5: None,
        condition: PutCondition::Always,
        sse: None,
    };
    refused(svc.copy_object(&root, source(None), dest, false, None).await.map(|_| ()));

    let upload =
        svc.create_multipart_upload(&root, "big", "parts", ObjectMeta::default(), None).await.unwrap();
    let copy_part = |first: u64, last: u64| {
        let range = Some(ByteRange::Int { first, last: Some(last) });
        svc.upload_part_copy(&root, source(range), "big", "parts", upload.upload_id, 1, None)
    };
    refused(copy_part(0, MAX_COPY_SOURCE).await.map(|_| ()));
    // Exactly 5 GiB passes the limit (and then fails on the missing blobs).
    match copy_part(1, MAX_COPY_SOURCE).await {
        Err(ObjectError::InvalidRequest(msg)) => panic!("a 5 GiB range was refused: {msg}"),
        Err(_) => {}
        Ok(_) => panic!("a part was copied from blobs that do not exist"),
    }
}
