//! Conditional requests: If-Match, If-None-Match, If-Modified-Since and
//! If-Unmodified-Since, with the precedence S3 documents (RFC 7232 §6).

use std::time::SystemTime;

use arca_types::Timestamp;

use crate::error::{ObjectError, ObjectResult};

#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

/// Whether an If-Match / If-None-Match header value matches `etag`. The value
/// may be `*`, one entity tag, or a comma-separated list; quotes and a weak
/// `W/` prefix are ignored.
pub fn etag_matches(header: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag)
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Evaluates the conditions against an object's ETag and Last-Modified.
    ///
    /// HTTP dates have one-second resolution, so the object's time is
    /// truncated to whole seconds before comparing. A true If-Match makes
    /// If-Unmodified-Since irrelevant; a false If-None-Match makes
    /// If-Modified-Since irrelevant.
    pub fn check(&self, etag: &str, modified: Timestamp) -> ObjectResult<()> {
        let modified_secs = modified.unix_seconds();
        let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);

        match &self.if_match {
            Some(header) if !etag_matches(header, etag) => return Err(ObjectError::PreconditionFailed),
            Some(_) => {}
            None => {
                if let Some(t) = self.if_unmodified_since
                    && modified_secs > secs(t)
                {
                    return Err(ObjectError::PreconditionFailed);
                }
            }
        }
        match &self.if_none_match {
            Some(header) if etag_matches(header, etag) => return Err(ObjectError::NotModified),
            Some(_) => {}
            None => {
                if let Some(t) = self.if_modified_since
                    && modified_secs <= secs(t)
                {
                    return Err(ObjectError::NotModified);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    const ETAG: &str = "\"abc\"";

    fn ts(secs: u64) -> Timestamp {
        Timestamp::new(secs * 1_000_000 + 123_456, 1)
    }

    #[test]
    fn etag_lists_and_wildcards() {
        assert!(etag_matches("\"abc\"", ETAG));
        assert!(etag_matches("abc", ETAG));
        assert!(etag_matches("\"x\", \"abc\"", ETAG));
        assert!(etag_matches("*", ETAG));
        assert!(etag_matches("W/\"abc\"", ETAG));
        assert!(!etag_matches("\"abd\"", ETAG));
    }

    #[test]
    fn precedence_follows_s3() {
        let c = |m: Option<&str>, n: Option<&str>, ms: Option<u64>, us: Option<u64>| Conditions {
            if_match: m.map(Into::into),
            if_none_match: n.map(Into::into),
            if_modified_since: ms.map(at),
            if_unmodified_since: us.map(at),
        };
        let t = ts(1000);
        assert!(c(None, None, None, None).check(ETAG, t).is_ok());
        assert!(matches!(
            c(Some("\"zz\""), None, None, None).check(ETAG, t),
            Err(ObjectError::PreconditionFailed)
        ));
        // If-Match true wins over a failing If-Unmodified-Since.
        assert!(c(Some(ETAG), None, None, Some(10)).check(ETAG, t).is_ok());
        assert!(matches!(
            c(None, None, None, Some(999)).check(ETAG, t),
            Err(ObjectError::PreconditionFailed)
        ));
        // Same second counts as unmodified.
        assert!(c(None, None, None, Some(1000)).check(ETAG, t).is_ok());
        assert!(matches!(c(None, Some(ETAG), None, None).check(ETAG, t), Err(ObjectError::NotModified)));
        // If-None-Match false wins over If-Modified-Since true-for-304.
        assert!(c(None, Some("\"zz\""), Some(5000), None).check(ETAG, t).is_ok());
        assert!(matches!(c(None, None, Some(1000), None).check(ETAG, t), Err(ObjectError::NotModified)));
        assert!(c(None, None, Some(999), None).check(ETAG, t).is_ok());
    }
}
