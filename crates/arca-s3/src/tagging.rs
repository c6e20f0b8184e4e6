//! Tagging: Put/Get/DeleteObjectTagging (by version) and
//! Put/Get/DeleteBucketTagging.

use arca_object::Tags;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::error::IntoS3;
use crate::object::{version_ref, version_text};

fn from_dto(tagging: Tagging) -> Tags {
    tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect()
}

fn to_dto(tags: Tags) -> TagSet {
    tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect()
}

pub(crate) async fn put_object_tagging(
    s3: &ArcaS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let tags = from_dto(input.tagging);
    let version = s3.service.set_object_tags(&caller, &input.bucket, &input.key, which, tags).await.s3()?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: version_text(version) }))
}

pub(crate) async fn get_object_tagging(
    s3: &ArcaS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let (tags, version) = s3.service.object_tags(&caller, &input.bucket, &input.key, which).await.s3()?;
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set: to_dto(tags), version_id: version_text(version) }))
}

pub(crate) async fn delete_object_tagging(
    s3: &ArcaS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let version =
        s3.service.set_object_tags(&caller, &input.bucket, &input.key, which, Vec::new()).await.s3()?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: version_text(version) }))
}

pub(crate) async fn put_bucket_tagging(
    s3: &ArcaS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    s3.service.set_bucket_tags(&caller, &input.bucket, from_dto(input.tagging)).await.s3()?;
    Ok(S3Response::new(PutBucketTaggingOutput::default()))
}

/// A bucket without tags answers NoSuchTagSet, as S3 does.
pub(crate) async fn get_bucket_tagging(
    s3: &ArcaS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let caller = caller(&req)?;
    let bucket = s3.service.bucket(&caller, &req.input.bucket).await.s3()?;
    if bucket.tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    }
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_dto(bucket.tags) }))
}

pub(crate) async fn delete_bucket_tagging(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let caller = caller(&req)?;
    s3.service.set_bucket_tags(&caller, &req.input.bucket, Vec::new()).await.s3()?;
    Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
}
