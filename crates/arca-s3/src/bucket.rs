//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, Get/PutBucketVersioning.

use arca_object::Versioning;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::convert::timestamp;
use crate::error::IntoS3;
use crate::unsupported;

pub(crate) async fn list_buckets(
    s3: &ArcaS3,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let caller = caller(&req)?;
    let prefix = req.input.prefix.unwrap_or_default();
    let buckets = s3.service.list_buckets(&caller).await.s3()?;
    let buckets = buckets
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix))
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(timestamp(b.created)),
            bucket_region: Some(b.region),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(s3.owner(&caller.access_key).await?),
        ..Default::default()
    }))
}

pub(crate) async fn create_bucket(
    s3: &ArcaS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let caller = caller(&req)?;
    let input = &req.input;
    let grants = input.grant_full_control.is_some()
        || input.grant_read.is_some()
        || input.grant_read_acp.is_some()
        || input.grant_write.is_some()
        || input.grant_write_acp.is_some();
    unsupported::check_acl(input.acl.as_ref().map(|a| a.as_str()), grants)?;
    let object_lock = input.object_lock_enabled_for_bucket == Some(true);
    let region = &s3.service.config().region;
    if let Some(constraint) = req.input.create_bucket_configuration.and_then(|c| c.location_constraint)
        && constraint.as_str() != region.as_str()
    {
        return Err(s3_error!(
            InvalidLocationConstraint,
            "The specified location-constraint is not valid; this endpoint serves {region}"
        ));
    }
    let bucket = s3.service.create_bucket(&caller, &req.input.bucket, object_lock).await.s3()?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", bucket.name)),
        ..Default::default()
    }))
}

pub(crate) async fn head_bucket(
    s3: &ArcaS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let caller = caller(&req)?;
    let bucket = s3.service.bucket(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(bucket.region), ..Default::default() }))
}

pub(crate) async fn delete_bucket(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let caller = caller(&req)?;
    s3.service.delete_bucket(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(crate) async fn get_bucket_location(
    s3: &ArcaS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let caller = caller(&req)?;
    let bucket = s3.service.bucket(&caller, &req.input.bucket).await.s3()?;
    // S3 reports the original region, us-east-1, as an empty constraint.
    let location_constraint =
        (bucket.region != "us-east-1").then(|| BucketLocationConstraint::from(bucket.region.clone()));
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
}

/// A bucket never versioned has a configuration without a status.
pub(crate) async fn get_bucket_versioning(
    s3: &ArcaS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let caller = caller(&req)?;
    let bucket = s3.service.bucket(&caller, &req.input.bucket).await.s3()?;
    let status = match bucket.versioning {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
        Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(|s| BucketVersioningStatus::from(s.to_owned())),
        ..Default::default()
    }))
}

/// Enabled or Suspended; MFA delete is not offered.
pub(crate) async fn put_bucket_versioning(
    s3: &ArcaS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let caller = caller(&req)?;
    let config = req.input.versioning_configuration;
    if config.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
        return Err(s3_error!(NotImplemented, "MFA delete is not supported."));
    }
    let state = match config.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => return Err(s3_error!(MalformedXML, "The versioning status must be Enabled or Suspended.")),
    };
    s3.service.set_versioning(&caller, &req.input.bucket, state).await.s3()?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}
