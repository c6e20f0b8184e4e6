//! Access sub-resources: Put/Get/DeleteBucketPolicy and
//! GetBucketPolicyStatus, Put/Get/DeletePublicAccessBlock,
//! Put/Get/DeleteBucketOwnershipControls, and the ACL calls.
//!
//! ACLs take effect where the bucket's object ownership enables them
//! (arca-object `acl.rs`); Get{Bucket,Object}Acl show the owner's
//! FULL_CONTROL and the grants beyond it.

use arca_object::Grantee as ArcaGrantee;
use arca_object::{Acl, AclGrant, AclPermission, PublicAccessBlock};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::error::IntoS3;

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

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

fn invalid_grantee(what: &str) -> s3s::S3Error {
    s3_error!(InvalidArgument, "Invalid grantee: {what}")
}

fn grantee_of_uri(uri: &str) -> S3Result<ArcaGrantee> {
    match uri {
        ALL_USERS => Ok(ArcaGrantee::AllUsers),
        AUTHENTICATED_USERS => Ok(ArcaGrantee::AuthenticatedUsers),
        other => Err(invalid_grantee(other)),
    }
}

/// Parses one x-amz-grant-* header: `id="AK...", uri="http://acs..."`.
fn grant_header(value: &str, permission: AclPermission, out: &mut Acl) -> S3Result<()> {
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, who) = item.split_once('=').ok_or_else(|| invalid_grantee(item))?;
        let who = who.trim().trim_matches('"');
        let grantee = match kind.trim().to_ascii_lowercase().as_str() {
            "id" => ArcaGrantee::Key(who.to_owned()),
            "uri" => grantee_of_uri(who)?,
            "emailaddress" => {
                return Err(s3_error!(
                    UnresolvableGrantByEmailAddress,
                    "The e-mail address you provided does not match any account on record."
                ));
            }
            _ => return Err(invalid_grantee(item)),
        };
        out.push(AclGrant { grantee, permission });
    }
    Ok(())
}

/// The ACL a request asks for: a canned ACL or x-amz-grant-* headers (not
/// both), each `None` when absent. `None`: the request names no ACL.
pub(crate) fn requested_acl(
    canned: Option<&str>,
    full_control: Option<&str>,
    read: Option<&str>,
    read_acp: Option<&str>,
    write: Option<&str>,
    write_acp: Option<&str>,
) -> S3Result<Option<Acl>> {
    let headers = [
        (full_control, AclPermission::FullControl),
        (read, AclPermission::Read),
        (read_acp, AclPermission::ReadAcp),
        (write, AclPermission::Write),
        (write_acp, AclPermission::WriteAcp),
    ];
    let any_grant = headers.iter().any(|(v, _)| v.is_some());
    match (canned, any_grant) {
        (Some(_), true) => {
            Err(s3_error!(InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed"))
        }
        (Some(name), false) => Ok(Some(arca_object::canned_acl(name).s3()?)),
        (None, true) => {
            let mut acl = Acl::new();
            for (value, permission) in headers {
                if let Some(value) = value {
                    grant_header(value, permission, &mut acl)?;
                }
            }
            Ok(Some(acl))
        }
        (None, false) => Ok(None),
    }
}

/// The ACL of any s3s object write input (their fields share names).
macro_rules! object_acl {
    ($input:expr) => {
        $crate::access::requested_acl(
            $input.acl.as_ref().map(|a| a.as_str()),
            $input.grant_full_control.as_deref(),
            $input.grant_read.as_deref(),
            $input.grant_read_acp.as_deref(),
            None,
            $input.grant_write_acp.as_deref(),
        )?
        .unwrap_or_default()
    };
}
pub(crate) use object_acl;

/// An AccessControlPolicy body as grants beyond the owner's.
fn policy_acl(policy: AccessControlPolicy, owner: &str) -> S3Result<Acl> {
    let mut acl = Acl::new();
    for grant in policy.grants.unwrap_or_default() {
        let permission = match grant.permission.as_ref().map(|p| p.as_str()) {
            Some(Permission::FULL_CONTROL) => AclPermission::FullControl,
            Some(Permission::READ) => AclPermission::Read,
            Some(Permission::READ_ACP) => AclPermission::ReadAcp,
            Some(Permission::WRITE) => AclPermission::Write,
            Some(Permission::WRITE_ACP) => AclPermission::WriteAcp,
            _ => return Err(s3_error!(MalformedACLError, "A grant names no valid permission")),
        };
        let g = grant.grantee.ok_or_else(|| s3_error!(MalformedACLError, "A grant names no grantee"))?;
        let grantee = match (g.id, g.uri, g.email_address) {
            (Some(id), _, _) => ArcaGrantee::Key(id),
            (None, Some(uri), _) => grantee_of_uri(&uri)?,
            (None, None, Some(_)) => {
                return Err(s3_error!(
                    UnresolvableGrantByEmailAddress,
                    "No account has that e-mail address."
                ));
            }
            _ => return Err(s3_error!(MalformedACLError, "A grantee has no id or uri")),
        };
        // The owner's FULL_CONTROL is implied, not stored.
        if grantee == ArcaGrantee::Key(owner.to_owned()) && permission == AclPermission::FullControl {
            continue;
        }
        acl.push(AclGrant { grantee, permission });
    }
    Ok(acl)
}

/// The owner's FULL_CONTROL and the stored grants, as S3 shows an ACL.
async fn shown_acl(s3: &ArcaS3, owner: &str, acl: Acl) -> S3Result<(Owner, Grants)> {
    let owner = s3.owner(owner).await?;
    let permission = |p: AclPermission| {
        Permission::from(
            match p {
                AclPermission::FullControl => Permission::FULL_CONTROL,
                AclPermission::Read => Permission::READ,
                AclPermission::ReadAcp => Permission::READ_ACP,
                AclPermission::Write => Permission::WRITE,
                AclPermission::WriteAcp => Permission::WRITE_ACP,
            }
            .to_owned(),
        )
    };
    let user = |id: Option<String>, name: Option<String>| Grantee {
        display_name: name,
        email_address: None,
        id,
        type_: Type::from(Type::CANONICAL_USER.to_owned()),
        uri: None,
    };
    let group = |uri: &str| Grantee {
        display_name: None,
        email_address: None,
        id: None,
        type_: Type::from(Type::GROUP.to_owned()),
        uri: Some(uri.to_owned()),
    };
    let mut grants = vec![Grant {
        grantee: Some(user(owner.id.clone(), owner.display_name.clone())),
        permission: Some(permission(AclPermission::FullControl)),
    }];
    for g in acl {
        let grantee = match g.grantee {
            ArcaGrantee::Key(key) => user(Some(key), None),
            ArcaGrantee::AllUsers => group(ALL_USERS),
            ArcaGrantee::AuthenticatedUsers => group(AUTHENTICATED_USERS),
        };
        grants.push(Grant { grantee: Some(grantee), permission: Some(permission(g.permission)) });
    }
    Ok((owner, grants))
}

pub(crate) async fn get_bucket_acl(
    s3: &ArcaS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let caller = caller(&req)?;
    let (owner, acl) = s3.service.bucket_acl(&caller, &req.input.bucket).await.s3()?;
    let (owner, grants) = shown_acl(s3, &owner, acl).await?;
    Ok(S3Response::new(GetBucketAclOutput { owner: Some(owner), grants: Some(grants) }))
}

pub(crate) async fn get_object_acl(
    s3: &ArcaS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = crate::object::version_ref(input.version_id.as_deref())?;
    let (owner, acl, _) = s3.service.object_acl(&caller, &input.bucket, &input.key, which).await.s3()?;
    let (owner, grants) = shown_acl(s3, &owner, acl).await?;
    Ok(S3Response::new(GetObjectAclOutput { owner: Some(owner), grants: Some(grants), ..Default::default() }))
}

/// The ACL headers of Put{Bucket,Object}AclInput (their fields share names).
macro_rules! acl_headers {
    ($i:expr) => {
        requested_acl(
            $i.acl.as_ref().map(|a| a.as_str()),
            $i.grant_full_control.as_deref(),
            $i.grant_read.as_deref(),
            $i.grant_read_acp.as_deref(),
            $i.grant_write.as_deref(),
            $i.grant_write_acp.as_deref(),
        )?
    };
}

/// The ACL a Put{Bucket,Object}Acl sets: from its headers or from its
/// body (whose owner's grant, `owner`, is implied), not both.
async fn put_acl(
    requested: Option<Acl>,
    body: Option<AccessControlPolicy>,
    owner: impl Future<Output = S3Result<String>>,
) -> S3Result<Acl> {
    match (requested, body) {
        (Some(acl), None) => Ok(acl),
        (None, Some(policy)) => policy_acl(policy, &owner.await?),
        (Some(_), Some(_)) => {
            Err(s3_error!(UnexpectedContent, "This request does not support content with ACL headers"))
        }
        (None, None) => Err(s3_error!(MissingSecurityHeader, "An ACL, grant headers or a body is required")),
    }
}

pub(crate) async fn put_bucket_acl(
    s3: &ArcaS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let caller = caller(&req)?;
    let i = req.input;
    let owner = async { Ok(s3.service.bucket_acl(&caller, &i.bucket).await.s3()?.0) };
    let acl = put_acl(acl_headers!(i), i.access_control_policy.clone(), owner).await?;
    s3.service.set_bucket_acl(&caller, &i.bucket, acl).await.s3()?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub(crate) async fn put_object_acl(
    s3: &ArcaS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let caller = caller(&req)?;
    let i = req.input;
    let which = crate::object::version_ref(i.version_id.as_deref())?;
    let owner = async { Ok(s3.service.object_acl(&caller, &i.bucket, &i.key, which).await.s3()?.0) };
    let acl = put_acl(acl_headers!(i), i.access_control_policy.clone(), owner).await?;
    s3.service.set_object_acl(&caller, &i.bucket, &i.key, which, acl).await.s3()?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
