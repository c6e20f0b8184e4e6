//! Object operations: PutObject, GetObject, HeadObject, DeleteObject,
//! DeleteObjects, CopyObject.

use arca_object::{
    ByteRange, Conditions, CopySource, GetObject, ObjectRead, PutCondition, PutObject, Verdict, VersionRef,
};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::body::SyncBody;
use crate::checksum::{DeclaredChecksums, to_dto};
use crate::convert::{self, etag, etag_condition, system_time, timestamp};
use crate::error::IntoS3;
use crate::unsupported;

/// S3 caps DeleteObjects at 1000 keys per request.
const MAX_DELETE_KEYS: usize = 1000;

fn put_condition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> S3Result<PutCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(PutCondition::Always),
        (None, Some(ETagCondition::Any)) => Ok(PutCondition::IfAbsent),
        (Some(cond), None) => Ok(PutCondition::IfEtag(etag_condition(Some(cond)).unwrap_or_default())),
        _ => Err(s3_error!(
            NotImplemented,
            "Only If-None-Match: * or a single If-Match are supported on writes"
        )),
    }
}

/// The length of a PutObject or UploadPart body. S3 wants it declared
/// (aws-chunked uploads declare it as x-amz-decoded-content-length, which
/// s3s hands over as the content length).
pub(crate) fn declared_length(content_length: Option<i64>) -> S3Result<Option<u64>> {
    match content_length {
        Some(len) if len < 0 => Err(s3_error!(InvalidArgument, "Content-Length must not be negative")),
        Some(len) => Ok(Some(len as u64)),
        None => Err(s3_error!(MissingContentLength, "You must provide the Content-Length HTTP header.")),
    }
}

pub(crate) fn byte_range(range: Option<Range>) -> Option<ByteRange> {
    range.map(|r| match r {
        Range::Int { first, last } => ByteRange::Int { first, last },
        Range::Suffix { length } => ByteRange::Suffix { length },
    })
}

pub(crate) async fn put_object(
    s3: &ArcaS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let caller = caller(&req)?;
    let declared = DeclaredChecksums::from_request(
        &req.headers,
        req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
        req.trailing_headers.clone(),
    )
    .s3()?;
    let input = req.input;
    unsupported::check_write(&unsupported::write_options!(input))?;
    let content_md5 = convert::content_md5(input.content_md5.as_deref()).s3()?;
    let condition = put_condition(input.if_match, input.if_none_match)?;
    let content_length = declared_length(input.content_length)?;
    let Some(body) = input.body else {
        return Err(s3_error!(MissingContentLength, "You must provide the Content-Length HTTP header."));
    };
    let mut meta = convert::object_meta!(input);
    meta.acl = crate::access::object_acl!(input);
    let sse = crate::sse::write_sse!(input);
    let (body, check) = declared.attach(body);
    let put =
        PutObject { bucket: input.bucket, key: input.key, meta, content_length, content_md5, condition, sse };
    let written = s3.service.put_object(&caller, put, body, check).await.s3()?;
    let row = &written.row;
    let sums = to_dto(&row.meta.checksums);
    let (server_side_encryption, sse_customer_algorithm, sse_customer_key_md5) =
        crate::sse::echo(row.meta.encryption.as_ref());
    Ok(S3Response::new(PutObjectOutput {
        server_side_encryption,
        sse_customer_algorithm,
        sse_customer_key_md5,
        e_tag: Some(etag(&row.meta.etag)),
        version_id: version_text(written.version),
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        ..Default::default()
    }))
}

pub(crate) fn conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> Conditions {
    Conditions {
        if_match: etag_condition(if_match),
        if_none_match: etag_condition(if_none_match),
        if_modified_since: system_time(if_modified_since),
        if_unmodified_since: system_time(if_unmodified_since),
    }
}

fn part_number(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(part_number_of).transpose()
}

pub(crate) fn part_number_of(n: i32) -> S3Result<u32> {
    u32::try_from(n).ok().filter(|n| (1..=arca_object::MAX_PART_NUMBER).contains(n)).ok_or_else(|| {
        s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
    })
}

/// What GetObject and HeadObject both return about an object.
struct Described {
    content_length: i64,
    content_range: Option<String>,
    checksums: Checksum,
}

fn describe(read: &ObjectRead, checksum_mode: Option<&ChecksumMode>) -> Described {
    let size = read.row.meta.size;
    let content_range =
        read.range.map(|(start, end)| format!("bytes {start}-{}/{size}", end.saturating_sub(1)));
    // Stored checksums cover the whole object; a range or part gets none.
    let checksums =
        if checksum_mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) && read.range.is_none() {
            to_dto(&read.row.meta.checksums)
        } else {
            Checksum::default()
        };
    Described { content_length: read.content_length() as i64, content_range, checksums }
}

/// The version a request's `versionId` names (S3 refuses an empty one).
pub(crate) fn version_ref(version_id: Option<&str>) -> S3Result<VersionRef> {
    match version_id {
        None => Ok(VersionRef::Current),
        Some("") => Err(s3_error!(InvalidArgument, "Version id cannot be the empty string")),
        Some(v) => v.parse().s3(),
    }
}

/// The x-amz-version-id a response carries.
pub(crate) fn version_text(version: Option<VersionRef>) -> Option<String> {
    version.map(|v| v.to_string())
}

/// GetObject and HeadObject take the same request fields and answer with
/// the same headers; these two macros list them once for both types.
macro_rules! get_request {
    ($input:expr) => {{
        GetObject {
            customer_key: crate::sse::read_key!($input),
            version: version_ref($input.version_id.as_deref())?,
            bucket: $input.bucket,
            key: $input.key,
            range: byte_range($input.range),
            part_number: part_number($input.part_number)?,
            conditions: conditions(
                $input.if_match,
                $input.if_none_match,
                $input.if_modified_since,
                $input.if_unmodified_since,
            ),
        }
    }};
}

macro_rules! object_headers {
    ($output:ident, $read:expr, $checksum_mode:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let d = describe(&$read, $checksum_mode);
        let meta = &$read.row.meta;
        let (server_side_encryption, sse_customer_algorithm, sse_customer_key_md5) =
            crate::sse::echo(meta.encryption.as_ref());
        $output {
            $($field: $value,)*
            server_side_encryption,
            sse_customer_algorithm,
            sse_customer_key_md5,
            accept_ranges: Some("bytes".to_owned()),
            content_length: Some(d.content_length),
            content_range: d.content_range,
            content_type: Some(meta.content_type.clone().unwrap_or_else(|| "binary/octet-stream".to_owned())),
            content_encoding: meta.content_encoding.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_language: meta.content_language.clone(),
            cache_control: meta.cache_control.clone(),
            expires: meta.expires.clone(),
            website_redirect_location: meta.website_redirect.clone(),
            object_lock_mode: meta.retention.map(|r| ObjectLockMode::from(convert::mode_name(r.mode).to_owned())),
            object_lock_retain_until_date: meta.retention.map(|r| Timestamp::from(arca_object::retain_until(&r))),
            object_lock_legal_hold_status: meta
                .legal_hold
                .then(|| ObjectLockLegalHoldStatus::from(ObjectLockLegalHoldStatus::ON.to_owned())),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp($read.row.ts)),
            version_id: version_text($read.version),
            metadata: convert::metadata(meta),
            parts_count: $read.parts_count.map(|n| n as i32),
            checksum_crc32: d.checksums.checksum_crc32,
            checksum_crc32c: d.checksums.checksum_crc32c,
            checksum_crc64nvme: d.checksums.checksum_crc64nvme,
            checksum_sha1: d.checksums.checksum_sha1,
            checksum_sha256: d.checksums.checksum_sha256,
            ..Default::default()
        }
    }};
}

pub(crate) async fn get_object(
    s3: &ArcaS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let checksum_mode = input.checksum_mode.clone();
    let mut read = s3.service.get_object(&caller, get_request!(input), true).await.s3()?;
    let body = read.body.take().map(|b| StreamingBlob::wrap(SyncBody::new(b)));
    let tag_count = (!read.row.meta.tags.is_empty()).then_some(read.row.meta.tags.len() as i32);
    Ok(S3Response::new(object_headers!(GetObjectOutput, read, checksum_mode.as_ref(), {
        body: body,
        tag_count: tag_count,
    })))
}

pub(crate) async fn head_object(
    s3: &ArcaS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let checksum_mode = input.checksum_mode.clone();
    let read = s3.service.get_object(&caller, get_request!(input), false).await.s3()?;
    Ok(S3Response::new(object_headers!(HeadObjectOutput, read, checksum_mode.as_ref(), {})))
}

pub(crate) async fn delete_object(
    s3: &ArcaS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    let deleted = s3.service.delete_object(&caller, &input.bucket, &input.key, which, bypass).await.s3()?;
    Ok(S3Response::new(DeleteObjectOutput {
        version_id: version_text(deleted.version),
        delete_marker: deleted.delete_marker.then_some(true),
        ..Default::default()
    }))
}

pub(crate) async fn delete_objects(
    s3: &ArcaS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let mut caller = caller(&req)?;
    let peer = req.extensions.get::<crate::auth::PeerAddr>().map(|p| p.0);
    let facts = crate::auth::Facts { headers: &req.headers, uri: &req.uri, peer };
    let row = if caller.is_root {
        None
    } else {
        // A bucket that cannot be read now fails the request: skipping the
        // per-key decisions would skip the policy's Deny.
        s3.service.cluster().bucket(&req.input.bucket).await.map_err(arca_object::ObjectError::from).s3()?
    };
    let input = req.input;
    if input.delete.objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "A DeleteObjects request may name at most {MAX_DELETE_KEYS} keys"
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    let mut keys = Vec::with_capacity(input.delete.objects.len());
    // Each key is decided on its own, as its own DeleteObject, by what the
    // caller is without any other key's allowance.
    let base = caller.clone();
    for o in input.delete.objects {
        let which = match version_ref(o.version_id.as_deref()) {
            Err(err) => Err(err),
            Ok(which) => match &row {
                None => Ok(which),
                Some(row) => match delete_verdict(s3, &base, row, &o.key, which, &facts).await {
                    Ok(Verdict::Denied(why)) => {
                        Err(s3s::S3Error::with_message(s3s::S3ErrorCode::AccessDenied, why))
                    }
                    Ok(Verdict::Allowed) => {
                        caller.policy_bucket = Some(row.name.clone());
                        Ok(which)
                    }
                    Ok(Verdict::Proceed) if base.may_use(row) => Ok(which),
                    Ok(Verdict::Proceed) => {
                        Err(s3s::S3Error::with_message(s3s::S3ErrorCode::AccessDenied, "Access Denied"))
                    }
                    Err(err) => Err(err),
                },
            },
        };
        match which {
            Ok(which) => keys.push((o.key, which)),
            Err(err) => errors.push(Error {
                code: Some(err.code().as_str().to_owned()),
                key: Some(o.key),
                message: err.message().map(str::to_owned),
                version_id: o.version_id,
            }),
        }
    }
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    // A caller the bucket allows nothing is refused as a whole, as S3 does;
    // one it allows some keys gets an answer per key.
    if keys.is_empty() && !errors.is_empty() && !row.as_ref().is_none_or(|r| caller.may_use(r)) {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    let results = if keys.is_empty() && !errors.is_empty() {
        Vec::new()
    } else {
        s3.service.delete_objects(&caller, &input.bucket, keys, bypass).await.s3()?
    };
    for (key, which, result) in results {
        let named = (which != VersionRef::Current).then(|| which.to_string());
        match result {
            Ok(_) if quiet => {}
            Ok(done) => deleted.push(DeletedObject {
                key: Some(key),
                version_id: named,
                delete_marker: done.delete_marker.then_some(true),
                // A marker made by this delete: its own id.
                delete_marker_version_id: (which == VersionRef::Current && done.delete_marker)
                    .then(|| version_text(done.version))
                    .flatten(),
            }),
            Err(err) => {
                let err = crate::error::to_s3(err);
                errors.push(Error {
                    code: Some(err.code().as_str().to_owned()),
                    key: Some(key),
                    message: err.message().map(str::to_owned),
                    version_id: named,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

/// The access decision for one key of a DeleteObjects request.
async fn delete_verdict(
    s3: &ArcaS3,
    caller: &arca_object::Caller,
    row: &arca_object::BucketRow,
    key: &str,
    which: VersionRef,
    facts: &crate::auth::Facts<'_>,
) -> S3Result<Verdict> {
    let versioned = which != VersionRef::Current;
    let action = crate::auth::action_of("DeleteObject", versioned);
    let acl = crate::auth::acl_permission("DeleteObject", versioned);
    crate::auth::decide(&s3.service, caller, row, &action, Some(key), which, acl, facts).await
}

/// The source of CopyObject / UploadPartCopy as Arca names it.
pub(crate) fn copy_source(
    source: s3s::dto::CopySource,
    conditions: Conditions,
    range: Option<ByteRange>,
) -> S3Result<CopySource> {
    match source {
        s3s::dto::CopySource::Bucket { bucket, key, version_id } => Ok(CopySource {
            bucket: bucket.into(),
            key: key.into(),
            version: version_ref(version_id.as_deref())?,
            conditions,
            range,
            customer_key: None,
        }),
        _ => Err(s3_error!(NotImplemented, "Copying from an access point is not supported")),
    }
}

pub(crate) async fn copy_object(
    s3: &ArcaS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    unsupported::check_write(&unsupported::write_options!(input))?;
    let mut source = copy_source(
        input.copy_source,
        conditions(
            input.copy_source_if_match,
            input.copy_source_if_none_match,
            input.copy_source_if_modified_since,
            input.copy_source_if_unmodified_since,
        ),
        None,
    )?;
    let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive: {other}")),
    };
    let mut meta = convert::object_meta!(input);
    meta.acl = crate::access::object_acl!(input);
    let tags = match input.tagging_directive.as_ref().map(|d| d.as_str()) {
        None | Some("COPY") => None,
        Some("REPLACE") => Some(meta.tags.clone()),
        Some(other) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive: {other}")),
    };
    source.customer_key = crate::sse::customer_key(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
    let sse = crate::sse::write_sse!(input);
    let condition = put_condition(input.if_match, input.if_none_match)?;
    let dest = PutObject {
        bucket: input.bucket,
        key: input.key,
        meta,
        content_length: None,
        content_md5: None,
        condition,
        sse,
    };
    let (source, written) = s3.service.copy_object(&caller, source, dest, replace, tags).await.s3()?;
    let (server_side_encryption, sse_customer_algorithm, sse_customer_key_md5) =
        crate::sse::echo(written.row.meta.encryption.as_ref());
    Ok(S3Response::new(CopyObjectOutput {
        server_side_encryption,
        sse_customer_algorithm,
        sse_customer_key_md5,
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&written.row.meta.etag)),
            last_modified: Some(timestamp(written.row.ts)),
            ..Default::default()
        }),
        copy_source_version_id: version_text(source.version),
        version_id: version_text(written.version),
        ..Default::default()
    }))
}

/// GetObjectAttributes: what a HEAD tells, plus the parts of a multipart
/// object (paged by part-number-marker and max-parts), each attribute only
/// when asked for.
pub(crate) async fn get_object_attributes(
    s3: &ArcaS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let get = GetObject {
        customer_key: crate::sse::read_key!(input),
        version: version_ref(input.version_id.as_deref())?,
        bucket: input.bucket,
        key: input.key,
        ..Default::default()
    };
    let read = s3.service.get_object(&caller, get, false).await.s3()?;
    // One header, `ETag,ObjectSize`, or the header repeated: either way.
    let wanted =
        |name: &str| input.object_attributes.iter().any(|a| a.as_str().split(',').any(|x| x.trim() == name));
    let meta = &read.row.meta;
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(timestamp(read.row.ts)),
        version_id: version_text(read.version),
        ..Default::default()
    };
    if wanted(ObjectAttributes::ETAG) {
        out.e_tag = Some(etag(&meta.etag));
    }
    if wanted(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = Some(meta.size as i64);
    }
    if wanted(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from(convert::storage_class(meta.storage_class.as_deref())));
    }
    if wanted(ObjectAttributes::CHECKSUM) && !meta.checksums.is_empty() {
        out.checksum = Some(to_dto(&meta.checksums));
    }
    if wanted(ObjectAttributes::OBJECT_PARTS)
        && let arca_object::ObjectBody::Striped(manifest) = &read.row.body
        && manifest.parts.first().is_some_and(|p| p.part_number > 0)
    {
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after: Vec<_> = manifest.parts.iter().filter(|p| p.part_number > marker).collect();
        let page = &after[..after.len().min(max)];
        let truncated = after.len() > page.len();
        out.object_parts = Some(GetObjectAttributesParts {
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker as i32),
            next_part_number_marker: page.last().filter(|_| truncated).map(|p| p.part_number as i32),
            parts: Some(
                page.iter()
                    .map(|p| ObjectPart {
                        part_number: Some(p.part_number as i32),
                        size: Some(p.size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
            total_parts_count: Some(manifest.parts.len() as i32),
        });
    }
    Ok(S3Response::new(out))
}
