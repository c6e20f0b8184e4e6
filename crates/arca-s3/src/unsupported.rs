//! Request options Arca does not implement, refused with the error S3 gives
//! where the feature is off, never accepted and silently ignored: a client
//! that asks for a storage class or a public bucket must not be told it got
//! one.
//!
//! What is accepted is what Arca does: the STANDARD storage class (s3cmd
//! sends `x-amz-storage-class: STANDARD` with every upload), and at
//! CreateBucket the canned ACLs that mean "the owner" (a new bucket's object
//! ownership disables ACLs, as on S3; rclone sends `x-amz-acl: private`).

use s3s::{S3Result, s3_error};

/// The options of a write (PutObject, CreateMultipartUpload, CopyObject)
/// that Arca checks here.
pub(crate) struct WriteOptions<'a> {
    pub storage_class: Option<&'a str>,
}

/// Builds `WriteOptions` from any s3s write input (their fields share names).
macro_rules! write_options {
    ($input:expr) => {
        $crate::unsupported::WriteOptions { storage_class: $input.storage_class.as_ref().map(|c| c.as_str()) }
    };
}
pub(crate) use write_options;

/// Canned ACLs that grant nothing beyond what Arca's owners and bucket
/// grants already give.
const OWNER_ONLY_ACLS: [&str; 3] = ["private", "bucket-owner-full-control", "bucket-owner-read"];

/// The storage classes Arca stores objects in.
const STORAGE_CLASSES: [&str; 1] = ["STANDARD"];

pub(crate) fn check_acl(acl: Option<&str>, grants: bool) -> S3Result<()> {
    if grants || acl.is_some_and(|a| !OWNER_ONLY_ACLS.contains(&a)) {
        // S3's answer while a bucket's object ownership disables ACLs.
        return Err(crate::error::to_s3(arca_object::ObjectError::AccessControlListNotSupported));
    }
    Ok(())
}

/// What a write asks for that Arca does not store. Its ACL is the object
/// layer's to check: it depends on the bucket's object ownership.
pub(crate) fn check_write(o: &WriteOptions<'_>) -> S3Result<()> {
    if let Some(class) = o.storage_class
        && !STORAGE_CLASSES.contains(&class)
    {
        return Err(s3_error!(InvalidStorageClass, "The storage class you specified is not valid"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_storage_and_owner_only_bucket_acls_pass() {
        assert!(check_write(&WriteOptions { storage_class: None }).is_ok());
        assert!(check_write(&WriteOptions { storage_class: Some("STANDARD") }).is_ok());
        assert!(check_write(&WriteOptions { storage_class: Some("GLACIER") }).is_err());
        assert!(check_acl(Some("private"), false).is_ok());
        assert!(check_acl(Some("public-read"), false).is_err());
        assert!(check_acl(None, true).is_err());
    }
}
