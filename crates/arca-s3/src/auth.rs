//! Who is calling: s3s verifies the SigV4 signature with the secret we look
//! up here, then the access check turns the access key into a `Caller` that
//! every operation finds in the request's extensions.
//!
//! The access check is also the last hook before s3s reads a whole XML body
//! into memory, so it refuses one that declares more than the limit there.

use arca_object::{Caller, ObjectService};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Request, S3Result, s3_error};

use crate::error::IntoS3;

pub struct KeyAuth {
    pub service: ObjectService,
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.service.key(access_key).await.s3()? {
            Some(key) => Ok(SecretKey::from(key.secret_key)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Refuses anonymous requests and records the caller.
pub struct KeyAccess {
    pub service: ObjectService,
}

#[async_trait::async_trait]
impl S3Access for KeyAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign your request."));
        };
        let access_key = credentials.access_key.clone();
        let key = self.service.key(&access_key).await.s3()?.ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        check_xml_body_length(cx)?;
        cx.extensions_mut().insert(Caller { access_key, is_root: key.is_root });
        Ok(())
    }
}

/// Operations whose bodies are streamed; every other one is read whole.
const STREAMING_OPERATIONS: [&str; 2] = ["PutObject", "UploadPart"];

/// Refuses a body to be read whole that declares more than s3s will read:
/// s3s would fail it only after reading the limit, as an internal error.
fn check_xml_body_length(cx: &S3AccessContext<'_>) -> S3Result<()> {
    if STREAMING_OPERATIONS.contains(&cx.s3_op().name()) {
        return Ok(());
    }
    let declared = cx
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > crate::MAX_XML_BODY as u64) {
        return Err(s3_error!(
            MaxMessageLengthExceeded,
            "Your request was too big: bodies of this operation may be at most {} bytes.",
            crate::MAX_XML_BODY
        ));
    }
    Ok(())
}

/// The caller the access check recorded.
pub(crate) fn caller<T>(req: &S3Request<T>) -> S3Result<Caller> {
    req.extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed."))
}
