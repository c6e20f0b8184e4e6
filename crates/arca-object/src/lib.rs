//! ObjectService: buckets, objects, multipart uploads and listings, over the
//! cluster (arca-cluster): the catalog and the bucket index ranges on Raft,
//! and replicated blobs placed by the ring.
//!
//! This is the layer every frontend (S3 today, Swift later) calls. It owns
//! the semantics — who may touch a bucket, what an overwrite does to the old
//! body, how a multipart upload becomes one object without copying — and
//! none of the wire format, nor where the leaders and copies are: a single
//! node is a cluster of one and runs exactly this code.

mod access;
mod acl;
mod bucket;
mod conditions;
mod cors;
mod crypt;
mod error;
mod keys;
mod list;
mod lock;
mod maintenance;
mod multipart;
mod names;
mod object;
mod read;
mod reclaim;
mod sse;
mod tagging;
mod versions;
mod write;

use std::sync::Arc;
use std::time::Duration;

use arca_cluster::{BlobPlacement, Cluster};
use arca_types::Clock;

pub use access::{OWNERSHIP_SETTINGS, PublicAccessBlock, Verdict};
pub use acl::{Acl, AclTarget, canned_acl};
pub use arca_meta::{
    AclGrant, AclPermission, BucketRow, BucketStats, DefaultRetention, Grantee, KeyRow, ListEntry, ListPage,
    ListQuery, LockMode, ManifestPart, ObjectBody, ObjectLock, ObjectMeta, ObjectRow, ObjectSummary, PartRow,
    PutCondition, Retention, RetentionPeriod, UploadListPage, UploadListQuery, UploadRow, VersionListEntry,
    VersionListPage, VersionListQuery, VersionSummary, Versioning,
};
pub use conditions::{Conditions, etag_matches};
pub use cors::{CorsGrant, CorsRule, MAX_CORS_RULES, match_rule};
pub use error::{ObjectError, ObjectResult, StdError};
pub use keys::{generate_access_key, generate_secret_key};
pub use lock::{lock_mode, retain_until, validate_default_retention};
pub use maintenance::{MaintenanceConfig, start_maintenance};
pub use multipart::{CompletedPart, MAX_PART_NUMBER, MIN_PART_SIZE};
pub use names::{validate_bucket_name, validate_key};
pub use object::{
    BodyCheck, ByteRange, CopySource, GetObject, MAX_COPY_SOURCE, MAX_USER_METADATA, ObjectRead,
    Preconditions, PutObject, Written,
};
pub use read::BodyStream;
pub use sse::{CustomerKey, SseRequest};
pub use tagging::{MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, Tags, parse_tagging_header, validate_tags};
pub use versions::{Deleted, VersionRef};
pub use write::MAX_OBJECT_SIZE;

use reclaim::Reclaimer;
use write::BodyWriter;

/// Who is making a request: an authenticated access key, or no one
/// (an anonymous request, served only where a bucket policy allows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Empty for an anonymous request.
    pub access_key: String,
    /// The root key may touch every bucket and manage keys.
    pub is_root: bool,
    /// The bucket whose policy or ACL allowed this request (the access
    /// check decided it for this request's action on this bucket alone).
    pub policy_bucket: Option<String>,
    /// The bucket a copy may read its source from by its policy or ACL
    /// (decided for that source alone).
    pub copy_source_bucket: Option<String>,
}

impl Caller {
    pub fn key(access_key: String, is_root: bool) -> Caller {
        Caller { access_key, is_root, policy_bucket: None, copy_source_bucket: None }
    }

    pub fn anonymous() -> Caller {
        Caller::key(String::new(), false)
    }

    pub fn is_anonymous(&self) -> bool {
        self.access_key.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct ObjectConfig {
    /// Objects are cut into blobs of this many bytes (R1: 4 MiB).
    pub stripe_size: usize,
    /// Bodies up to this size are stored inside their metadata row.
    pub inline_threshold: usize,
    /// The region buckets report and CreateBucket accepts.
    pub region: String,
    /// How long the blobs of an overwritten or deleted object stay readable
    /// for GETs already streaming them.
    pub reclaim_grace: Duration,
    /// A request body that sends nothing for this long is refused with
    /// RequestTimeout, so a stalled client cannot hold a request open.
    pub body_idle_timeout: Duration,
    /// The master key that seals SSE-S3 data keys; without one, SSE-S3 is
    /// refused (NotImplemented).
    pub master_key: Option<[u8; 32]>,
}

impl Default for ObjectConfig {
    fn default() -> Self {
        ObjectConfig {
            stripe_size: 4 << 20,
            inline_threshold: 4 << 10,
            region: "us-east-1".to_owned(),
            reclaim_grace: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            master_key: None,
        }
    }
}

/// Buckets, objects, uploads and listings. Cheap to clone.
#[derive(Clone)]
pub struct ObjectService {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Arc<Cluster>,
    clock: Arc<Clock>,
    config: ObjectConfig,
    reclaimer: Reclaimer,
    policies: access::PolicyCache,
}

impl ObjectService {
    /// Must be called inside a tokio runtime (it starts the reclaimer task).
    pub fn new(cluster: Arc<Cluster>, clock: Arc<Clock>, config: ObjectConfig) -> Self {
        let reclaimer = Reclaimer::start(cluster.blobs().clone(), config.reclaim_grace);
        ObjectService {
            inner: Arc::new(Inner { cluster, clock, config, reclaimer, policies: Default::default() }),
        }
    }

    pub fn config(&self) -> &ObjectConfig {
        &self.inner.config
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.inner.cluster
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn placement(&self) -> &Arc<BlobPlacement> {
        self.inner.cluster.blobs()
    }

    fn writer(&self) -> BodyWriter {
        BodyWriter {
            placement: self.placement().clone(),
            clock: self.inner.clock.clone(),
            reclaimer: self.inner.reclaimer.clone(),
            stripe_size: self.inner.config.stripe_size,
            inline_threshold: self.inner.config.inline_threshold,
            idle_timeout: self.inner.config.body_idle_timeout,
        }
    }
}
