//! Builders shared by the integration tests.
#![allow(dead_code)]

use arca_meta::{BucketRow, MetaConfig, MetaStore, ObjectBody, ObjectMeta, ObjectRow};
use arca_types::{ObjectId, Timestamp};

/// A store in a fresh temporary directory. `sync` off: these tests check
/// logic, not fsync (the crash test runs with it on).
pub fn open_temp() -> (tempfile::TempDir, MetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::open(dir.path(), MetaConfig { sync: false, ..Default::default() }).unwrap();
    (dir, store)
}

/// One store shared by every case of a property test in this binary: opening
/// a store costs a few fsyncs per keyspace (most of a second on a slow disk),
/// so cases use fresh bucket ids in a shared store instead of fresh stores.
pub fn shared() -> &'static MetaStore {
    static STORE: std::sync::OnceLock<(tempfile::TempDir, MetaStore)> = std::sync::OnceLock::new();
    &STORE.get_or_init(open_temp).1
}

pub fn ts(micros: u64) -> Timestamp {
    Timestamp::new(micros, 1)
}

pub fn bucket_row(name: &str, micros: u64) -> BucketRow {
    BucketRow {
        name: name.into(),
        id: ObjectId::random(),
        owner: "owner".into(),
        created: ts(micros),
        region: "us-east-1".into(),
        grants: Vec::new(),
        ts: ts(micros),
        deleted: false,
    }
}

pub fn object(bucket: ObjectId, key: &str, micros: u64, size: u64) -> ObjectRow {
    ObjectRow {
        bucket,
        key: key.into(),
        version: None,
        ts: ts(micros),
        deleted: false,
        meta: ObjectMeta {
            size,
            etag: format!("\"etag-{micros}\""),
            owner: "owner".into(),
            ..Default::default()
        },
        body: ObjectBody::Inline(vec![7; size.min(64) as usize]),
    }
}
