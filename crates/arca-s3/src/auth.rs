//! Who is calling and whether they may: s3s verifies the signature with
//! the secret we look up here, then the access check turns the access key
//! (or its absence) into a `Caller`, decides the request against the
//! bucket's policy, and leaves the caller in the request's extensions for
//! every operation to find.
//!
//! The access check is also the last hook before s3s reads a whole XML body
//! into memory, so it refuses one that declares more than the limit there.

use std::collections::HashMap;

use arca_object::{
    AclPermission, AclTarget, BucketRow, Caller, ObjectError, ObjectService, Verdict, VersionRef,
};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::CopySource;
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result, s3_error};

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

/// Decides whether a request may go on (the bucket policy, the public
/// access block, ownership and grants: arca-object's `authorize`) and
/// records its caller, anonymous or not.
pub struct KeyAccess {
    pub service: ObjectService,
}

/// The address a request came from, put in its extensions by the gateway
/// (the `aws:SourceIp` of bucket policies).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

#[async_trait::async_trait]
impl S3Access for KeyAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let mut caller = match cx.credentials() {
            Some(credentials) => {
                let access_key = credentials.access_key.clone();
                let key =
                    self.service.key(&access_key).await.s3()?.ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
                Caller::key(access_key, key.is_root)
            }
            None => Caller::anonymous(),
        };
        check_xml_body_length(cx)?;
        let (bucket, object) = match cx.s3_path() {
            S3Path::Root if caller.is_anonymous() => {
                return Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign your request."));
            }
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let peer = cx.extensions_mut().get::<PeerAddr>().map(|p| p.0);
        let facts = Facts { headers: cx.headers(), uri: cx.uri(), peer };
        let op = cx.s3_op().name();
        if let Some(bucket) = bucket
            && !caller.is_root
        {
            // A bucket that does not exist is the operation's to report,
            // to a caller who signed the request.
            let row = self.service.cluster().bucket(&bucket).await.map_err(ObjectError::from).s3()?;
            if row.is_none() && caller.is_anonymous() {
                return Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign your request."));
            }
            if let Some(row) = row {
                let which = version_of(facts.uri)?;
                let versioned = which != VersionRef::Current;
                // DeleteObjects is decided key by key, once its body is read.
                if op != "DeleteObjects" {
                    let action = action_of(op, versioned);
                    let acl = acl_permission(op, versioned);
                    let verdict =
                        decide(&self.service, &caller, &row, &action, object.as_deref(), which, acl, &facts)
                            .await?;
                    admit(&mut caller, verdict, &bucket)?;
                }
                if facts
                    .header("x-amz-bypass-governance-retention")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    // Lifting a GOVERNANCE retention is an action of its own.
                    let action = "s3:BypassGovernanceRetention";
                    let bare = Caller { policy_bucket: None, ..caller.clone() };
                    match decide(&self.service, &bare, &row, action, object.as_deref(), which, None, &facts)
                        .await?
                    {
                        Verdict::Allowed => {}
                        Verdict::Proceed if bare.may_use(&row) => {}
                        _ => {
                            return Err(s3_error!(
                                AccessDenied,
                                "Access Denied: s3:BypassGovernanceRetention"
                            ));
                        }
                    }
                }
            }
            if matches!(op, "CopyObject" | "UploadPartCopy") {
                self.check_copy_source(&mut caller, &facts).await?;
            }
        }
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}

impl KeyAccess {
    /// A copy reads its source: that needs s3:GetObject (or
    /// GetObjectVersion) on the source, decided against the source bucket's
    /// own policy and ACLs, never the target's.
    async fn check_copy_source(&self, caller: &mut Caller, facts: &Facts<'_>) -> S3Result<()> {
        let Some(header) = facts.header("x-amz-copy-source") else { return Ok(()) };
        let Ok(CopySource::Bucket { bucket, key, version_id }) = CopySource::parse(header) else {
            return Ok(()); // the operation reports a malformed source
        };
        let Some(row) = self.service.cluster().bucket(&bucket).await.map_err(ObjectError::from).s3()? else {
            return Ok(());
        };
        let which: VersionRef = match version_id.as_deref() {
            Some(v) => v.parse().s3()?,
            None => VersionRef::Current,
        };
        let action = if which == VersionRef::Current { "s3:GetObject" } else { "s3:GetObjectVersion" };
        let bare = Caller { policy_bucket: None, copy_source_bucket: None, ..caller.clone() };
        let acl = Some((AclTarget::Object, AclPermission::Read));
        match decide(&self.service, &bare, &row, action, Some(&key), which, acl, facts).await? {
            Verdict::Denied(why) => Err(S3Error::with_message(S3ErrorCode::AccessDenied, why)),
            Verdict::Allowed => {
                caller.copy_source_bucket = Some(bucket.to_string());
                Ok(())
            }
            Verdict::Proceed => Ok(()),
        }
    }
}

/// What the access check knows of a request besides its operation.
pub(crate) struct Facts<'a> {
    pub headers: &'a http::HeaderMap,
    pub uri: &'a http::Uri,
    pub peer: Option<std::net::SocketAddr>,
}

impl Facts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The version a request's `versionId` names.
fn version_of(uri: &http::Uri) -> S3Result<VersionRef> {
    match query_value(uri, "versionId") {
        Some(v) => v.parse().s3(),
        None => Ok(VersionRef::Current),
    }
}

/// Records what a verdict allows, or refuses the request.
fn admit(caller: &mut Caller, verdict: Verdict, bucket: &str) -> S3Result<()> {
    match verdict {
        Verdict::Proceed => Ok(()),
        Verdict::Allowed => {
            caller.policy_bucket = Some(bucket.to_owned());
            Ok(())
        }
        Verdict::Denied(why) => Err(S3Error::with_message(S3ErrorCode::AccessDenied, why)),
    }
}

/// The decision for `action` on `bucket` or its object `key` (version
/// `which`): the policy's terms are built only for a bucket with a policy
/// (most requests go to buckets without one), an ACL is read only for a
/// caller who is neither the owner nor granted the bucket.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn decide(
    service: &ObjectService,
    caller: &Caller,
    row: &BucketRow,
    action: &str,
    key: Option<&str>,
    which: VersionRef,
    acl: Option<(AclTarget, AclPermission)>,
    facts: &Facts<'_>,
) -> S3Result<Verdict> {
    let (mut resource, mut context) = (String::new(), HashMap::new());
    if service.has_policy(row) {
        resource = match key {
            Some(key) => format!("arn:aws:s3:::{}/{key}", row.name),
            None => format!("arn:aws:s3:::{}", row.name),
        };
        context = request_context(facts, caller);
        if let Some(key) = key
            && service.policy_reads_object_tags(row)
        {
            for (k, v) in service.version_tags(row, key, which).await.s3()? {
                context.insert(format!("s3:existingobjecttag/{}", k.to_ascii_lowercase()), vec![v]);
            }
        }
    }
    let acl_allows = match acl {
        Some((target, permission)) if !caller.may_use(row) => {
            service.acl_allows(caller, row, target, key, which, permission).await.s3()?
        }
        _ => false,
    };
    Ok(service.authorize(caller, row, action, &resource, &context, acl_allows))
}

/// What an ACL must grant for an operation, and on what. Deleting a
/// version for good is the bucket owner's alone, as on S3: no ACL grants it.
pub(crate) fn acl_permission(op: &str, versioned: bool) -> Option<(AclTarget, AclPermission)> {
    use AclPermission as P;
    use AclTarget as T;
    Some(match op {
        "DeleteObject" | "DeleteObjects" if versioned => return None,
        "GetObject" | "HeadObject" | "GetObjectTagging" | "GetObjectAttributes" => (T::Object, P::Read),
        "GetObjectAcl" => (T::Object, P::ReadAcp),
        "PutObjectAcl" => (T::Object, P::WriteAcp),
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListMultipartUploads" | "HeadBucket" => {
            (T::Bucket, P::Read)
        }
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts" => (T::Bucket, P::Write),
        "GetBucketAcl" => (T::Bucket, P::ReadAcp),
        _ => return None,
    })
}

/// The IAM action of an S3 operation, as bucket policies name it.
pub(crate) fn action_of(op: &str, versioned: bool) -> String {
    let named = match op {
        "GetObject" | "HeadObject" if versioned => "GetObjectVersion",
        "GetObject" | "HeadObject" => "GetObject",
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "DeleteObject" if versioned => "DeleteObjectVersion",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "GetObjectTagging" if versioned => "GetObjectVersionTagging",
        "PutObjectTagging" if versioned => "PutObjectVersionTagging",
        "DeleteObjectTagging" if versioned => "DeleteObjectVersionTagging",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "DeleteBucketTagging" => "PutBucketTagging",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls" => "PutBucketOwnershipControls",
        other => other,
    };
    format!("s3:{named}")
}

fn query_value(uri: &http::Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The condition keys of a request (lower-case names), as bucket policies
/// test them.
fn request_context(facts: &Facts<'_>, caller: &Caller) -> HashMap<String, Vec<String>> {
    let mut context: HashMap<String, Vec<String>> = HashMap::new();
    let mut put = |k: &str, v: String| {
        context.insert(k.to_owned(), vec![v]);
    };
    if let Some(peer) = facts.peer {
        put("aws:sourceip", peer.ip().to_string());
    }
    // The gateway speaks plain HTTP; TLS, where used, ends in front of it.
    put("aws:securetransport", "false".to_owned());
    let now = time::OffsetDateTime::now_utc();
    put("aws:epochtime", now.unix_timestamp().to_string());
    if let Ok(text) = now.format(&time::format_description::well_known::Rfc3339) {
        put("aws:currenttime", text);
    }
    if !caller.is_anonymous() {
        put("aws:username", caller.access_key.clone());
        put("aws:userid", caller.access_key.clone());
    }
    let headers = facts.headers;
    for (header, key) in
        [("referer", "aws:referer"), ("user-agent", "aws:useragent"), ("x-amz-acl", "s3:x-amz-acl")]
    {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            put(key, v.to_owned());
        }
    }
    if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
        let tags: Vec<(String, String)> = form_urlencoded::parse(tagging.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (k, v) in &tags {
            put(&format!("s3:requestobjecttag/{}", k.to_ascii_lowercase()), v.clone());
        }
        context.insert("s3:requestobjecttagkeys".to_owned(), tags.into_iter().map(|(k, _)| k).collect());
    }
    for (param, key) in [
        ("prefix", "s3:prefix"),
        ("delimiter", "s3:delimiter"),
        ("max-keys", "s3:max-keys"),
        ("versionId", "s3:versionid"),
    ] {
        if let Some(v) = query_value(facts.uri, param) {
            context.insert(key.to_owned(), vec![v]);
        }
    }
    context
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
