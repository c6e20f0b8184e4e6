//! Small conversions between Arca's rows and s3s's wire types.

use crate::error::IntoS3;
use arca_object::ObjectMeta;
use arca_types::Timestamp;
use s3s::dto::{self, ETag, ETagCondition};

pub(crate) fn timestamp(ts: Timestamp) -> dto::Timestamp {
    dto::Timestamp::from(ts.to_system_time())
}

/// Our ETags are stored quoted, as S3 shows them; s3s adds the quotes itself.
pub(crate) fn etag(stored: &str) -> ETag {
    ETag::Strong(stored.trim_matches('"').to_owned())
}

/// An If-Match / If-None-Match header as the text `Conditions` compares.
pub(crate) fn etag_condition(cond: Option<ETagCondition>) -> Option<String> {
    cond.map(|c| match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(tag) => tag.value().to_owned(),
    })
}

pub(crate) fn system_time(ts: Option<dto::Timestamp>) -> Option<std::time::SystemTime> {
    ts.map(|t| {
        let t: time::OffsetDateTime = t.into();
        std::time::SystemTime::from(t)
    })
}

/// The user metadata map of an S3 output.
pub(crate) fn metadata(meta: &ObjectMeta) -> Option<dto::Metadata> {
    if meta.user.is_empty() { None } else { Some(meta.user.iter().cloned().collect()) }
}

/// The content headers and user metadata a write stores, read off any
/// request input that carries them (PutObject, CopyObject,
/// CreateMultipartUpload).
macro_rules! object_meta {
    ($input:expr) => {
        $crate::convert::ObjectMetaFields {
            content_type: $input.content_type,
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            storage_class: $input.storage_class.map(|c| c.as_str().to_owned()),
            metadata: $input.metadata,
            tagging: $input.tagging,
            website_redirect: $input.website_redirect_location,
            lock_mode: $input.object_lock_mode.map(|m| m.as_str().to_owned()),
            lock_until: $input.object_lock_retain_until_date,
            legal_hold: $input.object_lock_legal_hold_status.map(|s| s.as_str().to_owned()),
        }
        .into_meta()?
    };
}
pub(crate) use object_meta;

pub(crate) struct ObjectMetaFields {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub storage_class: Option<String>,
    pub metadata: Option<dto::Metadata>,
    /// x-amz-tagging, a URL query string.
    pub tagging: Option<String>,
    pub website_redirect: Option<String>,
    /// x-amz-object-lock-mode and -retain-until-date (both or neither).
    pub lock_mode: Option<String>,
    pub lock_until: Option<dto::Timestamp>,
    /// x-amz-object-lock-legal-hold: ON or OFF.
    pub legal_hold: Option<String>,
}

impl ObjectMetaFields {
    pub fn into_meta(self) -> s3s::S3Result<ObjectMeta> {
        let mut user: Vec<(String, String)> =
            self.metadata.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        user.sort();
        let tags = match self.tagging.as_deref() {
            Some(header) => arca_object::parse_tagging_header(header).s3()?,
            None => Vec::new(),
        };
        if let Some(target) = &self.website_redirect
            && !(target.starts_with('/') || target.starts_with("http://") || target.starts_with("https://"))
        {
            return Err(s3s::s3_error!(
                InvalidArgument,
                "The website redirect location must have a prefix of 'http://' or 'https://' or '/'."
            ));
        }
        let retention = match (self.lock_mode.as_deref(), system_time(self.lock_until)) {
            (None, None) => None,
            (Some(mode), Some(until)) => Some(retention(mode, until)?),
            _ => {
                return Err(s3s::s3_error!(
                    InvalidArgument,
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
                ));
            }
        };
        let legal_hold = match self.legal_hold.as_deref() {
            None | Some("OFF") => false,
            Some("ON") => true,
            Some(other) => {
                return Err(s3s::s3_error!(
                    InvalidArgument,
                    "Legal Hold must be either of 'ON' or 'OFF': {other}"
                ));
            }
        };
        Ok(ObjectMeta {
            content_type: self.content_type,
            content_encoding: stored_content_encoding(self.content_encoding),
            content_disposition: self.content_disposition,
            content_language: self.content_language,
            cache_control: self.cache_control,
            expires: self.expires,
            storage_class: self.storage_class,
            user,
            tags,
            website_redirect: self.website_redirect,
            retention,
            legal_hold,
            ..ObjectMeta::default()
        })
    }
}

/// A retention from its mode's name and its end.
pub(crate) fn retention(mode: &str, until: std::time::SystemTime) -> s3s::S3Result<arca_object::Retention> {
    let mode = arca_object::lock_mode(mode).s3()?;
    let until_micros = until.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    Ok(arca_object::Retention { mode, until_micros })
}

/// A retention's mode as S3 names it.
pub(crate) fn mode_name(mode: arca_object::LockMode) -> &'static str {
    match mode {
        arca_object::LockMode::Governance => "GOVERNANCE",
        arca_object::LockMode::Compliance => "COMPLIANCE",
    }
}

/// aws-chunked says how a body travelled, not how it is encoded: S3 drops
/// it from the stored Content-Encoding, and the header with it when nothing
/// else is left.
fn stored_content_encoding(value: Option<String>) -> Option<String> {
    let value = value?;
    let is_chunked = |t: &str| t.trim().eq_ignore_ascii_case("aws-chunked");
    if !value.split(',').any(is_chunked) {
        return Some(value);
    }
    let kept: Vec<&str> =
        value.split(',').filter(|t| !is_chunked(t) && !t.trim().is_empty()).map(str::trim).collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// Parses a Content-MD5 header (base64 of 16 bytes).
pub(crate) fn content_md5(value: Option<&str>) -> Result<Option<[u8; 16]>, arca_object::ObjectError> {
    use base64::Engine as _;
    let Some(value) = value else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| arca_object::ObjectError::InvalidDigest)?;
    <[u8; 16]>::try_from(bytes.as_slice()).map(Some).map_err(|_| arca_object::ObjectError::InvalidDigest)
}

/// The storage class S3 shows for an object stored with `class`.
pub(crate) fn storage_class(class: Option<&str>) -> String {
    class.unwrap_or("STANDARD").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_a_stored_encoding() {
        let enc = |v: &str| stored_content_encoding(Some(v.to_owned()));
        assert_eq!(enc("aws-chunked"), None);
        assert_eq!(enc("aws-chunked,gzip"), Some("gzip".to_owned()));
        assert_eq!(enc("gzip, AWS-CHUNKED"), Some("gzip".to_owned()));
        assert_eq!(enc("gzip, br"), Some("gzip, br".to_owned()));
        assert_eq!(stored_content_encoding(None), None);
    }
}
