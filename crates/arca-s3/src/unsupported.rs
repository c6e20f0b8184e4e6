//! Request options Arca does not implement, refused with the error S3 gives
//! where the feature is off, never accepted and silently ignored: a client
//! that asks for encryption at rest, an object lock, public access or tags
//! must not be told it got them.
//!
//! What is accepted is what Arca does anyway: the canned ACLs that mean
//! "the owner (and the keys the bucket grants)", and the STANDARD storage
//! class (rclone sends `x-amz-acl: private`, s3cmd
//! `x-amz-storage-class: STANDARD` with every upload).

use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

/// The options of a write (PutObject, CreateMultipartUpload, CopyObject)
/// that Arca checks.
pub(crate) struct WriteOptions<'a> {
    pub acl: Option<&'a str>,
    pub grants: bool,
    pub storage_class: Option<&'a str>,
}

/// Builds `WriteOptions` from any s3s write input (their fields share names).
macro_rules! write_options {
    ($input:expr) => {
        $crate::unsupported::WriteOptions {
            acl: $input.acl.as_ref().map(|a| a.as_str()),
            grants: $input.grant_full_control.is_some()
                || $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
            storage_class: $input.storage_class.as_ref().map(|c| c.as_str()),
        }
    };
}
pub(crate) use write_options;

/// Canned ACLs that grant nothing beyond what Arca's owners and bucket
/// grants already give.
const OWNER_ONLY_ACLS: [&str; 3] = ["private", "bucket-owner-full-control", "bucket-owner-read"];

/// The storage classes Arca stores objects in.
const STORAGE_CLASSES: [&str; 1] = ["STANDARD"];

fn acl_not_supported() -> S3Error {
    // S3's answer when a bucket's object ownership disables ACLs (the default).
    S3Error::with_message(
        S3ErrorCode::AccessControlListNotSupported,
        "The bucket does not allow ACLs; access is granted with arca bucket allow.",
    )
}

pub(crate) fn check_acl(acl: Option<&str>, grants: bool) -> S3Result<()> {
    if grants || acl.is_some_and(|a| !OWNER_ONLY_ACLS.contains(&a)) {
        return Err(acl_not_supported());
    }
    Ok(())
}

pub(crate) fn check_write(o: &WriteOptions<'_>) -> S3Result<()> {
    check_acl(o.acl, o.grants)?;
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

    fn plain() -> WriteOptions<'static> {
        WriteOptions { acl: None, grants: false, storage_class: None }
    }

    #[test]
    fn owner_only_options_pass_and_the_rest_are_refused() {
        assert!(check_write(&plain()).is_ok());
        assert!(
            check_write(&WriteOptions { acl: Some("private"), storage_class: Some("STANDARD"), ..plain() })
                .is_ok()
        );
        let refused = [
            WriteOptions { acl: Some("public-read"), ..plain() },
            WriteOptions { grants: true, ..plain() },
            WriteOptions { storage_class: Some("GLACIER"), ..plain() },
        ];
        for o in &refused {
            assert!(check_write(o).is_err());
        }
    }
}
