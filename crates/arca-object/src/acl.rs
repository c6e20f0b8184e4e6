//! ACLs: canned ACLs and grants on buckets and objects, where the bucket's
//! object ownership enables them.
//!
//! A bucket's ACL is its `acl` attribute (JSON), an object version's is in
//! its row (`ObjectMeta.acl`); both hold only the grants beyond the owner's
//! FULL_CONTROL, which is implied. As on S3, ACLs are off unless the
//! bucket's ownership controls say ObjectWriter or BucketOwnerPreferred:
//! with the default (BucketOwnerEnforced) an ACL that grants anything is
//! AccessControlListNotSupported. The public access block's BlockPublicAcls
//! refuses grants to AllUsers or AuthenticatedUsers, and IgnorePublicAcls
//! makes them count for nothing.

use arca_meta::raft::VersionChange;
use arca_meta::{AclGrant, AclPermission, BucketRow, Grantee};

use crate::access::{acls_enabled, public_access_block};
use crate::error::{ObjectError, ObjectResult};
use crate::versions::VersionRef;
use crate::{Caller, ObjectService};

const ATTR: &str = "acl";

/// Grants beyond the owner's.
pub type Acl = Vec<AclGrant>;

/// The grants of a canned ACL (x-amz-acl) beyond the owner's.
pub fn canned_acl(name: &str) -> ObjectResult<Acl> {
    let grant = |grantee, permission| AclGrant { grantee, permission };
    Ok(match name {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" => Vec::new(),
        "public-read" => vec![grant(Grantee::AllUsers, AclPermission::Read)],
        "public-read-write" => {
            vec![
                grant(Grantee::AllUsers, AclPermission::Read),
                grant(Grantee::AllUsers, AclPermission::Write),
            ]
        }
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, AclPermission::Read)],
        other => {
            return Err(ObjectError::InvalidArgument(format!("The canned ACL {other} is not supported")));
        }
    })
}

fn is_public(acl: &Acl) -> bool {
    acl.iter().any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
}

/// Whether `acl` gives `caller` `permission` (FULL_CONTROL gives all).
fn grants(acl: &Acl, caller: &Caller, permission: AclPermission, ignore_public: bool) -> bool {
    acl.iter().any(|g| {
        let who = match &g.grantee {
            Grantee::Key(key) => !caller.is_anonymous() && *key == caller.access_key,
            Grantee::AllUsers => !ignore_public,
            Grantee::AuthenticatedUsers => !ignore_public && !caller.is_anonymous(),
        };
        who && (g.permission == permission || g.permission == AclPermission::FullControl)
    })
}

/// What the bucket allows to be set as an ACL.
pub(crate) fn check_new_acl(bucket: &BucketRow, acl: &Acl) -> ObjectResult<()> {
    if acl.is_empty() {
        return Ok(());
    }
    if !acls_enabled(bucket) {
        return Err(ObjectError::AccessControlListNotSupported);
    }
    if is_public(acl) && public_access_block(bucket).block_public_acls {
        return Err(ObjectError::AccessDeniedBecause(
            "The bucket's public access block forbids public ACLs".into(),
        ));
    }
    Ok(())
}

fn bucket_acl(bucket: &BucketRow) -> Acl {
    bucket.attr(ATTR).and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

/// What an ACL grants: on the bucket, or on one object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclTarget {
    Bucket,
    Object,
}

impl ObjectService {
    /// Whether an ACL lets `caller` do what needs `permission` on the
    /// bucket, or on object `key` (version `which`). Only asked of callers
    /// who are not the owner or granted the bucket.
    pub async fn acl_allows(
        &self,
        caller: &Caller,
        bucket: &BucketRow,
        target: AclTarget,
        key: Option<&str>,
        which: VersionRef,
        permission: AclPermission,
    ) -> ObjectResult<bool> {
        if !acls_enabled(bucket) {
            return Ok(false);
        }
        let ignore_public = public_access_block(bucket).ignore_public_acls;
        let acl = match (target, key) {
            (AclTarget::Object, Some(key)) => match self.version_row(bucket, key, which).await? {
                Some(row) if !row.meta.delete_marker => row.meta.acl,
                _ => return Ok(false),
            },
            _ => bucket_acl(bucket),
        };
        Ok(grants(&acl, caller, permission, ignore_public))
    }

    /// PutBucketAcl.
    pub async fn set_bucket_acl(&self, caller: &Caller, name: &str, acl: Acl) -> ObjectResult<()> {
        let bucket = self.owned_bucket(caller, name).await?;
        check_new_acl(&bucket, &acl)?;
        let json = (!acl.is_empty())
            .then(|| serde_json::to_string(&acl))
            .transpose()
            .map_err(|e| ObjectError::Internal(e.to_string()))?;
        self.set_bucket_attr(caller, name, ATTR, json).await
    }

    /// GetBucketAcl: the owner and the grants beyond the owner's.
    pub async fn bucket_acl(&self, caller: &Caller, name: &str) -> ObjectResult<(String, Acl)> {
        let bucket = self.bucket(caller, name).await?;
        Ok((bucket.owner.clone(), bucket_acl(&bucket)))
    }

    /// PutObjectAcl.
    pub async fn set_object_acl(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
        acl: Acl,
    ) -> ObjectResult<Option<VersionRef>> {
        let bucket = self.bucket(caller, bucket).await?;
        check_new_acl(&bucket, &acl)?;
        self.update_version(&bucket, key, which, || VersionChange::Acl(acl.clone())).await
    }

    /// GetObjectAcl: the bucket's owner (who owns every object) and the
    /// version's grants.
    pub async fn object_acl(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        which: VersionRef,
    ) -> ObjectResult<(String, Acl, Option<VersionRef>)> {
        let bucket = self.bucket(caller, bucket).await?;
        let row =
            self.readable_version(&bucket, key, which).await.map_err(crate::versions::sub_resource_error)?;
        Ok((bucket.owner.clone(), row.meta.acl, VersionRef::reported(&bucket, row.version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_follow_grantee_and_permission() {
        let acl = vec![
            AclGrant { grantee: Grantee::Key("BOB".into()), permission: AclPermission::FullControl },
            AclGrant { grantee: Grantee::AuthenticatedUsers, permission: AclPermission::Read },
        ];
        let bob = Caller::key("BOB".into(), false);
        let carol = Caller::key("CAROL".into(), false);
        let anonymous = Caller::anonymous();
        assert!(grants(&acl, &bob, AclPermission::WriteAcp, false));
        assert!(grants(&acl, &carol, AclPermission::Read, false));
        assert!(!grants(&acl, &carol, AclPermission::Write, false));
        assert!(!grants(&acl, &carol, AclPermission::Read, true), "public grants ignored");
        assert!(!grants(&acl, &anonymous, AclPermission::Read, false));
        let public = canned_acl("public-read").unwrap();
        assert!(grants(&public, &anonymous, AclPermission::Read, false));
        assert!(canned_acl("private").unwrap().is_empty());
        assert!(canned_acl("aws-exec-read").is_err());
    }
}
