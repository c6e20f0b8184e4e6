//! Buckets: creating, finding, deleting and listing them, and who may use one.
//!
//! Every access key is an owner. The key that creates a bucket owns it; other
//! keys get AccessDenied unless the owner or root granted them the bucket.
//! The root key may use every bucket.

use arca_meta::BucketRow;
use arca_types::ObjectId;

use crate::error::{ObjectError, ObjectResult};
use crate::names::validate_bucket_name;
use crate::{Caller, ObjectService};

impl Caller {
    /// Whether this caller may read and write `bucket`.
    pub fn may_use(&self, bucket: &BucketRow) -> bool {
        self.is_root || bucket.owner == self.access_key || bucket.grants.contains(&self.access_key)
    }
}

impl ObjectService {
    /// Creates `name`, owned by the caller, in this service's region.
    pub async fn create_bucket(&self, caller: &Caller, name: &str) -> ObjectResult<BucketRow> {
        validate_bucket_name(name)?;
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
        };
        let created = row.clone();
        let result = self
            .inner
            .buckets
            .change(async {
                self.with_meta(move |m| m.create_bucket(row)).await?;
                Ok((created.clone(), vec![(created.name.clone(), Some(created))]))
            })
            .await;
        match result {
            // Tell the owner apart from everyone else, as S3 does.
            Err(ObjectError::BucketAlreadyExists) => match self.bucket_row(name).await? {
                Some(existing) if existing.owner == caller.access_key => {
                    Err(ObjectError::BucketAlreadyOwnedByYou)
                }
                _ => Err(ObjectError::BucketAlreadyExists),
            },
            other => other,
        }
    }

    /// The live bucket `name`, whoever may use it.
    async fn bucket_row(&self, name: &str) -> ObjectResult<Option<BucketRow>> {
        let owned = name.to_owned();
        self.inner.buckets.get(name, self.with_meta(move |m| m.get_bucket(&owned))).await
    }

    /// The bucket `name`, if it exists and the caller may use it.
    pub async fn bucket(&self, caller: &Caller, name: &str) -> ObjectResult<BucketRow> {
        let bucket = self.bucket_row(name).await?.ok_or(ObjectError::NoSuchBucket)?;
        if caller.may_use(&bucket) { Ok(bucket) } else { Err(ObjectError::AccessDenied) }
    }

    /// Deletes an empty bucket. Only its owner (or root) may.
    pub async fn delete_bucket(&self, caller: &Caller, name: &str) -> ObjectResult<()> {
        let bucket = self.bucket(caller, name).await?;
        if !caller.is_root && bucket.owner != caller.access_key {
            return Err(ObjectError::AccessDenied);
        }
        let ts = self.clock().now();
        let owned = name.to_owned();
        self.inner
            .buckets
            .change(async {
                self.with_meta(move |m| m.delete_bucket(&owned, ts)).await?;
                Ok(((), vec![(name.to_owned(), None)]))
            })
            .await
    }

    /// The buckets the caller may use, by name.
    pub async fn list_buckets(&self, caller: &Caller) -> ObjectResult<Vec<BucketRow>> {
        let all = self.with_meta(|m| m.list_buckets()).await?;
        Ok(all.into_iter().filter(|b| caller.may_use(b)).collect())
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
        let mut bucket = self.bucket(caller, name).await?;
        if !caller.is_root && bucket.owner != caller.access_key {
            return Err(ObjectError::AccessDenied);
        }
        bucket.grants.retain(|k| k != access_key);
        if allow {
            bucket.grants.push(access_key.to_owned());
        }
        bucket.ts = self.clock().now();
        let row = bucket.clone();
        self.inner
            .buckets
            .change(async {
                self.with_meta(move |m| m.update_bucket(row)).await?;
                Ok((bucket.clone(), vec![(bucket.name.clone(), Some(bucket))]))
            })
            .await
    }

    /// Objects, bytes and live uploads of a bucket.
    pub async fn bucket_stats(&self, bucket: &BucketRow) -> ObjectResult<arca_meta::BucketStats> {
        let id = bucket.id;
        self.with_meta(move |m| m.bucket_stats(id)).await
    }
}
