//! Buckets: creating, finding, deleting and listing them, and who may use one.
//!
//! Every access key is an owner. The key that creates a bucket owns it; other
//! keys get AccessDenied unless the owner or root granted them the bucket.
//! The root key may use every bucket.

use arca_cluster::ClusterError;
use arca_meta::raft::CatalogCommand;
use arca_meta::{BucketRow, MetaError, ObjectLock, Versioning};
use arca_types::ObjectId;

use crate::error::{ObjectError, ObjectResult};
use crate::names::validate_bucket_name;
use crate::{Caller, ObjectService};

impl Caller {
    /// Whether this caller may read and write `bucket`.
    pub fn may_use(&self, bucket: &BucketRow) -> bool {
        self.is_root
            || (!self.is_anonymous()
                && (bucket.owner == self.access_key || bucket.grants.contains(&self.access_key)))
            || self.policy_bucket.as_deref() == Some(bucket.name.as_str())
    }
}

impl ObjectService {
    /// Creates `name`, owned by the caller, in this service's region, with
    /// its index range; with `object_lock`, versioned and lockable from the
    /// start. Of two concurrent creations of one name on any gateways,
    /// exactly one succeeds (the catalog's log orders them).
    pub async fn create_bucket(
        &self,
        caller: &Caller,
        name: &str,
        object_lock: bool,
    ) -> ObjectResult<BucketRow> {
        validate_bucket_name(name)?;
        if caller.is_anonymous() {
            return Err(ObjectError::AccessDenied);
        }
        let now = self.clock().now();
        let row = BucketRow {
            name: name.to_owned(),
            id: ObjectId::random(),
            owner: caller.access_key.clone(),
            created: now,
            region: self.config().region.clone(),
            grants: Vec::new(),
            ts: now,
            deleted: false,
            versioning: if object_lock { Versioning::Enabled } else { Versioning::Unversioned },
            tags: Vec::new(),
            object_lock: object_lock.then(ObjectLock::default),
            attrs: Vec::new(),
        };
        match self.cluster().create_bucket(row.clone()).await {
            Ok(()) => Ok(row),
            // Tell the owner apart from everyone else, as S3 does.
            Err(ClusterError::Meta(MetaError::BucketExists(existing))) => {
                if existing.owner == caller.access_key {
                    Err(ObjectError::BucketAlreadyOwnedByYou)
                } else {
                    Err(ObjectError::BucketAlreadyExists)
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The bucket `name`, if it exists and the caller may use it.
    pub async fn bucket(&self, caller: &Caller, name: &str) -> ObjectResult<BucketRow> {
        let bucket = self.cluster().bucket(name).await?.ok_or(ObjectError::NoSuchBucket)?;
        if caller.may_use(&bucket) { Ok(bucket) } else { Err(ObjectError::AccessDenied) }
    }

    /// The bucket `name` if the caller owns it (or is root).
    pub(crate) async fn owned_bucket(&self, caller: &Caller, name: &str) -> ObjectResult<BucketRow> {
        let bucket = self.bucket(caller, name).await?;
        if !caller.is_root && bucket.owner != caller.access_key {
            return Err(ObjectError::AccessDenied);
        }
        Ok(bucket)
    }

    /// Deletes an empty bucket. Only its owner (or root) may.
    pub async fn delete_bucket(&self, caller: &Caller, name: &str) -> ObjectResult<()> {
        let bucket = self.owned_bucket(caller, name).await?;
        let ts = self.clock().now();
        Ok(self.cluster().delete_bucket(&bucket, ts).await?)
    }

    /// The buckets the caller may use, by name, as the catalog's leader
    /// knows them.
    pub async fn list_buckets(&self, caller: &Caller) -> ObjectResult<Vec<BucketRow>> {
        self.cluster().sync_catalog().await?;
        let mut all: Vec<BucketRow> = self
            .cluster()
            .catalog()
            .read(|c| c.buckets.values().filter(|b| caller.may_use(b)).cloned().collect());
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Grants (or, with `allow == false`, revokes) `access_key` the use of a
    /// bucket. Only the owner or root may.
    pub async fn set_grant(
        &self,
        caller: &Caller,
        name: &str,
        access_key: &str,
        allow: bool,
    ) -> ObjectResult<BucketRow> {
        self.update_bucket(caller, name, |bucket| {
            bucket.grants.retain(|k| k != access_key);
            if allow {
                bucket.grants.push(access_key.to_owned());
            }
            Ok(())
        })
        .await
    }

    /// Changes a bucket the caller owns: `change` is applied to the row as
    /// the catalog holds it, and the new row is written only if no other
    /// change landed in between (else read again and retried), so two
    /// settings changed at once both stay.
    pub(crate) async fn update_bucket(
        &self,
        caller: &Caller,
        name: &str,
        change: impl Fn(&mut BucketRow) -> ObjectResult<()>,
    ) -> ObjectResult<BucketRow> {
        for _ in 0..8 {
            let mut bucket = self.owned_bucket(caller, name).await?;
            let expect = bucket.ts;
            change(&mut bucket)?;
            bucket.ts = self.clock().now();
            let command = CatalogCommand::UpdateBucketIf { row: bucket.clone(), expect };
            match self.cluster().catalog_write(command).await {
                Ok(_) => return Ok(bucket),
                Err(ClusterError::Meta(MetaError::PreconditionFailed)) => {
                    self.cluster().sync_catalog().await?
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(ObjectError::ServiceUnavailable("the bucket kept changing; retry".into()))
    }

    /// Sets (or, with `None`, removes) a sub-resource document of a bucket
    /// the caller owns.
    pub(crate) async fn set_bucket_attr(
        &self,
        caller: &Caller,
        name: &str,
        attr: &str,
        document: Option<String>,
    ) -> ObjectResult<()> {
        self.update_bucket(caller, name, |bucket| {
            bucket.set_attr(attr, document.clone());
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// A bulk load (`arca bucket load`, root only): `count` empty objects
    /// named `prefix` + 16 hex digits of a bijective mix of `start + i`,
    /// so keys spread over the whole key space and a later load with
    /// another `start` adds new ones. Rows go through the index's own
    /// write path, batches of 1000 rows per range entry, four in flight.
    pub async fn load_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        prefix: &str,
        start: u64,
        count: u64,
    ) -> ObjectResult<u64> {
        use futures::StreamExt;
        const BATCH: u64 = 1000;
        if !caller.is_root {
            return Err(ObjectError::AccessDenied);
        }
        let bucket = self.bucket(caller, bucket).await?;
        let batches = (0..count.div_ceil(BATCH)).map(|b| {
            let first = start + b * BATCH;
            let last = (start + count).min(first + BATCH);
            let rows: Vec<arca_meta::ObjectRow> = (first..last)
                .map(|n| arca_meta::ObjectRow {
                    bucket: bucket.id,
                    key: format!("{prefix}{:016x}", mix64(n)),
                    version: None,
                    ts: self.clock().now(),
                    deleted: false,
                    meta: arca_meta::ObjectMeta {
                        etag: "\"d41d8cd98f00b204e9800998ecf8427e\"".into(),
                        owner: bucket.owner.clone(),
                        ..Default::default()
                    },
                    body: arca_meta::ObjectBody::Inline(Vec::new()),
                })
                .collect();
            self.cluster().load_rows(bucket.id, rows)
        });
        let mut loaded = 0;
        let mut results = futures::stream::iter(batches).buffer_unordered(4);
        while let Some(result) = results.next().await {
            loaded += result?;
        }
        Ok(loaded)
    }

    /// Objects, bytes and live uploads of a bucket.
    pub async fn bucket_stats(&self, bucket: &BucketRow) -> ObjectResult<arca_meta::BucketStats> {
        Ok(self.cluster().bucket_stats(bucket.id).await?)
    }
}

/// splitmix64's finaliser: a bijection on u64 that scatters consecutive
/// numbers over the whole range.
fn mix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
