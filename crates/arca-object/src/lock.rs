//! S3 Object Lock: a bucket's lock configuration and default retention,
//! and each version's retention and legal hold.
//!
//! What a lock forbids is enforced where versions are destroyed — in the
//! index range's apply (arca-meta `objects.rs`), the one path every delete
//! of a version takes, whichever frontend or background task asked for it.
//! This module owns the rest: which buckets may hold locks (versioning
//! stays Enabled on them), which retention a new version gets, and the
//! rules for reading and changing it.

use std::time::Duration;

use arca_meta::raft::VersionChange;
use arca_meta::{
    BucketRow, DefaultRetention, LockMode, ObjectLock, ObjectMeta, Retention, RetentionPeriod, Versioning,
};
use arca_types::Timestamp;

use crate::error::{ObjectError, ObjectResult};
use crate::versions::{VersionRef, sub_resource_error};
use crate::{Caller, ObjectService};

const DAY: u64 = 86_400 * 1_000_000;

fn missing_configuration() -> ObjectError {
    ObjectError::InvalidRequest("Bucket is missing Object Lock Configuration".into())
}

/// The end of a default retention that starts at `from`.
fn retention_end(default: &DefaultRetention, from: Timestamp) -> u64 {
    let days = match default.period {
        RetentionPeriod::Days(d) => u64::from(d),
        RetentionPeriod::Years(y) => u64::from(y) * 365,
    };
    from.micros.saturating_add(days.saturating_mul(DAY))
}

/// Checks the lock a write asks for (`meta.retention`, `meta.legal_hold`)
/// against its bucket at `ts`, and gives a version that asks for no
/// retention the bucket's default one.
pub(crate) fn lock_new_version(bucket: &BucketRow, meta: &mut ObjectMeta, ts: Timestamp) -> ObjectResult<()> {
    let Some(lock) = &bucket.object_lock else {
        if meta.retention.is_some() || meta.legal_hold {
            return Err(missing_configuration());
        }
        return Ok(());
    };
    match meta.retention {
        Some(r) if r.until_micros <= ts.micros => {
            Err(ObjectError::InvalidArgument("The retain until date must be in the future!".into()))
        }
        Some(_) => Ok(()),
        None => {
            meta.retention = lock
                .default_retention
                .as_ref()
                .map(|d| Retention { mode: d.mode, until_micros: retention_end(d, ts) });
            Ok(())
        }
    }
}

/// Checks a default retention as PutObjectLockConfiguration gives it.
pub fn validate_default_retention(default: &DefaultRetention) -> ObjectResult<()> {
    let n = match default.period {
        RetentionPeriod::Days(d) => d,
        RetentionPeriod::Years(y) => y,
    };
    if n == 0 {
        return Err(ObjectError::InvalidArgument(
            "Default retention period must be a positive integer value".into(),
        ));
    }
    Ok(())
}

impl ObjectService {
    /// PutObjectLockConfiguration: enables Object Lock on a bucket whose
    /// versioning is Enabled (S3 allows that since 2023; a bucket created
    /// with the lock has it from the start), with or without a default
    /// retention. The lock itself can never be turned off.
    pub async fn set_lock_configuration(
        &self,
        caller: &Caller,
        name: &str,
        default_retention: Option<DefaultRetention>,
    ) -> ObjectResult<()> {
        if let Some(d) = &default_retention {
            validate_default_retention(d)?;
        }
        self.update_bucket(caller, name, |bucket| {
            if bucket.versioning != Versioning::Enabled {
                return Err(ObjectError::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".into(),
                ));
            }
            bucket.object_lock = Some(ObjectLock { default_retention });
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// GetObjectLockConfiguration.
    pub async fn lock_configuration(&self, caller: &Caller, name: &str) -> ObjectResult<ObjectLock> {
        let bucket = self.bucket(caller, name).await?;
        bucket.object_lock.ok_or(ObjectError::ObjectLockConfigurationNotFound)
    }

    /// PutObjectRetention (`None` removes it, which only a GOVERNANCE
    /// bypass may do to one in force).
    pub async fn set_retention(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
        retention: Option<Retention>,
        bypass_governance: bool,
    ) -> ObjectResult<Option<VersionRef>> {
        let bucket = self.bucket(caller, bucket).await?;
        if bucket.object_lock.is_none() {
            return Err(missing_configuration());
        }
        let now = self.clock().now();
        if retention.is_some_and(|r| r.until_micros <= now.micros) {
            return Err(ObjectError::InvalidArgument("The retain until date must be in the future!".into()));
        }
        self.update_version(&bucket, key, which, || VersionChange::Retention {
            retention,
            bypass_governance,
            now,
        })
        .await
    }

    /// PutObjectLegalHold.
    pub async fn set_legal_hold(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
        on: bool,
    ) -> ObjectResult<Option<VersionRef>> {
        let bucket = self.bucket(caller, bucket).await?;
        if bucket.object_lock.is_none() {
            return Err(missing_configuration());
        }
        self.update_version(&bucket, key, which, || VersionChange::LegalHold(on)).await
    }

    /// GetObjectRetention and GetObjectLegalHold: the version's lock.
    pub async fn object_lock(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
    ) -> ObjectResult<(Option<Retention>, bool)> {
        let bucket = self.bucket(caller, bucket).await?;
        if bucket.object_lock.is_none() {
            return Err(missing_configuration());
        }
        let row = self.readable_version(&bucket, key, which).await.map_err(sub_resource_error)?;
        Ok((row.meta.retention, row.meta.legal_hold))
    }
}

/// A retention's end as a wall-clock time.
pub fn retain_until(retention: &Retention) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_micros(retention.until_micros)
}

/// Whether a mode string is one S3 knows.
pub fn lock_mode(mode: &str) -> ObjectResult<LockMode> {
    match mode {
        "GOVERNANCE" => Ok(LockMode::Governance),
        "COMPLIANCE" => Ok(LockMode::Compliance),
        other => Err(ObjectError::InvalidArgument(format!("Unknown wormMode directive: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(lock: Option<ObjectLock>) -> BucketRow {
        BucketRow {
            name: "b".into(),
            id: arca_types::ObjectId([1; 16]),
            owner: "o".into(),
            created: Timestamp::ZERO,
            region: "r".into(),
            grants: vec![],
            ts: Timestamp::ZERO,
            deleted: false,
            versioning: Versioning::Enabled,
            tags: vec![],
            object_lock: lock,
            attrs: Vec::new(),
        }
    }

    #[test]
    fn new_versions_get_the_default_retention_or_their_own() {
        let now = Timestamp::new(1_000 * DAY, 1);
        let default = DefaultRetention { mode: LockMode::Compliance, period: RetentionPeriod::Days(2) };
        let locked = bucket(Some(ObjectLock { default_retention: Some(default) }));
        let mut meta = ObjectMeta::default();
        lock_new_version(&locked, &mut meta, now).unwrap();
        assert_eq!(meta.retention, Some(Retention { mode: LockMode::Compliance, until_micros: 1_002 * DAY }));

        let own = Retention { mode: LockMode::Governance, until_micros: 1_001 * DAY };
        let mut meta = ObjectMeta { retention: Some(own), ..ObjectMeta::default() };
        lock_new_version(&locked, &mut meta, now).unwrap();
        assert_eq!(meta.retention, Some(own));

        let past = Retention { mode: LockMode::Governance, until_micros: 999 * DAY };
        let mut meta = ObjectMeta { retention: Some(past), ..ObjectMeta::default() };
        assert!(matches!(lock_new_version(&locked, &mut meta, now), Err(ObjectError::InvalidArgument(_))));

        let mut meta = ObjectMeta { legal_hold: true, ..ObjectMeta::default() };
        assert!(matches!(
            lock_new_version(&bucket(None), &mut meta, now),
            Err(ObjectError::InvalidRequest(_))
        ));
    }
}
