//! Access sub-resources: Put/Get/DeleteBucketPolicy and
//! GetBucketPolicyStatus, Put/Get/DeletePublicAccessBlock,
//! Put/Get/DeleteBucketOwnershipControls, and the ACL calls.
//!
//! Arca keeps no per-grantee ACLs: access is the owner's, the keys the
//! bucket grants (`arca bucket allow`) and what the bucket policy allows.
//! So Get{Bucket,Object}Acl answer the owner's FULL_CONTROL, and
//! Put{Bucket,Object}Acl accept only the canned ACLs that grant nothing
//! more (S3's answer to anything else with ACLs disabled is
//! AccessControlListNotSupported).

use arca_object::PublicAccessBlock;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::ArcaS3;
use crate::auth::caller;
use crate::error::IntoS3;
use crate::unsupported;

pub(crate) async fn put_bucket_policy(
    s3: &ArcaS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    s3.service.set_policy(&caller, &input.bucket, Some(input.policy)).await.s3()?;
    Ok(S3Response::new(PutBucketPolicyOutput::default()))
}

pub(crate) async fn get_bucket_policy(
    s3: &ArcaS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let caller = caller(&req)?;
    let policy = s3.service.policy(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub(crate) async fn delete_bucket_policy(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let caller = caller(&req)?;
    s3.service.set_policy(&caller, &req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
}

pub(crate) async fn get_bucket_policy_status(
    s3: &ArcaS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let caller = caller(&req)?;
    let public = s3.service.policy_is_public(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus { is_public: Some(public) }),
    }))
}

pub(crate) async fn put_public_access_block(
    s3: &ArcaS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let caller = caller(&req)?;
    let c = req.input.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    s3.service.set_public_access_block(&caller, &req.input.bucket, Some(block)).await.s3()?;
    Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
}

pub(crate) async fn get_public_access_block(
    s3: &ArcaS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let caller = caller(&req)?;
    let b = s3.service.public_access_block(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(b.block_public_acls),
            ignore_public_acls: Some(b.ignore_public_acls),
            block_public_policy: Some(b.block_public_policy),
            restrict_public_buckets: Some(b.restrict_public_buckets),
        }),
    }))
}

pub(crate) async fn delete_public_access_block(
    s3: &ArcaS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let caller = caller(&req)?;
    s3.service.set_public_access_block(&caller, &req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
}

pub(crate) async fn put_bucket_ownership_controls(
    s3: &ArcaS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let setting = match input.ownership_controls.rules.as_slice() {
        [rule] => rule.object_ownership.as_str().to_owned(),
        _ => return Err(crate::error::to_s3(arca_object::ObjectError::MalformedXml)),
    };
    s3.service.set_ownership(&caller, &input.bucket, Some(setting)).await.s3()?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
}

pub(crate) async fn get_bucket_ownership_controls(
    s3: &ArcaS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let caller = caller(&req)?;
    let setting = s3.service.ownership(&caller, &req.input.bucket).await.s3()?;
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule { object_ownership: ObjectOwnership::from(setting) }],
        }),
    }))
}

pub(crate) async fn delete_bucket_ownership_controls(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let caller = caller(&req)?;
    s3.service.set_ownership(&caller, &req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput::default()))
}

/// The ACL every bucket and object has: its owner's FULL_CONTROL.
async fn owner_acl(s3: &ArcaS3, owner: &str) -> S3Result<(Owner, Grants)> {
    let owner = s3.owner(owner).await?;
    let grant = Grant {
        grantee: Some(Grantee {
            display_name: owner.display_name.clone(),
            email_address: None,
            id: owner.id.clone(),
            type_: Type::from(Type::CANONICAL_USER.to_owned()),
            uri: None,
        }),
        permission: Some(Permission::from(Permission::FULL_CONTROL.to_owned())),
    };
    Ok((owner, vec![grant]))
}

pub(crate) async fn get_bucket_acl(
    s3: &ArcaS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let caller = caller(&req)?;
    let bucket = s3.service.bucket(&caller, &req.input.bucket).await.s3()?;
    let (owner, grants) = owner_acl(s3, &bucket.owner).await?;
    Ok(S3Response::new(GetBucketAclOutput { owner: Some(owner), grants: Some(grants) }))
}

pub(crate) async fn get_object_acl(
    s3: &ArcaS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    // The object must exist (and be readable) for its ACL to be read.
    let get = arca_object::GetObject {
        bucket: input.bucket.clone(),
        key: input.key,
        version: crate::object::version_ref(input.version_id.as_deref())?,
        ..Default::default()
    };
    s3.service.get_object(&caller, get, false).await.s3()?;
    let bucket = s3.service.bucket(&caller, &input.bucket).await.s3()?;
    let (owner, grants) = owner_acl(s3, &bucket.owner).await?;
    Ok(S3Response::new(GetObjectAclOutput { owner: Some(owner), grants: Some(grants), ..Default::default() }))
}

fn any_grant(full: bool, read: bool, read_acp: bool, write: bool, write_acp: bool, policy: bool) -> bool {
    full || read || read_acp || write || write_acp || policy
}

pub(crate) async fn put_bucket_acl(
    s3: &ArcaS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let caller = caller(&req)?;
    let i = req.input;
    let grants = any_grant(
        i.grant_full_control.is_some(),
        i.grant_read.is_some(),
        i.grant_read_acp.is_some(),
        i.grant_write.is_some(),
        i.grant_write_acp.is_some(),
        i.access_control_policy.is_some(),
    );
    unsupported::check_acl(i.acl.as_ref().map(|a| a.as_str()), grants)?;
    s3.service.bucket(&caller, &i.bucket).await.s3()?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub(crate) async fn put_object_acl(
    s3: &ArcaS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let caller = caller(&req)?;
    let i = req.input;
    let grants = any_grant(
        i.grant_full_control.is_some(),
        i.grant_read.is_some(),
        i.grant_read_acp.is_some(),
        i.grant_write.is_some(),
        i.grant_write_acp.is_some(),
        i.access_control_policy.is_some(),
    );
    unsupported::check_acl(i.acl.as_ref().map(|a| a.as_str()), grants)?;
    let get = arca_object::GetObject {
        bucket: i.bucket,
        key: i.key,
        version: crate::object::version_ref(i.version_id.as_deref())?,
        ..Default::default()
    };
    s3.service.get_object(&caller, get, false).await.s3()?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
