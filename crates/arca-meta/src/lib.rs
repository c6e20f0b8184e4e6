//! Metadata index on fjall: catalog, object rows, multipart, counters, event log.
//!
//! One [`MetaStore`] per node holds every metadata row the node stores, in
//! one fjall database (an LSM tree, seeds Q3) with a keyspace per table:
//! `buckets` and `keys` (the catalog), `objects`, `uploads`, `parts`,
//! `counters` (per bucket), `events` (the event log, Q5) and `meta` (the
//! format marker). docs/design.md section 5 specifies every key and value
//! byte by byte.
//!
//! The API is blocking; async callers use `spawn_blocking`, or the `_async`
//! variants of the hot writes (put and delete an object), which queue the
//! mutation and resolve without holding a thread. Reads go straight to fjall
//! from the calling thread. Every mutation goes through one writer
//! thread ([`writer`]) that checks its conditions, stages the row, the
//! counters and the event together, and commits whole groups of mutations in
//! one fjall batch with one fdatasync: a call returns only once its writes
//! are on stable storage, and a reader never sees a write that is not.
//!
//! Rows carry timestamps and deletes write tombstones, so replicas can merge
//! by last writer wins ([`Row::merge`]).

mod catalog;
/// Public so that tools and fuzz targets can decode stored values.
pub mod codec;
mod keys;
mod list;
mod multipart;
mod objects;
pub mod raft;
pub mod ranges;
mod rows;
mod store;
mod upkeep;
mod writer;

use std::sync::Arc;

use arca_types::{NodeId, ObjectId, Timestamp};

pub use keys::{MAX_NAME_LEN, MAX_OBJECT_KEY_LEN, timestamp_of_version, version_of};
pub use rows::{
    AclGrant, AclPermission, BucketRow, BucketStats, DefaultRetention, Encryption, EncryptionMode, EventKind,
    EventRow, Grantee, KeyRow, LockMode, Manifest, ManifestPart, ObjectBody, ObjectLock, ObjectMeta,
    ObjectRow, PartRow, Retention, RetentionPeriod, Row, UploadRow, Versioning,
};
pub use store::MetaStore;
pub use upkeep::Reclaimed;

/// How a [`MetaStore`] is opened.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// The ring's partition power: object and upload keys begin with the
    /// partition of the bucket's index shard.
    pub part_power: u8,
    /// This node (stamped on nothing yet; kept for rows the store makes itself).
    pub node: NodeId,
    /// fjall's block cache, in bytes.
    pub cache_bytes: u64,
    /// `true` (the default): every commit is fdatasync'ed before the
    /// mutation returns. `false`: commits reach the OS page cache only, which
    /// survives a crash of the process but not of the machine — for tests and
    /// throwaway stores, never for a server.
    pub sync: bool,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig { part_power: 10, node: 0, cache_bytes: 64 << 20, sync: true }
    }
}

/// What can go wrong in the metadata index.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetaError {
    /// A live bucket of that name exists (it is returned, so the caller can
    /// tell "already owned by you" from "taken").
    #[error("bucket {} already exists", .0.name)]
    BucketExists(Box<BucketRow>),
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such multipart upload")]
    NoSuchUpload,
    /// A part of the manifest given to complete an upload matches no
    /// uploaded part (by part number and body).
    #[error("invalid part {0}")]
    InvalidPart(u32),
    #[error("precondition failed")]
    PreconditionFailed,
    /// Object Lock keeps the version (a retention in force, a legal hold).
    #[error("object locked: {0}")]
    Locked(String),
    /// A catalog or upload write whose timestamp is not newer than the
    /// stored row's: last writer wins would drop it. Retry with a later
    /// timestamp (after `Clock::observe(stored)`).
    #[error("a newer row is stored (written at {stored})")]
    Stale { stored: Timestamp },
    /// The caller asked for something the index cannot store (a key with a
    /// NUL byte, an over-long name, a version id before versioning exists).
    #[error("invalid request to the metadata index: {0}")]
    Invalid(String),
    /// Stored bytes that do not decode: a bug or damage on disk.
    #[error("metadata index is corrupt: {0}")]
    Corrupt(String),
    #[error("metadata store: {0}")]
    Store(Arc<fjall::Error>),
    /// The key is outside the index range asked (the range split or moved
    /// on since the asker's range map was read): ask again with a current
    /// map.
    #[error("the key is not in this index range; the range map moved on")]
    WrongRange,
    /// The writer thread is gone (the store is shutting down or a mutation
    /// panicked); nothing of this mutation was written.
    #[error("metadata writer stopped")]
    Closed,
}

impl From<fjall::Error> for MetaError {
    fn from(err: fjall::Error) -> Self {
        MetaError::Store(Arc::new(err))
    }
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// A condition checked atomically with an object write.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PutCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: only if no live object has the key.
    IfAbsent,
    /// `If-Match`: only if the live object's ETag equals this one (quotes
    /// around either side are ignored; `*` matches any live object).
    IfEtag(String),
}

/// What a put did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PutOutcome {
    /// `false` if the stored row is newer (last writer wins): nothing was
    /// written and the caller should free the new row's blobs.
    pub applied: bool,
    /// The live row this put replaced, so the caller frees its blobs.
    pub replaced: Option<ObjectRow>,
}

/// What completing a multipart upload did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompleteOutcome {
    /// `false` if a newer object row was stored: the upload is still closed,
    /// and every part is in `unused_parts`.
    pub applied: bool,
    /// The live object row the new one replaced.
    pub replaced: Option<ObjectRow>,
    /// Parts uploaded but not referenced by the stored manifest: the caller
    /// frees their blobs.
    pub unused_parts: Vec<PartRow>,
}

/// A ListObjects (v1 or v2) query. See [`MetaStore::list_objects`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListQuery {
    pub prefix: String,
    /// Empty is treated as no delimiter. May be several characters.
    pub delimiter: Option<String>,
    /// Only keys strictly greater (v1 marker, v2 start-after or the decoded
    /// continuation token).
    pub start_after: Option<String>,
    pub max_keys: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { prefix: String::new(), delimiter: None, start_after: None, max_keys: 1000 }
    }
}

/// An object as a listing shows it: no body (listing never copies inline
/// bodies).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectSummary {
    pub key: String,
    pub ts: Timestamp,
    pub meta: ObjectMeta,
}

// Most entries are objects: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ListEntry {
    Object(ObjectSummary),
    CommonPrefix(String),
}

impl ListEntry {
    /// The key or common prefix: what a next page starts after.
    pub fn marker(&self) -> &str {
        match self {
            ListEntry::Object(o) => &o.key,
            ListEntry::CommonPrefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ListPage {
    /// In key order; objects and common prefixes interleaved.
    pub entries: Vec<ListEntry>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned; pass it as
    /// `start_after` to get the next page.
    pub next_marker: Option<String>,
}

/// A ListObjectVersions query. See [`MetaStore::list_versions`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    /// With `key_marker`: the versions of that key after this one
    /// (`Some(None)`: after its null version) come first.
    pub version_marker: Option<Option<ObjectId>>,
    pub max_keys: usize,
}

impl Default for VersionListQuery {
    fn default() -> Self {
        VersionListQuery {
            prefix: String::new(),
            delimiter: None,
            key_marker: None,
            version_marker: None,
            max_keys: 1000,
        }
    }
}

/// One version as ListObjectVersions shows it (delete markers included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionSummary {
    pub key: String,
    /// `None`: the null version.
    pub version: Option<ObjectId>,
    pub ts: Timestamp,
    pub is_latest: bool,
    pub meta: ObjectMeta,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VersionListEntry {
    Version(VersionSummary),
    CommonPrefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VersionListPage {
    /// By key, each key's versions newest first; common prefixes
    /// interleaved in key order.
    pub entries: Vec<VersionListEntry>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned.
    pub next_key_marker: Option<String>,
    /// When truncated and the last entry was a version: its id.
    pub next_version_marker: Option<Option<ObjectId>>,
}

/// A ListMultipartUploads query. See [`MetaStore::list_uploads`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    /// Only used together with `key_marker`.
    pub upload_id_marker: Option<ObjectId>,
    pub max_uploads: usize,
}

impl Default for UploadListQuery {
    fn default() -> Self {
        UploadListQuery {
            prefix: String::new(),
            delimiter: None,
            key_marker: None,
            upload_id_marker: None,
            max_uploads: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct UploadListPage {
    /// Ordered by key, then upload id (initiation order).
    pub uploads: Vec<UploadRow>,
    /// In key order; counted with the uploads toward `max_uploads`.
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned.
    pub next_key_marker: Option<String>,
    /// When truncated and the last item returned was an upload: its id.
    pub next_upload_id_marker: Option<ObjectId>,
}
