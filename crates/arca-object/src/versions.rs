//! Object versions: a bucket's versioning state, which version a request
//! names, which version a write makes, delete markers, and listing versions.
//!
//! The index stores every version as a row of (bucket, key, version); this
//! module decides the S3 semantics on top: an Enabled bucket gives every
//! write a new version id and answers a plain DELETE with a delete marker; a
//! Suspended one writes (and deletes with a marker) the null version only;
//! a bucket never versioned keeps the one null version per key it always
//! had, read with a single point lookup.

use std::fmt;
use std::str::FromStr;

use arca_cluster::{ClusterError, IndexAnswer, IndexQuery};
use arca_meta::raft::{IndexCommand, IndexOutcome, VersionChange};
use arca_meta::{
    BucketRow, MetaError, ObjectBody, ObjectMeta, ObjectRow, PutCondition, VersionListPage, VersionListQuery,
    Versioning, timestamp_of_version, version_of,
};
use arca_types::{ObjectId, Timestamp};

use crate::error::{ObjectError, ObjectResult};
use crate::names::validate_key;
use crate::{Caller, ObjectService};

/// Which version of an object a request names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionRef {
    /// No version named: the current one.
    #[default]
    Current,
    /// S3's "null" version.
    Null,
    Id(ObjectId),
}

impl VersionRef {
    /// How a stored row's version is named.
    pub fn of(version: Option<ObjectId>) -> Self {
        version.map_or(VersionRef::Null, VersionRef::Id)
    }

    /// The version id a response reports for a row of `bucket`: none in a
    /// bucket that was never versioned.
    pub fn reported(bucket: &BucketRow, version: Option<ObjectId>) -> Option<Self> {
        bucket.versioning.has_versions().then(|| Self::of(version))
    }
}

/// The text of a version id: `null`, or 32 hex digits.
impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Current => Ok(()),
            VersionRef::Null => f.write_str("null"),
            VersionRef::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Parses a `versionId` (an empty one names the current version); anything
/// that is not a version id Arca made is S3's "Invalid version id specified".
impl FromStr for VersionRef {
    type Err = ObjectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ObjectError::InvalidArgument("Invalid version id specified".into());
        match s {
            "" => Ok(VersionRef::Current),
            "null" => Ok(VersionRef::Null),
            _ => {
                let id: ObjectId = s.parse().map_err(|_| invalid())?;
                timestamp_of_version(id).map(|_| VersionRef::Id(id)).ok_or_else(invalid)
            }
        }
    }
}

/// What a delete did, as S3 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deleted {
    /// The version removed or the delete marker made (none in a bucket
    /// that was never versioned).
    pub version: Option<VersionRef>,
    /// A delete marker was made, or the version removed was one.
    pub delete_marker: bool,
}

/// The version a write at `ts` makes in `bucket`: a new id when versioning
/// is enabled, else the null version.
pub(crate) fn version_for(bucket: &BucketRow, ts: Timestamp) -> Option<ObjectId> {
    (bucket.versioning == Versioning::Enabled).then(|| version_of(ts))
}

impl ObjectService {
    /// PutBucketVersioning: Enabled or Suspended (a bucket never returns to
    /// unversioned). Only the owner (or root) may.
    pub async fn set_versioning(&self, caller: &Caller, name: &str, state: Versioning) -> ObjectResult<()> {
        if state == Versioning::Unversioned {
            return Err(ObjectError::MalformedXml);
        }
        self.update_bucket(caller, name, |bucket| {
            if state == Versioning::Suspended && bucket.object_lock.is_some() {
                return Err(ObjectError::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be \
                     changed."
                        .into(),
                ));
            }
            bucket.versioning = state;
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// The row of the version `which` of `key`, delete markers included.
    pub(crate) async fn version_row(
        &self,
        bucket: &BucketRow,
        key: &str,
        which: VersionRef,
    ) -> ObjectResult<Option<ObjectRow>> {
        let (id, key) = (bucket.id, key.to_owned());
        let query = match which {
            VersionRef::Current if bucket.versioning.has_versions() => {
                IndexQuery::GetCurrent { bucket: id, key }
            }
            VersionRef::Current | VersionRef::Null => IndexQuery::GetObject { bucket: id, key },
            VersionRef::Id(v) => IndexQuery::GetVersion { bucket: id, key, version: Some(v) },
        };
        match self.cluster().index_read(id, query).await? {
            IndexAnswer::Object(row) => Ok(row),
            _ => Err(ObjectError::Internal("unexpected answer to an object read".into())),
        }
    }

    /// The version `which` of `key` as a read sees it: a missing one is
    /// NoSuchKey (NoSuchVersion when named), a delete marker an error that
    /// says so.
    pub(crate) async fn readable_version(
        &self,
        bucket: &BucketRow,
        key: &str,
        which: VersionRef,
    ) -> ObjectResult<ObjectRow> {
        match self.version_row(bucket, key, which).await? {
            None if which == VersionRef::Current => Err(ObjectError::NoSuchKey),
            None => Err(ObjectError::NoSuchVersion),
            Some(row) if row.meta.delete_marker => Err(ObjectError::DeleteMarker {
                version: VersionRef::reported(bucket, row.version),
                last_modified: row.ts,
                named: which != VersionRef::Current,
            }),
            Some(row) => Ok(row),
        }
    }

    /// Changes the version `which` of `key` in place (tags, retention,
    /// legal hold). A write that replaces the version between the read and
    /// the change fails the row's timestamp guard; the change is then made
    /// on what is current. Returns the version id to report.
    pub(crate) async fn update_version(
        &self,
        bucket: &BucketRow,
        key: &str,
        which: VersionRef,
        change: impl Fn() -> VersionChange,
    ) -> ObjectResult<Option<VersionRef>> {
        for _ in 0..3 {
            let row = self.readable_version(bucket, key, which).await.map_err(sub_resource_error)?;
            let command = IndexCommand::UpdateVersion {
                bucket: bucket.id,
                key: key.to_owned(),
                version: row.version,
                ts: row.ts,
                change: change(),
            };
            match self.cluster().index_write(bucket.id, command).await {
                Ok(_) => return Ok(VersionRef::reported(bucket, row.version)),
                Err(ClusterError::Meta(MetaError::PreconditionFailed)) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(ObjectError::ServiceUnavailable("the object changed while it was updated; retry".into()))
    }

    /// DeleteObject: of the current version, a delete marker in a versioned
    /// bucket (the null one when versioning is suspended) or the object
    /// itself in one never versioned; of a named version, that version for
    /// good. Deleting what does not exist succeeds.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
        bypass_governance: bool,
    ) -> ObjectResult<Deleted> {
        validate_key(key)?;
        let bucket = self.bucket(caller, bucket).await?;
        self.delete_in(&bucket, key, which, bypass_governance).await
    }

    pub(crate) async fn delete_in(
        &self,
        bucket: &BucketRow,
        key: &str,
        which: VersionRef,
        bypass_governance: bool,
    ) -> ObjectResult<Deleted> {
        let ts = self.clock().now();
        let (id, key_owned) = (bucket.id, key.to_owned());
        let command = match which {
            VersionRef::Current if bucket.versioning.has_versions() => {
                let marker = ObjectRow {
                    bucket: id,
                    key: key_owned,
                    version: version_for(bucket, ts),
                    ts,
                    deleted: false,
                    meta: ObjectMeta { delete_marker: true, ..ObjectMeta::default() },
                    body: ObjectBody::default(),
                };
                let version = marker.version;
                self.commit_row(marker, PutCondition::Always).await?;
                return Ok(Deleted { version: Some(VersionRef::of(version)), delete_marker: true });
            }
            VersionRef::Current => IndexCommand::DeleteObject { bucket: id, key: key_owned, ts },
            VersionRef::Null => IndexCommand::DeleteVersion {
                bucket: id,
                key: key_owned,
                version: None,
                ts,
                bypass_governance,
            },
            VersionRef::Id(v) => IndexCommand::DeleteVersion {
                bucket: id,
                key: key_owned,
                version: Some(v),
                ts,
                bypass_governance,
            },
        };
        let IndexOutcome::Deleted(removed) = self.cluster().index_write(id, command).await? else {
            return Err(ObjectError::Internal("unexpected answer to a delete".into()));
        };
        let delete_marker = removed.as_ref().is_some_and(|r| r.meta.delete_marker);
        if let Some(old) = removed {
            self.inner.reclaimer.release_later(&old.body);
        }
        let version = match which {
            VersionRef::Current => None,
            named => Some(named),
        };
        Ok(Deleted { version, delete_marker })
    }

    /// ListObjectVersions: one page of a bucket's versions and delete
    /// markers.
    pub async fn list_versions(
        &self,
        caller: &Caller,
        bucket: &str,
        query: VersionListQuery,
    ) -> ObjectResult<(BucketRow, VersionListPage)> {
        let bucket = self.bucket(caller, bucket).await?;
        let page = self.cluster().list_versions(bucket.id, query).await?;
        Ok((bucket, page))
    }
}

/// Reading or changing a delete marker's sub-resources (tags, retention,
/// legal hold) is 405 MethodNotAllowed whether it was named or is current.
pub(crate) fn sub_resource_error(err: ObjectError) -> ObjectError {
    match err {
        ObjectError::DeleteMarker { version, last_modified, .. } => {
            ObjectError::DeleteMarker { version, last_modified, named: true }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_read_back_and_junk_is_refused() {
        let id = version_of(Timestamp::new(1_700_000_000_123_456, 3));
        let text = VersionRef::Id(id).to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<VersionRef>().unwrap(), VersionRef::Id(id));
        assert_eq!("null".parse::<VersionRef>().unwrap(), VersionRef::Null);
        assert_eq!("".parse::<VersionRef>().unwrap(), VersionRef::Current);
        for junk in ["nul", "zz", "00000000000000000000000000000000", "0123456789abcdef0123456789abcdef"] {
            assert!(matches!(junk.parse::<VersionRef>(), Err(ObjectError::InvalidArgument(_))), "{junk}");
        }
    }
}
