//! Builders shared by the integration tests.
#![allow(dead_code)]

use arca_meta::{
    BucketRow, Manifest, ManifestPart, MetaConfig, MetaStore, ObjectBody, ObjectMeta, ObjectRow, PartRow,
    UploadRow,
};
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
        versioning: Default::default(),
        tags: Vec::new(),
        object_lock: None,
        attrs: Vec::new(),
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

/// A live upload with a time-ordered id, as the server makes them.
pub fn upload(bucket: ObjectId, key: &str, micros: u64) -> UploadRow {
    UploadRow {
        bucket,
        key: key.into(),
        upload_id: ObjectId::time_ordered(micros),
        initiated: ts(micros),
        meta: ObjectMeta::default(),
        ts: ts(micros),
        deleted: false,
    }
}

/// A live 5 MiB part.
pub fn part(upload_id: ObjectId, number: u32, micros: u64) -> PartRow {
    PartRow {
        upload_id,
        part_number: number,
        body: ObjectId::random(),
        size: 5 << 20,
        stripe_size: 4 << 20,
        etag: format!("\"p{number}\""),
        checksums: Vec::new(),
        ts: ts(micros),
        deleted: false,
    }
}

/// The object row a completion of `parts` writes.
pub fn completed(bucket: ObjectId, key: &str, micros: u64, parts: &[&PartRow]) -> ObjectRow {
    let mut row = object(bucket, key, micros, 0);
    row.meta.size = parts.iter().map(|p| p.size).sum();
    row.body = ObjectBody::Striped(Manifest {
        parts: parts
            .iter()
            .map(|p| ManifestPart {
                part_number: p.part_number,
                body: p.body,
                size: p.size,
                stripe_size: p.stripe_size,
                etag: p.etag.clone(),
            })
            .collect(),
    });
    row
}
