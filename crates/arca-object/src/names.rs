//! Which bucket names and object keys Arca accepts.
//!
//! Bucket names follow S3's rules for general purpose buckets, reserved
//! prefixes and suffixes included: a name Arca accepts is one S3 would, so
//! a bucket can move between the two.
//!
//! S3 allows any UTF-8 key up to 1024 bytes, and so does Arca, but for NUL
//! (the index's key terminator, and a string end to C-based clients). "."
//! and ".." segments are ordinary characters of a name: a key is never a
//! path here (blobs are named by id), and tools that mirror such names
//! need them stored as sent.

use crate::error::{ObjectError, ObjectResult};

pub const MAX_KEY_LEN: usize = 1024;

/// Prefixes and suffixes S3 reserves for its own kinds of names (access
/// point aliases, directory and table buckets, punycode, examples).
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

pub fn validate_bucket_name(name: &str) -> ObjectResult<()> {
    let invalid =
        |why: &str| Err(ObjectError::InvalidBucketName(format!("The specified bucket is not valid: {why}")));
    if !(3..=63).contains(&name.len()) {
        return invalid("a bucket name must be 3 to 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        return invalid("only lowercase letters, digits, '.' and '-' are allowed");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alnum(name.bytes().next()) || !alnum(name.bytes().last()) {
        return invalid("a bucket name must begin and end with a letter or a digit");
    }
    if name.contains("..") {
        return invalid("a bucket name must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid("a bucket name must not be an IP address");
    }
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return invalid("the name uses a prefix or suffix S3 reserves");
    }
    Ok(())
}

pub fn validate_key(key: &str) -> ObjectResult<()> {
    if key.is_empty() {
        return Err(ObjectError::InvalidArgument("Object key must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ObjectError::KeyTooLong);
    }
    if key.contains('\0') {
        return Err(ObjectError::InvalidArgument("Object key must not contain the NUL character".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3() {
        for ok in ["abc", "a-b.c", "1bucket", "bucket1", &"b".repeat(63), "sthree", "my-s3alias-x", "1.2.3"] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "ab",
            &"b".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            ".ab",
            "ab.",
            "a..b",
            "192.168.5.4",
            "xn--ab",
            "sthree-ab",
            "amzn-s3-demo-ab",
            "ab-s3alias",
            "ab--ol-s3",
            "ab.mrap",
            "ab--x-s3",
            "ab--table-s3",
        ] {
            assert!(matches!(validate_bucket_name(bad), Err(ObjectError::InvalidBucketName(_))), "{bad:?}");
        }
    }

    #[test]
    fn accepts_ordinary_keys() {
        for key in ["a", "a/b/c", "dir/", "..hidden", "a..b", "x/.y", "ü/日本/🙂", &"k".repeat(1024)]
            .into_iter()
            .chain(["../etc/passwd", "a/../b", "a/..", ".", "./a", "a/./b"])
        {
            assert!(validate_key(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn refuses_tricky_keys() {
        for key in ["", "a\0b", &"k".repeat(1025)] {
            assert!(validate_key(key).is_err(), "{key:?}");
        }
    }
}
