//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort,
//! ListParts, ListMultipartUploads.

use arca_object::{ByteRange, CompletedPart, ObjectError, UploadListQuery};
use arca_types::ObjectId;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::checksum::{DeclaredChecksums, to_dto};
use crate::convert::{self, etag, timestamp};
use crate::error::{IntoS3, to_s3};
use crate::list::{MAX_PAGE, encode, url_encoding};
use crate::object::{copy_source, part_number_of};

/// An upload id from a request; one we never issued names no upload.
fn upload_id(text: &str) -> S3Result<ObjectId> {
    text.parse().map_err(|_| to_s3(ObjectError::NoSuchUpload))
}

pub(crate) async fn create_multipart_upload(
    s3: &ArcaS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    crate::unsupported::check_write(&crate::unsupported::write_options!(input))?;
    let mut meta = convert::object_meta!(input);
    meta.acl = crate::access::object_acl!(input);
    let sse = crate::sse::write_sse!(input);
    let upload =
        s3.service.create_multipart_upload(&caller, &input.bucket, &input.key, meta, sse).await.s3()?;
    let (server_side_encryption, sse_customer_algorithm, sse_customer_key_md5) =
        crate::sse::echo(upload.meta.encryption.as_ref());
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload.upload_id.to_string()),
        server_side_encryption,
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    }))
}

pub(crate) async fn upload_part(
    s3: &ArcaS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let caller = caller(&req)?;
    let declared = DeclaredChecksums::from_request(
        &req.headers,
        req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
        req.trailing_headers.clone(),
    )
    .s3()?;
    let input = req.input;
    let upload = upload_id(&input.upload_id)?;
    let number = part_number_of(input.part_number)?;
    let customer_key = crate::sse::read_key!(input);
    let content_md5 = convert::content_md5(input.content_md5.as_deref()).s3()?;
    let content_length = crate::object::declared_length(input.content_length)?;
    let Some(body) = input.body else {
        return Err(s3_error!(MissingContentLength, "You must provide the Content-Length HTTP header."));
    };
    let (body, check) = declared.attach(body);
    let part = s3
        .service
        .upload_part(
            &caller,
            &input.bucket,
            &input.key,
            upload,
            number,
            content_length,
            content_md5,
            customer_key.as_ref(),
            body,
            check,
        )
        .await
        .s3()?;
    let sums = to_dto(&part.checksums);
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        ..Default::default()
    }))
}

/// x-amz-copy-source-range: `bytes=first-last`, both given.
pub(crate) fn copy_range(value: Option<&str>) -> S3Result<Option<ByteRange>> {
    let Some(value) = value else { return Ok(None) };
    let invalid = || {
        s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last")
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    if last < first {
        return Err(invalid());
    }
    Ok(Some(ByteRange::Int { first, last: Some(last) }))
}

pub(crate) async fn upload_part_copy(
    s3: &ArcaS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let upload = upload_id(&input.upload_id)?;
    let number = part_number_of(input.part_number)?;
    let conditions = crate::object::conditions(
        input.copy_source_if_match,
        input.copy_source_if_none_match,
        input.copy_source_if_modified_since,
        input.copy_source_if_unmodified_since,
    );
    let mut source =
        copy_source(input.copy_source, conditions, copy_range(input.copy_source_range.as_deref())?)?;
    source.customer_key = crate::sse::customer_key(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
    let customer_key = crate::sse::read_key!(input);
    let (_, part) = s3
        .service
        .upload_part_copy(&caller, source, &input.bucket, &input.key, upload, number, customer_key.as_ref())
        .await
        .s3()?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(timestamp(part.ts)),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

pub(crate) async fn complete_multipart_upload(
    s3: &ArcaS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let upload = upload_id(&input.upload_id)?;
    let requested = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let number = p.part_number.filter(|n| *n >= 1).ok_or_else(|| to_s3(ObjectError::MalformedXml))?;
            let etag =
                p.e_tag.map(|e| e.value().to_owned()).ok_or_else(|| to_s3(ObjectError::MalformedXml))?;
            Ok(CompletedPart { part_number: number as u32, etag })
        })
        .collect::<S3Result<Vec<_>>>()?;
    let written = s3
        .service
        .complete_multipart_upload(&caller, &input.bucket, &input.key, upload, requested)
        .await
        .s3()?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(etag(&written.row.meta.etag)),
        version_id: crate::object::version_text(written.version),
        ..Default::default()
    }))
}

pub(crate) async fn abort_multipart_upload(
    s3: &ArcaS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let upload = upload_id(&input.upload_id)?;
    s3.service.abort_multipart_upload(&caller, &input.bucket, &input.key, upload).await.s3()?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub(crate) async fn list_parts(
    s3: &ArcaS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let upload = upload_id(&input.upload_id)?;
    let max = crate::list::max_keys(input.max_parts)?;
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let (row, parts, truncated) =
        s3.service.list_parts(&caller, &input.bucket, &input.key, upload, marker, max).await.s3()?;
    let owner = s3.owner(&row.meta.owner).await?;
    let next = parts.last().map(|p| p.part_number as i32);
    let parts = parts
        .into_iter()
        .map(|p| Part {
            part_number: Some(p.part_number as i32),
            size: Some(p.size as i64),
            e_tag: Some(etag(&p.etag)),
            last_modified: Some(timestamp(p.ts)),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: Some(marker as i32),
        next_part_number_marker: next.filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(parts),
        initiator: Some(Initiator { id: owner.id.clone(), display_name: owner.display_name.clone() }),
        owner: Some(owner),
        storage_class: Some(StorageClass::from(crate::convert::storage_class(
            row.meta.storage_class.as_deref(),
        ))),
        ..Default::default()
    }))
}

pub(crate) async fn list_multipart_uploads(
    s3: &ArcaS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let max = match input.max_uploads {
        None => MAX_PAGE,
        Some(n) if n < 0 => {
            return Err(s3_error!(InvalidArgument, "max-uploads must be a non-negative integer"));
        }
        Some(n) => (n as usize).min(MAX_PAGE),
    };
    let upload_id_marker = match input.upload_id_marker.as_deref().filter(|m| !m.is_empty()) {
        // Without a key marker S3 ignores the upload id marker.
        Some(m) if input.key_marker.is_some() => {
            Some(m.parse().map_err(|_| s3_error!(InvalidArgument, "Invalid uploadId marker"))?)
        }
        _ => None,
    };
    let query = UploadListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        key_marker: input.key_marker.clone().filter(|k| !k.is_empty()),
        upload_id_marker,
        max_uploads: max,
    };
    let page = s3.service.list_multipart_uploads(&caller, &input.bucket, query).await.s3()?;
    let mut uploads = Vec::with_capacity(page.uploads.len());
    for u in page.uploads {
        let owner = s3.owner(&u.meta.owner).await?;
        uploads.push(MultipartUpload {
            key: Some(encode(&u.key, url)),
            upload_id: Some(u.upload_id.to_string()),
            initiated: Some(timestamp(u.initiated)),
            initiator: Some(Initiator { id: owner.id.clone(), display_name: owner.display_name.clone() }),
            owner: Some(owner),
            storage_class: Some(StorageClass::from(crate::convert::storage_class(
                u.meta.storage_class.as_deref(),
            ))),
            ..Default::default()
        });
    }
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix.map(|p| encode(&p, url)),
        delimiter: input.delimiter.map(|d| encode(&d, url)),
        key_marker: input.key_marker.map(|k| encode(&k, url)),
        upload_id_marker: input.upload_id_marker,
        next_key_marker: page.next_key_marker.map(|k| encode(&k, url)),
        next_upload_id_marker: page.next_upload_id_marker.map(|id| id.to_string()),
        max_uploads: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        uploads: Some(uploads),
        common_prefixes: Some(
            page.common_prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(encode(&p, url)) })
                .collect(),
        ),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_need_both_ends() {
        assert_eq!(copy_range(Some("bytes=0-9")).unwrap(), Some(ByteRange::Int { first: 0, last: Some(9) }));
        assert_eq!(copy_range(None).unwrap(), None);
        for bad in ["bytes=5-", "bytes=-5", "0-9", "bytes=9-0", "bytes=a-b"] {
            assert!(copy_range(Some(bad)).is_err(), "{bad}");
        }
    }
}
