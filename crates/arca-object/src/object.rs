//! Single objects: put, get (whole, a range or one part), head, delete and
//! copy.
//!
//! A put streams the body into blobs first and commits the row last, so a
//! reader sees either the old object or the whole new one, never a partial
//! body; a put that fails or loses (last writer wins) gives its blobs back.

use arca_meta::raft::{IndexCommand, IndexOutcome};
use arca_meta::{Manifest, ManifestPart, ObjectBody, ObjectMeta, ObjectRow, PutCondition};
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};

use crate::conditions::Conditions;
use crate::crypt::Key;
use crate::error::{ObjectError, ObjectResult, StdError};
use crate::lock::lock_new_version;
use crate::names::validate_key;
use crate::read::{BodyStream, read_body};
use crate::sse::{CustomerKey, SseRequest};
use crate::versions::{Deleted, VersionRef, version_for};
use crate::write::{StoredBody, WrittenBody};
use crate::{BucketRow, Caller, ObjectService};

/// Conditions on the object a put would replace (S3 conditional writes).
pub type Preconditions = PutCondition;

/// Runs once the whole body has been read and before the row is committed:
/// verifies checksums that arrive with or after the body (x-amz-checksum-*
/// headers and trailers) and returns the (algorithm, value) pairs to store.
pub type BodyCheck = Box<dyn FnOnce() -> ObjectResult<Vec<(String, String)>> + Send>;

pub struct PutObject {
    pub bucket: String,
    pub key: String,
    /// Content headers and user metadata; size, ETag and owner are filled in.
    pub meta: ObjectMeta,
    pub content_length: Option<u64>,
    pub content_md5: Option<[u8; 16]>,
    pub condition: Preconditions,
    /// The encryption the request asks for (else the bucket's default).
    pub sse: Option<SseRequest>,
}

/// A byte range as the Range header states it, before the size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-` or `bytes=first-last` (inclusive).
    Int { first: u64, last: Option<u64> },
    /// `bytes=-length`: the last `length` bytes.
    Suffix { length: u64 },
}

impl ByteRange {
    /// `[start, end)` within an object of `size` bytes.
    pub fn resolve(self, size: u64) -> ObjectResult<(u64, u64)> {
        match self {
            ByteRange::Int { first, last } => {
                if first >= size || last.is_some_and(|last| last < first) {
                    return Err(ObjectError::InvalidRange);
                }
                let end = last.map_or(size, |last| last.saturating_add(1).min(size));
                Ok((first, end))
            }
            ByteRange::Suffix { length } => {
                if length == 0 || size == 0 {
                    return Err(ObjectError::InvalidRange);
                }
                Ok((size.saturating_sub(length), size))
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GetObject {
    pub bucket: String,
    pub key: String,
    pub version: VersionRef,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
    pub conditions: Conditions,
    /// The SSE-C key, for an object stored with one.
    pub customer_key: Option<CustomerKey>,
}

pub struct ObjectRead {
    pub row: ObjectRow,
    /// The version id to report (none in a bucket never versioned).
    pub version: Option<VersionRef>,
    /// `[start, end)` served, when a range or a part was asked for.
    pub range: Option<Span>,
    /// The number of parts of a multipart object, when a part was asked for.
    pub parts_count: Option<u32>,
    /// The bytes, unless only the metadata was asked for.
    pub body: Option<BodyStream>,
    /// The data key of an encrypted body.
    key: Option<Key>,
}

impl ObjectRead {
    /// How many bytes the body stream yields.
    pub fn content_length(&self) -> u64 {
        self.range.map_or(self.row.meta.size, |(start, end)| end - start)
    }
}

pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version: VersionRef,
    /// x-amz-copy-source-if-*: any failure is 412 PreconditionFailed.
    pub conditions: Conditions,
    /// x-amz-copy-source-range (UploadPartCopy only).
    pub range: Option<ByteRange>,
    /// x-amz-copy-source-server-side-encryption-customer-*.
    pub customer_key: Option<CustomerKey>,
}

/// S3 allows 2 KB of user metadata, counted as the UTF-8 bytes of every
/// key and value; it lives in the object's row, read by every listing.
pub const MAX_USER_METADATA: usize = 2 << 10;

pub(crate) fn check_metadata(meta: &ObjectMeta) -> ObjectResult<()> {
    let size: usize = meta.user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA { Err(ObjectError::MetadataTooLarge) } else { Ok(()) }
}

pub(crate) fn quoted_md5(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode(md5))
}

/// An object version just written, and the version id to report.
#[derive(Debug, Clone)]
pub struct Written {
    pub row: ObjectRow,
    pub version: Option<VersionRef>,
}

impl ObjectService {
    pub async fn put_object<S, E>(
        &self,
        caller: &Caller,
        req: PutObject,
        body: S,
        check: Option<BodyCheck>,
    ) -> ObjectResult<Written>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<StdError>,
    {
        validate_key(&req.key)?;
        check_metadata(&req.meta)?;
        let bucket = self.bucket(caller, &req.bucket).await?;
        crate::acl::check_new_acl(&bucket, &req.meta.acl)?;
        let encryption = self.new_encryption(&bucket, req.sse.as_ref()).await?;
        let seal = encryption.as_ref().map(|(_, key)| key);
        let written = self.writer().write(body, req.content_length, true, seal).await?;
        let encryption = encryption.map(|(e, _)| e);
        let result = self.commit_put(caller, &bucket, req, &written, check, encryption).await;
        if let Err(err) = &result
            && !err.outcome_unknown()
        {
            written.release(&self.inner.reclaimer);
        }
        result
    }

    async fn commit_put(
        &self,
        caller: &Caller,
        bucket: &BucketRow,
        req: PutObject,
        written: &WrittenBody,
        check: Option<BodyCheck>,
        encryption: Option<arca_meta::Encryption>,
    ) -> ObjectResult<Written> {
        if req.content_md5.is_some_and(|md5| md5 != written.md5) {
            return Err(ObjectError::BadDigest);
        }
        let checksums = match check {
            Some(check) => check()?,
            None => Vec::new(),
        };
        let etag = quoted_md5(&written.md5);
        let body = match &written.stored {
            StoredBody::Inline(data) => ObjectBody::Inline(data.clone()),
            StoredBody::Striped { body, stripe_size } => ObjectBody::Striped(Manifest {
                parts: vec![ManifestPart {
                    part_number: 0,
                    body: *body,
                    size: written.size,
                    stripe_size: *stripe_size,
                    etag: etag.clone(),
                }],
            }),
        };
        let mut meta = ObjectMeta {
            size: written.size,
            etag,
            owner: caller.access_key.clone(),
            checksums,
            encryption,
            ..req.meta
        };
        let ts = self.clock().now();
        lock_new_version(bucket, &mut meta, ts)?;
        let version = version_for(bucket, ts);
        let row = ObjectRow { bucket: bucket.id, key: req.key, version, ts, deleted: false, meta, body };
        let row = self.commit_row(row, req.condition).await?;
        Ok(Written { row, version: VersionRef::reported(bucket, version) })
    }

    /// Writes `row` through its bucket's index range and frees what it
    /// replaced. A row that did not take effect frees its own blobs instead.
    pub(crate) async fn commit_row(
        &self,
        row: ObjectRow,
        condition: PutCondition,
    ) -> ObjectResult<ObjectRow> {
        let command = IndexCommand::PutObject { row: row.clone(), condition };
        let IndexOutcome::Put(outcome) = self.cluster().index_write(row.bucket, command).await? else {
            return Err(ObjectError::Internal("unexpected answer to a put".into()));
        };
        if !outcome.applied {
            self.inner.reclaimer.release_later(&row.body);
        }
        if let Some(old) = outcome.replaced {
            self.inner.reclaimer.release_later(&old.body);
        }
        Ok(row)
    }

    /// GetObject (with `with_body`) and HeadObject (without).
    pub async fn get_object(
        &self,
        caller: &Caller,
        req: GetObject,
        with_body: bool,
    ) -> ObjectResult<ObjectRead> {
        let read = self.resolve_read(caller, req).await?;
        if with_body { self.open_body(read).await } else { Ok(read) }
    }

    /// The row, conditions and range of a read, without its body.
    async fn resolve_read(&self, caller: &Caller, req: GetObject) -> ObjectResult<ObjectRead> {
        let bucket = self.bucket(caller, &req.bucket).await?;
        let row = self.readable_version(&bucket, &req.key, req.version).await?;
        let version = VersionRef::reported(&bucket, row.version);
        let key = self.opening_key(row.meta.encryption.as_ref(), req.customer_key.as_ref()).await?;
        req.conditions.check(&row.meta.etag, row.ts)?;
        let size = row.meta.size;

        let (range, parts_count) = match (req.part_number, req.range) {
            (Some(_), Some(_)) => {
                return Err(ObjectError::InvalidRequest(
                    "Cannot specify both Range header and partNumber query parameter".into(),
                ));
            }
            (Some(number), None) => part_range(&row, number)?,
            (None, Some(range)) => (Some(range.resolve(size)?), None),
            (None, None) => (None, None),
        };
        Ok(ObjectRead { row, version, range, parts_count, body: None, key })
    }

    /// Opens the body of a resolved read.
    async fn open_body(&self, mut read: ObjectRead) -> ObjectResult<ObjectRead> {
        let (start, end) = read.range.unwrap_or((0, read.row.meta.size));
        let body = if start == end {
            Box::pin(stream::empty()) as BodyStream
        } else {
            // The first piece is read before answering: a missing or corrupt
            // first stripe (all of a small object) is then an error response
            // rather than a 200 whose body breaks off.
            let mut body = read_body(self.placement().clone(), &read.row.body, start, end, read.key.clone());
            let first = body.next().await.transpose()?;
            Box::pin(stream::iter(first.map(Ok)).chain(body)) as BodyStream
        };
        read.body = Some(body);
        Ok(read)
    }

    /// DeleteObjects: one result per (key, version), in order. The deletes
    /// run concurrently so the index commits them in a few group commits.
    pub async fn delete_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        keys: Vec<(String, VersionRef)>,
        bypass_governance: bool,
    ) -> ObjectResult<Vec<(String, VersionRef, ObjectResult<Deleted>)>> {
        let bucket = &self.bucket(caller, bucket).await?;
        let results = stream::iter(keys)
            .map(|(key, which)| async move {
                let result = match validate_key(&key) {
                    Ok(()) => self.delete_in(bucket, &key, which, bypass_governance).await,
                    Err(err) => Err(err),
                };
                (key, which, result)
            })
            .buffered(64)
            .collect()
            .await;
        Ok(results)
    }

    /// CopyObject: streams the source through a new put. With
    /// `replace_meta` false the source's content headers and user metadata
    /// are kept (the COPY directive); its tags are kept unless `tags` are
    /// given (the REPLACE tagging directive).
    pub async fn copy_object(
        &self,
        caller: &Caller,
        source: CopySource,
        mut dest: PutObject,
        replace_meta: bool,
        tags: Option<crate::Tags>,
    ) -> ObjectResult<(ObjectRead, Written)> {
        if source.bucket == dest.bucket
            && source.key == dest.key
            && source.version == VersionRef::Current
            && !replace_meta
        {
            return Err(ObjectError::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing \
                 the object's metadata, storage class, website redirect location or encryption attributes."
                    .into(),
            ));
        }
        let mut read = self.open_copy_source(caller, &source, None).await?;
        if !replace_meta {
            // The lock and ACL of the copy are the request's, never the
            // source's.
            let (retention, legal_hold, acl) =
                (dest.meta.retention, dest.meta.legal_hold, dest.meta.acl.clone());
            dest.meta =
                ObjectMeta { checksums: Vec::new(), retention, legal_hold, acl, ..read.row.meta.clone() };
        }
        // Tags follow their own directive: the source's unless replaced.
        dest.meta.tags = tags.unwrap_or_else(|| read.row.meta.tags.clone());
        dest.content_length = Some(read.content_length());
        let body = read.body.take().unwrap_or_else(|| Box::pin(stream::empty()));
        let written = self.put_object(caller, dest, body, None).await?;
        Ok((read, written))
    }

    /// Opens the source of a copy; failed copy-source conditions are 412.
    pub(crate) async fn open_copy_source(
        &self,
        caller: &Caller,
        source: &CopySource,
        range: Option<ByteRange>,
    ) -> ObjectResult<ObjectRead> {
        let req = GetObject {
            bucket: source.bucket.clone(),
            key: source.key.clone(),
            version: source.version,
            customer_key: source.customer_key.clone(),
            range,
            part_number: None,
            conditions: source.conditions.clone(),
        };
        // The source is read with what the access check allowed for the
        // source alone, never with what it allowed for the target.
        let reader = Caller { policy_bucket: caller.copy_source_bucket.clone(), ..caller.clone() };
        // Checked before the body is opened, so a refused copy reads no
        // stripe.
        let read = self.resolve_read(&reader, req).await.map_err(copy_source_error)?;
        check_copy(&read, range)?;
        self.open_body(read).await
    }
}

/// The most bytes one CopyObject or UploadPartCopy copies (S3: 5 GiB).
pub const MAX_COPY_SOURCE: u64 = 5 << 30;

/// A copy source's failed conditions are 412, never 304, and a copy range
/// must lie inside the source: S3 refuses it where a GET would answer 416
/// or clamp the range's end.
fn copy_source_error(e: ObjectError) -> ObjectError {
    match e {
        ObjectError::NotModified => ObjectError::PreconditionFailed,
        ObjectError::InvalidRange => copy_range_error(),
        other => other,
    }
}

fn check_copy(read: &ObjectRead, range: Option<ByteRange>) -> ObjectResult<()> {
    if let Some(ByteRange::Int { last: Some(last), .. }) = range
        && last >= read.row.meta.size
    {
        return Err(copy_range_error());
    }
    // A copy is one request, held to a single PUT's limit: larger objects
    // are copied part by part with UploadPartCopy ranges.
    if read.content_length() > MAX_COPY_SOURCE {
        return Err(ObjectError::InvalidRequest(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: \
             {MAX_COPY_SOURCE}"
        )));
    }
    Ok(())
}

fn copy_range_error() -> ObjectError {
    ObjectError::InvalidArgument("Range specified is not valid for the size of the source object".into())
}

/// `[start, end)` of an object's bytes.
type Span = (u64, u64);

/// The byte range of part `number` of an object, and its part count.
/// An object that was not uploaded in parts has one part, itself.
fn part_range(row: &ObjectRow, number: u32) -> ObjectResult<(Option<Span>, Option<u32>)> {
    let parts = match &row.body {
        ObjectBody::Striped(manifest) if manifest.parts.first().is_some_and(|p| p.part_number > 0) => {
            &manifest.parts
        }
        _ if number == 1 => return Ok((None, None)),
        _ => return Err(ObjectError::InvalidPartNumber),
    };
    let mut start = 0;
    for part in parts {
        if part.part_number == number {
            return Ok((Some((start, start + part.size)), Some(parts.len() as u32)));
        }
        start += part.size;
    }
    Err(ObjectError::InvalidPartNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_http_says() {
        let r = |first, last| ByteRange::Int { first, last };
        assert_eq!(r(0, Some(0)).resolve(10).unwrap(), (0, 1));
        assert_eq!(r(2, None).resolve(10).unwrap(), (2, 10));
        assert_eq!(r(2, Some(100)).resolve(10).unwrap(), (2, 10));
        assert!(r(10, None).resolve(10).is_err());
        assert!(r(5, Some(4)).resolve(10).is_err());
        assert!(r(0, Some(0)).resolve(0).is_err());
        assert_eq!(ByteRange::Suffix { length: 3 }.resolve(10).unwrap(), (7, 10));
        assert_eq!(ByteRange::Suffix { length: 30 }.resolve(10).unwrap(), (0, 10));
        assert!(ByteRange::Suffix { length: 0 }.resolve(10).is_err());
    }
}
