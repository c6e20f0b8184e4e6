//! Which object keys Arca accepts.
//!
//! S3 allows any UTF-8 key up to 1024 bytes. Arca refuses three kinds more,
//! because they break tools rather than storage: NUL (C-based clients and
//! the index's key terminator), and "." or ".." path segments, which HTTP
//! stacks and sync tools normalise away so the object could never be
//! addressed again, and which turn into path traversal in any tool that maps
//! keys to files.

use crate::error::{ObjectError, ObjectResult};

pub const MAX_KEY_LEN: usize = 1024;

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
    if key.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(ObjectError::InvalidArgument(
            "Object key must not contain \".\" or \"..\" path segments".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in ["a", "a/b/c", "dir/", "..hidden", "a..b", "x/.y", "ü/日本/🙂", &"k".repeat(1024)] {
            assert!(validate_key(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn refuses_tricky_keys() {
        for key in ["", "../etc/passwd", "a/../b", "a/..", ".", "./a", "a/./b", "a\0b", &"k".repeat(1025)] {
            assert!(validate_key(key).is_err(), "{key:?}");
        }
    }
}
