//! Tags: on object versions (Put/Get/DeleteObjectTagging, x-amz-tagging on
//! writes) and on buckets, with S3's limits.
//!
//! An object's tags live in its version's row, so a GET reports their count
//! without another read; changing them rewrites that one row through the
//! bucket's index range, guarded by the row's timestamp so a version
//! replaced in between is never given the tags meant for another.

use arca_meta::BucketRow;
use arca_meta::raft::VersionChange;

use crate::error::{ObjectError, ObjectResult};
use crate::versions::{VersionRef, sub_resource_error};
use crate::{Caller, ObjectService};

/// Tags as S3 carries them: (key, value) pairs in the order given.
pub type Tags = Vec<(String, String)>;

/// S3's limits: 10 tags on an object, 50 on a bucket; keys of 1 to 128
/// Unicode characters, values of up to 256; no key twice.
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;

fn invalid(why: &str) -> ObjectError {
    ObjectError::InvalidTag(why.to_owned())
}

/// Checks a tag set against S3's limits (`max` tags).
pub fn validate_tags(tags: &Tags, max: usize) -> ObjectResult<()> {
    if tags.len() > max {
        return Err(ObjectError::BadRequest(format!("Object tags cannot be greater than {max}")));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if value.chars().count() > 256 {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

/// Parses x-amz-tagging: a URL query string, `k1=v1&k2=v2`.
pub fn parse_tagging_header(header: &str) -> ObjectResult<Tags> {
    let tags: Tags =
        form_urlencoded::parse(header.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    validate_tags(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

impl ObjectService {
    /// PutObjectTagging (empty `tags`: DeleteObjectTagging). Returns the
    /// version id to report.
    pub async fn set_object_tags(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
        tags: Tags,
    ) -> ObjectResult<Option<VersionRef>> {
        validate_tags(&tags, MAX_OBJECT_TAGS)?;
        let bucket = self.bucket(caller, bucket).await?;
        self.update_version(&bucket, key, which, move || VersionChange::Tags(tags.clone())).await
    }

    /// GetObjectTagging: the tags and the version id to report.
    pub async fn object_tags(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
    ) -> ObjectResult<(Tags, Option<VersionRef>)> {
        let bucket = self.bucket(caller, bucket).await?;
        let row = self.readable_version(&bucket, key, which).await.map_err(sub_resource_error)?;
        Ok((row.meta.tags, VersionRef::reported(&bucket, row.version)))
    }

    /// The tags of version `which` of `key`, for a bucket policy's
    /// `s3:ExistingObjectTag` conditions (read before access is decided;
    /// none when that version is absent or a delete marker).
    pub async fn version_tags(&self, bucket: &BucketRow, key: &str, which: VersionRef) -> ObjectResult<Tags> {
        match self.readable_version(bucket, key, which).await {
            Ok(row) => Ok(row.meta.tags),
            Err(ObjectError::NoSuchKey | ObjectError::NoSuchVersion | ObjectError::DeleteMarker { .. }) => {
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// PutBucketTagging (empty `tags`: DeleteBucketTagging). Only the owner
    /// (or root) may.
    pub async fn set_bucket_tags(&self, caller: &Caller, name: &str, tags: Tags) -> ObjectResult<()> {
        validate_tags(&tags, MAX_BUCKET_TAGS)?;
        self.update_bucket(caller, name, |bucket| {
            bucket.tags = tags.clone();
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tagging_header_parses_and_limits_hold() {
        let tags = parse_tagging_header("a=1&b%20c=d%26e&empty=").unwrap();
        assert_eq!(
            tags,
            vec![("a".into(), "1".into()), ("b c".into(), "d&e".into()), ("empty".into(), "".into())]
        );
        assert!(matches!(parse_tagging_header("a=1&a=2"), Err(ObjectError::InvalidTag(_))));
        assert!(matches!(parse_tagging_header("=v"), Err(ObjectError::InvalidTag(_))));
        let long = format!("k={}", "v".repeat(257));
        assert!(matches!(parse_tagging_header(&long), Err(ObjectError::InvalidTag(_))));
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(matches!(parse_tagging_header(&many.join("&")), Err(ObjectError::BadRequest(_))));
        assert_eq!(parse_tagging_header(&many[..10].join("&")).unwrap().len(), 10);
    }
}
