//! ObjectService errors as S3 error responses.

use arca_object::{ObjectError, StdError};
use s3s::stream::aws_chunked_stream::AwsChunkedStreamError;
use s3s::stream::upload_stream::UploadStreamError;
use s3s::{BodySizeLimitExceeded, S3Error, S3ErrorCode};

pub(crate) fn to_s3(err: ObjectError) -> S3Error {
    use S3ErrorCode as C;
    let code = match &err {
        ObjectError::NoSuchBucket => C::NoSuchBucket,
        ObjectError::InvalidBucketName(_) => C::InvalidBucketName,
        ObjectError::NoSuchKey => C::NoSuchKey,
        ObjectError::NoSuchVersion => C::NoSuchVersion,
        ObjectError::InvalidTag(_) => C::InvalidTag,
        ObjectError::ObjectLocked(_) => C::AccessDenied,
        ObjectError::InvalidBucketState(_) => C::InvalidBucketState,
        ObjectError::NoSuchCorsConfiguration => C::NoSuchCORSConfiguration,
        ObjectError::MalformedPolicy(_) => C::MalformedPolicy,
        ObjectError::AccessControlListNotSupported => C::AccessControlListNotSupported,
        ObjectError::NotImplemented(_) => C::NotImplemented,
        ObjectError::ServerSideEncryptionConfigurationNotFound => {
            // AWS answers it with 404; s3s's table says 400.
            let mut e =
                S3Error::with_message(C::ServerSideEncryptionConfigurationNotFoundError, err.to_string());
            e.set_status_code(http::StatusCode::NOT_FOUND);
            return e;
        }
        ObjectError::NoSuchBucketPolicy => C::NoSuchBucketPolicy,
        ObjectError::NoSuchPublicAccessBlockConfiguration => {
            // Not in s3s's table of codes.
            let mut e = S3Error::with_message(
                C::Custom("NoSuchPublicAccessBlockConfiguration".into()),
                err.to_string(),
            );
            e.set_status_code(http::StatusCode::NOT_FOUND);
            return e;
        }
        ObjectError::OwnershipControlsNotFound => C::OwnershipControlsNotFoundError,
        ObjectError::AccessDeniedBecause(_) => C::AccessDenied,
        ObjectError::ObjectLockConfigurationNotFound => C::ObjectLockConfigurationNotFoundError,
        ObjectError::BadRequest(_) => {
            // Not in s3s's table of codes: S3 answers too many tags with it.
            let mut e = S3Error::with_message(C::Custom("BadRequest".into()), err.to_string());
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return e;
        }
        ObjectError::DeleteMarker { version, last_modified, named } => {
            return delete_marker_error(*version, *last_modified, *named, err.to_string());
        }
        ObjectError::NoSuchUpload => C::NoSuchUpload,
        ObjectError::BucketAlreadyExists => C::BucketAlreadyExists,
        ObjectError::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou,
        ObjectError::BucketNotEmpty => C::BucketNotEmpty,
        ObjectError::AccessDenied => C::AccessDenied,
        ObjectError::InvalidArgument(_) => C::InvalidArgument,
        ObjectError::KeyTooLong => C::KeyTooLongError,
        ObjectError::MetadataTooLarge => C::MetadataTooLarge,
        ObjectError::InvalidRequest(_) => C::InvalidRequest,
        ObjectError::BadDigest => C::BadDigest,
        ObjectError::BadChecksum(_) => C::BadDigest,
        ObjectError::InvalidDigest => C::InvalidDigest,
        ObjectError::IncompleteBody => C::IncompleteBody,
        ObjectError::RequestTimeout => C::RequestTimeout,
        ObjectError::EntityTooLarge => C::EntityTooLarge,
        ObjectError::EntityTooSmall => C::EntityTooSmall,
        ObjectError::InvalidPart(_) => C::InvalidPart,
        ObjectError::InvalidPartOrder => C::InvalidPartOrder,
        ObjectError::InvalidRange => C::InvalidRange,
        ObjectError::InvalidPartNumber => {
            // Not in s3s's table of codes: S3 answers it with 416.
            let mut e = S3Error::with_message(C::Custom("InvalidPartNumber".into()), err.to_string());
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            return e;
        }
        ObjectError::MalformedXml => C::MalformedXML,
        ObjectError::PreconditionFailed => C::PreconditionFailed,
        ObjectError::NotModified => C::NotModified,
        ObjectError::Body(_) => return body_error(err),
        ObjectError::ServiceUnavailable(_) => {
            tracing::warn!(error = %err, "request refused for now");
            return S3Error::with_message(C::ServiceUnavailable, "Service is unable to handle request.");
        }
        ObjectError::Corrupt(_) | ObjectError::Internal(_) => {
            tracing::error!(error = %err, "internal error");
            return S3Error::with_message(
                C::InternalError,
                "We encountered an internal error. Please try again.",
            );
        }
    };
    S3Error::with_message(code, err.to_string())
}

/// A read that found a delete marker: 404 NoSuchKey for the current
/// version, 405 MethodNotAllowed for one named by id, both saying what was
/// found in x-amz-delete-marker, x-amz-version-id and Last-Modified.
fn delete_marker_error(
    version: Option<arca_object::VersionRef>,
    last_modified: arca_types::Timestamp,
    named: bool,
    message: String,
) -> S3Error {
    let code = if named { S3ErrorCode::MethodNotAllowed } else { S3ErrorCode::NoSuchKey };
    let mut e = S3Error::with_message(code, message);
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Some(v) = version.and_then(|v| http::HeaderValue::from_str(&v.to_string()).ok()) {
        headers.insert("x-amz-version-id", v);
    }
    if named {
        let mut date = Vec::new();
        let when = crate::convert::timestamp(last_modified);
        if when.format(s3s::dto::TimestampFormat::HttpDate, &mut date).is_ok()
            && let Ok(date) = http::HeaderValue::from_bytes(&date)
        {
            headers.insert(http::header::LAST_MODIFIED, date);
        }
    }
    e.set_headers(headers);
    e
}

/// The code S3 answers when a body does not hash to its signed
/// x-amz-content-sha256; not in s3s's table of codes.
const CONTENT_SHA256_MISMATCH: &str = "XAmzContentSHA256Mismatch";

/// A failed request body: what the client did wrong, in S3's terms.
fn body_error(err: ObjectError) -> S3Error {
    let ObjectError::Body(source) = err else { return to_s3(err) };
    let code = stream_error_code(&source);
    let message = match &code {
        S3ErrorCode::SignatureDoesNotMatch => {
            "The request signature we calculated does not match the signature you provided.".to_owned()
        }
        S3ErrorCode::Custom(c) if &**c == CONTENT_SHA256_MISMATCH => {
            "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned()
        }
        S3ErrorCode::EntityTooLarge => "Your proposed upload exceeds the maximum allowed size.".to_owned(),
        _ => "The request body ended before its declared length, or was malformed.".to_owned(),
    };
    tracing::debug!(error = %source, "request body failed");
    let mut e = S3Error::with_message(code, message);
    if e.status_code().is_none() {
        e.set_status_code(http::StatusCode::BAD_REQUEST);
    }
    e
}

fn stream_error_code(source: &StdError) -> S3ErrorCode {
    // s3s wraps the transport's error (a client that went away) as
    // `Underlying`, which it would call an internal error: look inside.
    if let Some(e) = source.downcast_ref::<AwsChunkedStreamError>() {
        return match e {
            AwsChunkedStreamError::Underlying(inner) => stream_error_code(inner),
            other => other.to_s3_error_code(),
        };
    }
    if let Some(e) = source.downcast_ref::<UploadStreamError>() {
        return match e {
            UploadStreamError::Underlying(inner) => stream_error_code(inner),
            UploadStreamError::Sha256Mismatch => S3ErrorCode::Custom(CONTENT_SHA256_MISMATCH.into()),
            other => other.to_s3_error_code(),
        };
    }
    if source.downcast_ref::<BodySizeLimitExceeded>().is_some() {
        return S3ErrorCode::EntityTooLarge;
    }
    // hyper reports a connection closed before Content-Length bytes arrived.
    S3ErrorCode::IncompleteBody
}

/// Shorthand for `.map_err(to_s3)`.
pub(crate) trait IntoS3<T> {
    fn s3(self) -> Result<T, S3Error>;
}

impl<T> IntoS3<T> for Result<T, ObjectError> {
    fn s3(self) -> Result<T, S3Error> {
        self.map_err(to_s3)
    }
}
