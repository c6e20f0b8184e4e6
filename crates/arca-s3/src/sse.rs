//! Server-side encryption as the wire spells it: x-amz-server-side-encryption
//! (SSE-S3), the x-amz-server-side-encryption-customer-* headers (SSE-C,
//! and their copy-source twins), Put/Get/DeleteBucketEncryption, and the
//! headers a response echoes. SSE-KMS is refused: Arca has no KMS.

use arca_object::{CustomerKey, SseRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::error::IntoS3;

fn decode(value: &str, what: &str) -> S3Result<Vec<u8>> {
    STANDARD.decode(value.trim()).map_err(|_| s3_error!(InvalidArgument, "The {what} is not valid base64."))
}

/// An SSE-C key from its three headers (all or none).
pub(crate) fn customer_key(
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    match (algorithm, key) {
        (None, None) if key_md5.is_none() => Ok(None),
        (Some("AES256"), Some(key)) => {
            let key = decode(key, "secret key")?;
            let md5 = key_md5.map(|m| decode(m, "key MD5")).transpose()?;
            Ok(Some(CustomerKey::new(&key, md5.as_deref()).s3()?))
        }
        (Some("AES256"), None) => Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
        )),
        (Some(_), _) => Err(s3_error!(
            InvalidEncryptionAlgorithmError,
            "The encryption request you specified is not valid. The valid value is AES256."
        )),
        (None, _) => Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
        )),
    }
}

/// The encryption a write asks for: SSE-S3, SSE-C, or none (the bucket's
/// default then applies).
pub(crate) fn sse_request(
    sse: Option<&ServerSideEncryption>,
    kms_key: bool,
    customer: Option<CustomerKey>,
) -> S3Result<Option<SseRequest>> {
    let sse = sse.map(|s| s.as_str());
    if kms_key || sse.is_some_and(|s| s.starts_with("aws:kms")) {
        return Err(s3_error!(NotImplemented, "SSE-KMS needs a KMS; none is configured."));
    }
    match (sse, customer) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        )),
        (Some("AES256"), None) => Ok(Some(SseRequest::Managed)),
        (Some(other), None) => Err(s3_error!(InvalidArgument, "Unknown server-side encryption: {other}")),
        (None, Some(c)) => Ok(Some(SseRequest::Customer(c))),
        (None, None) => Ok(None),
    }
}

/// Builds the `SseRequest` of any s3s write input (their fields share names).
macro_rules! write_sse {
    ($input:expr) => {
        $crate::sse::sse_request(
            $input.server_side_encryption.as_ref(),
            $input.ssekms_key_id.is_some(),
            $crate::sse::customer_key(
                $input.sse_customer_algorithm.as_deref(),
                $input.sse_customer_key.as_deref(),
                $input.sse_customer_key_md5.as_deref(),
            )?,
        )?
    };
}
pub(crate) use write_sse;

/// The SSE-C key of a read (GetObject, HeadObject, the target of UploadPart).
macro_rules! read_key {
    ($input:expr) => {
        $crate::sse::customer_key(
            $input.sse_customer_algorithm.as_deref(),
            $input.sse_customer_key.as_deref(),
            $input.sse_customer_key_md5.as_deref(),
        )?
    };
}
pub(crate) use read_key;

/// What a response says of a body's encryption: (x-amz-server-side-encryption,
/// SSE-C algorithm, SSE-C key MD5).
pub(crate) fn echo(
    encryption: Option<&arca_meta::Encryption>,
) -> (Option<ServerSideEncryption>, Option<String>, Option<String>) {
    match encryption {
        None => (None, None, None),
        Some(e) => match e.customer_key_md5 {
            None => (Some(ServerSideEncryption::from(ServerSideEncryption::AES256.to_owned())), None, None),
            Some(md5) => (None, Some("AES256".to_owned()), Some(STANDARD.encode(md5))),
        },
    }
}

pub(crate) async fn put_bucket_encryption(
    s3: &ArcaS3,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let algorithm = match input.server_side_encryption_configuration.rules.as_slice() {
        [rule] => match &rule.apply_server_side_encryption_by_default {
            Some(default) => default.sse_algorithm.as_str().to_owned(),
            None => return Err(s3_error!(MalformedXML, "The rule must apply a default encryption.")),
        },
        _ => return Err(s3_error!(MalformedXML, "An encryption configuration has exactly one rule.")),
    };
    s3.service.set_default_encryption(&caller, &input.bucket, Some(algorithm)).await.s3()?;
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub(crate) async fn get_bucket_encryption(
    s3: &ArcaS3,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let caller = caller(&req)?;
    let algorithm = s3.service.default_encryption(&caller, &req.input.bucket).await.s3()?;
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: None,
            sse_algorithm: ServerSideEncryption::from(algorithm),
        }),
        blocked_encryption_types: None,
        bucket_key_enabled: Some(false),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    }))
}

pub(crate) async fn delete_bucket_encryption(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    let caller = caller(&req)?;
    s3.service.set_default_encryption(&caller, &req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
}
