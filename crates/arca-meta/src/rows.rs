//! The rows Arca's metadata index stores, as the rest of Arca sees them.
//!
//! Every row carries the timestamp of the write that produced it and a
//! `deleted` flag: a delete writes a tombstone row instead of removing the
//! key, so replicas can tell "deleted at t" from "never heard of it" and merge
//! by last writer wins (see [`Row::merge`]). The byte encodings of these rows
//! are owned by the `encoding` module and specified in docs/design.md.

use arca_types::{ObjectId, Timestamp};
use serde::{Deserialize, Serialize};

/// A row that replicas merge by last writer wins.
pub trait Row {
    fn timestamp(&self) -> Timestamp;
    fn is_deleted(&self) -> bool;

    /// Of two versions of one row, the one to keep: the greater timestamp
    /// wins. Timestamps are unique per write (node id breaks ties), so the
    /// result does not depend on the order replicas see the versions in.
    fn merge(self, other: Self) -> Self
    where
        Self: Sized,
    {
        if other.timestamp() > self.timestamp() { other } else { self }
    }
}

/// A bucket in the catalog, keyed by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRow {
    pub name: String,
    /// Random at creation; object rows are keyed by it, so a bucket deleted
    /// and created again never sees the old bucket's rows.
    pub id: ObjectId,
    /// Access key id of the owner (the key that created the bucket).
    pub owner: String,
    pub created: Timestamp,
    pub region: String,
    /// Other access keys granted full access to the bucket.
    pub grants: Vec<String>,
    pub ts: Timestamp,
    pub deleted: bool,
    /// S3 versioning: once enabled, a bucket is never unversioned again.
    pub versioning: Versioning,
    /// Bucket tags (PutBucketTagging), in the order given.
    pub tags: Vec<(String, String)>,
    /// S3 Object Lock: `Some` once enabled (it cannot be disabled).
    pub object_lock: Option<ObjectLock>,
    /// The bucket's other sub-resources as the documents that configure
    /// them, by name (`cors`, `policy`, ...; see [`BucketRow::attr`]): new
    /// ones are added without changing the row's layout.
    pub attrs: Vec<(String, String)>,
}

impl BucketRow {
    /// The document of sub-resource `name`, if set.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Sets (or, with `None`, removes) the document of sub-resource `name`.
    pub fn set_attr(&mut self, name: &str, value: Option<String>) {
        self.attrs.retain(|(n, _)| n != name);
        if let Some(value) = value {
            self.attrs.push((name.to_owned(), value));
        }
    }
}

/// A bucket's Object Lock configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    /// Applied to new versions that name no retention of their own.
    pub default_retention: Option<DefaultRetention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: RetentionPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

/// S3's retention modes: GOVERNANCE may be lifted by a caller who asks to
/// bypass it; COMPLIANCE by no one until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMode {
    Governance,
    Compliance,
}

/// A version's retention: it cannot be deleted before `until_micros`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: LockMode,
    /// Microseconds since the Unix epoch.
    pub until_micros: u64,
}

/// A bucket's versioning state (S3's GetBucketVersioning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: every object has only its null version.
    #[default]
    Unversioned,
    /// Every write makes a new version; a delete adds a delete marker.
    Enabled,
    /// Writes replace the null version; older versions are kept.
    Suspended,
}

impl Versioning {
    /// Whether the bucket may hold versions other than the null one.
    pub fn has_versions(self) -> bool {
        self != Versioning::Unversioned
    }
}

/// An access key pair in the catalog, keyed by access key id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub access_key: String,
    pub secret_key: String,
    /// A human name for the key (shown as the owner's display name).
    pub name: String,
    /// The root key may manage keys and see every bucket.
    pub is_root: bool,
    pub created: Timestamp,
    pub ts: Timestamp,
    pub deleted: bool,
}

/// One version of an object, keyed by (bucket id, key, version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRow {
    pub bucket: ObjectId,
    pub key: String,
    /// `None` is S3's "null" version (the only one in an unversioned
    /// bucket); otherwise [`version_of`](crate::version_of)`(ts)`.
    pub version: Option<ObjectId>,
    pub ts: Timestamp,
    /// A tombstone: the object was deleted at `ts`. `meta` and `body` are
    /// empty then.
    pub deleted: bool,
    pub meta: ObjectMeta,
    pub body: ObjectBody,
}

/// What S3 returns about an object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub size: u64,
    /// Quoted as S3 shows it, e.g. `"9e107d9d372bb6826bd81d3542a419d6"` or
    /// `"...-3"` for a multipart object.
    pub etag: String,
    pub owner: String,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// The Expires header as the client sent it (an HTTP date).
    pub expires: Option<String>,
    pub storage_class: Option<String>,
    /// x-amz-meta-* pairs, names lower-case without the prefix.
    pub user: Vec<(String, String)>,
    /// Checksums the client asked for, e.g. ("CRC32", base64 value).
    pub checksums: Vec<(String, String)>,
    /// A delete marker (versioned buckets): a version that says the object
    /// is deleted; size 0, empty body.
    pub delete_marker: bool,
    /// Object tags, in the order given.
    pub tags: Vec<(String, String)>,
    /// x-amz-website-redirect-location.
    pub website_redirect: Option<String>,
    /// Object Lock retention of this version.
    pub retention: Option<Retention>,
    /// Object Lock legal hold: no delete while it is on.
    pub legal_hold: bool,
    /// How the body is encrypted at rest, if it is.
    pub encryption: Option<Encryption>,
    /// ACL grants beyond the owner's FULL_CONTROL (only in buckets whose
    /// object ownership enables ACLs).
    pub acl: Vec<AclGrant>,
}

/// One ACL grant: a permission to a grantee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclGrant {
    pub grantee: Grantee,
    pub permission: AclPermission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// An access key (Arca's canonical user id).
    Key(String),
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every signed request.
    AuthenticatedUsers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclPermission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

/// Server-side encryption of a body (docs/design.md, "Encryption at rest").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub mode: EncryptionMode,
    /// SSE-S3: the object's data key sealed with the master key. SSE-C:
    /// the random salt its data key is derived with from the customer's key.
    pub key_material: Vec<u8>,
    /// SSE-C: the MD5 of the customer's key, to refuse a wrong key.
    pub customer_key_md5: Option<[u8; 16]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncryptionMode {
    /// SSE-S3: keys the server manages.
    Managed,
    /// SSE-C: a key the client sends with every request.
    Customer,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectBody {
    /// Small bodies live in the row itself. Read as one byte string rather
    /// than a sequence of `u8` (postcard writes both the same way: a varint
    /// length, then the bytes), so decoding is one copy, not a call per byte.
    Inline(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Larger bodies are blobs described by a manifest.
    Striped(Manifest),
}

impl Default for ObjectBody {
    fn default() -> Self {
        ObjectBody::Inline(Vec::new())
    }
}

/// The layout of a striped body (Ceph RGW's manifest, R3): a list of parts,
/// each a run of blobs `(part.body, 0..n)` of `stripe_size` bytes, the last
/// one shorter. A plain PUT is one part numbered 0; a completed multipart
/// upload lists its parts in order, so completing copies no data (R4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub parts: Vec<ManifestPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPart {
    /// The S3 part number (1-based), or 0 for a single-part body.
    pub part_number: u32,
    /// Names this part's blobs: `BlobId { object: body, stripe: i }`.
    pub body: ObjectId,
    pub size: u64,
    pub stripe_size: u32,
    /// The part's quoted MD5 ETag (for GetObject with partNumber).
    pub etag: String,
}

impl ManifestPart {
    /// How many blobs this part is cut into.
    pub fn stripe_count(&self) -> u32 {
        if self.size == 0 { 0 } else { self.size.div_ceil(u64::from(self.stripe_size)) as u32 }
    }
}

/// An in-progress multipart upload, keyed by (bucket id, key, upload id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRow {
    pub bucket: ObjectId,
    pub key: String,
    pub upload_id: ObjectId,
    pub initiated: Timestamp,
    /// Metadata given at CreateMultipartUpload (size and etag unused).
    pub meta: ObjectMeta,
    pub ts: Timestamp,
    pub deleted: bool,
}

/// One uploaded part, keyed by (upload id, part number). A part uploaded
/// again under the same number replaces the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRow {
    pub upload_id: ObjectId,
    pub part_number: u32,
    pub body: ObjectId,
    pub size: u64,
    pub stripe_size: u32,
    pub etag: String,
    pub checksums: Vec<(String, String)>,
    pub ts: Timestamp,
    pub deleted: bool,
}

/// Counters kept per bucket, updated in the same commit as the rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketStats {
    pub objects: u64,
    pub bytes: u64,
    /// Live multipart uploads (a bucket with any is not empty).
    pub uploads: u64,
}

impl BucketStats {
    /// These counters less `other`'s, none below zero (one part of a
    /// range's counters, knowing the whole and the other part).
    pub fn less(&self, other: &BucketStats) -> BucketStats {
        BucketStats {
            objects: self.objects.saturating_sub(other.objects),
            bytes: self.bytes.saturating_sub(other.bytes),
            uploads: self.uploads.saturating_sub(other.uploads),
        }
    }
}

/// One entry of the event log: something changed (Q5). Consumers
/// (lifecycle, notifications, replication) read the log by sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Assigned by the store, strictly increasing.
    pub seq: u64,
    pub ts: Timestamp,
    pub kind: EventKind,
    /// The bucket's name, when this node's catalog knows the bucket id.
    pub bucket: String,
    pub bucket_id: ObjectId,
    pub key: String,
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    BucketCreated,
    BucketRemoved,
    ObjectCreated,
    ObjectRemoved,
    UploadCompleted,
    UploadAborted,
    // New kinds go last: postcard encodes a variant as its index.
    UploadCreated,
    BucketUpdated,
}

macro_rules! impl_row {
    ($($t:ty),*) => {$(
        impl Row for $t {
            fn timestamp(&self) -> Timestamp { self.ts }
            fn is_deleted(&self) -> bool { self.deleted }
        }
    )*};
}
impl_row!(BucketRow, KeyRow, ObjectRow, UploadRow, PartRow);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_row(micros: u64, node: u32, name: &str, deleted: bool) -> KeyRow {
        KeyRow {
            access_key: "AK".into(),
            secret_key: "s".into(),
            name: name.into(),
            is_root: false,
            created: Timestamp::ZERO,
            ts: Timestamp::new(micros, node),
            deleted,
        }
    }

    fn versions() -> impl Strategy<Value = Vec<KeyRow>> {
        // Timestamps are unique per write (the node id breaks ties), so the
        // versions of one row never share one.
        proptest::collection::btree_set((0u64..20, 0u32..3), 1..6).prop_flat_map(|stamps| {
            let n = stamps.len();
            (Just(stamps), proptest::collection::vec(("[a-c]{0,2}", any::<bool>()), n)).prop_map(
                |(stamps, contents)| {
                    stamps
                        .into_iter()
                        .zip(contents)
                        .map(|((m, node), (name, deleted))| key_row(m, node, &name, deleted))
                        .collect()
                },
            )
        })
    }

    proptest! {
        #[test]
        fn merge_is_commutative_associative_and_idempotent(rows in versions(), order in any::<proptest::sample::Index>()) {
            let a = rows[0].clone();
            let b = rows[order.index(rows.len())].clone();
            prop_assert_eq!(a.clone().merge(b.clone()), b.clone().merge(a.clone()));
            prop_assert_eq!(a.clone().merge(a.clone()), a.clone());
            // Any order of merging all versions keeps the newest one.
            let newest = rows.iter().max_by_key(|r| r.ts).cloned().unwrap();
            let forward = rows.iter().cloned().reduce(Row::merge).unwrap();
            let backward = rows.iter().rev().cloned().reduce(Row::merge).unwrap();
            prop_assert_eq!(&forward, &newest);
            prop_assert_eq!(&backward, &newest);
            if rows.len() >= 3 {
                let (x, y, z) = (rows[0].clone(), rows[1].clone(), rows[2].clone());
                prop_assert_eq!(x.clone().merge(y.clone()).merge(z.clone()), x.merge(y.merge(z)));
            }
        }
    }

    #[test]
    fn a_newer_tombstone_beats_an_older_row_and_the_reverse() {
        let live = key_row(5, 1, "x", false);
        let dead = key_row(6, 1, "", true);
        assert!(live.clone().merge(dead.clone()).is_deleted());
        let revived = key_row(7, 0, "y", false);
        assert_eq!(dead.merge(revived.clone()), revived);
    }

    #[test]
    fn stripe_count_rounds_up() {
        let part = |size| ManifestPart {
            part_number: 0,
            body: ObjectId([0; 16]),
            size,
            stripe_size: 4,
            etag: String::new(),
        };
        assert_eq!(part(0).stripe_count(), 0);
        assert_eq!(part(4).stripe_count(), 1);
        assert_eq!(part(5).stripe_count(), 2);
    }
}
