//! Multipart uploads (R4): parts are stored as blobs when they arrive;
//! completing an upload validates the part list and writes one row whose
//! manifest lists the parts' blobs in order — no byte is copied.

use arca_cluster::{IndexAnswer, IndexQuery};
use arca_meta::raft::{IndexCommand, IndexOutcome};
use arca_meta::{
    Manifest, ManifestPart, ObjectBody, ObjectMeta, ObjectRow, PartRow, UploadListPage, UploadListQuery,
    UploadRow,
};
use arca_types::ObjectId;
use bytes::Bytes;
use futures::{Stream, stream};
use md5::{Digest, Md5};

use crate::error::{ObjectError, ObjectResult, StdError};
use crate::names::validate_key;
use crate::object::{BodyCheck, CopySource, Written, check_metadata, quoted_md5};
use crate::sse::{CustomerKey, SseRequest};
use crate::versions::{VersionRef, version_for};
use crate::write::StoredBody;
use crate::{Caller, ObjectService};

/// Every part but the last must be at least this large (S3: 5 MiB).
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_NUMBER: u32 = 10_000;

/// One entry of a CompleteMultipartUpload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

fn part_run(part: &PartRow) -> ManifestPart {
    ManifestPart {
        part_number: part.part_number,
        body: part.body,
        size: part.size,
        stripe_size: part.stripe_size,
        etag: part.etag.clone(),
    }
}

fn check_part_number(part_number: u32) -> ObjectResult<()> {
    if (1..=MAX_PART_NUMBER).contains(&part_number) {
        Ok(())
    } else {
        Err(ObjectError::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}

impl ObjectService {
    pub async fn create_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        sse: Option<SseRequest>,
    ) -> ObjectResult<UploadRow> {
        validate_key(key)?;
        check_metadata(&meta)?;
        let bucket = self.bucket(caller, bucket).await?;
        crate::acl::check_new_acl(&bucket, &meta.acl)?;
        // The upload's data key: every part is sealed with it (and its
        // part's id); the completed object keeps it.
        meta.encryption = self.new_encryption(&bucket, sse.as_ref()).await?.map(|(e, _)| e);
        let now = self.clock().now();
        meta.owner = caller.access_key.clone();
        // Checked now as S3 does; the default retention is given at
        // completion, when the version is made.
        crate::lock::lock_new_version(&bucket, &mut meta.clone(), now)?;
        let row = UploadRow {
            bucket: bucket.id,
            key: key.to_owned(),
            // Time-ordered: ids of one key sort in the order the uploads were
            // started, as S3 lists them.
            upload_id: ObjectId::time_ordered(now.micros),
            initiated: now,
            meta,
            ts: now,
            deleted: false,
        };
        self.cluster().index_write(row.bucket, IndexCommand::CreateUpload { row: row.clone() }).await?;
        Ok(row)
    }

    /// The live upload `upload_id` of `key` in a bucket the caller may use.
    pub async fn upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
    ) -> ObjectResult<UploadRow> {
        let bucket = self.bucket(caller, bucket).await?;
        let query = IndexQuery::GetUpload { bucket: bucket.id, key: key.to_owned(), upload_id };
        match self.cluster().index_read(bucket.id, query).await? {
            IndexAnswer::Upload(row) => row.ok_or(ObjectError::NoSuchUpload),
            _ => Err(ObjectError::Internal("unexpected answer to an upload read".into())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<S, E>(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
        part_number: u32,
        content_length: Option<u64>,
        content_md5: Option<[u8; 16]>,
        customer_key: Option<&CustomerKey>,
        body: S,
        check: Option<BodyCheck>,
    ) -> ObjectResult<PartRow>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<StdError>,
    {
        check_part_number(part_number)?;
        let upload = self.upload(caller, bucket, key, upload_id).await?;
        let seal = self.opening_key(upload.meta.encryption.as_ref(), customer_key).await?;
        let written = self.writer().write(body, content_length, false, seal.as_ref()).await?;
        let StoredBody::Striped { body, stripe_size } = written.stored else {
            return Err(ObjectError::Internal("a part was stored inline".into()));
        };
        let result = async {
            if content_md5.is_some_and(|md5| md5 != written.md5) {
                return Err(ObjectError::BadDigest);
            }
            let checksums = match check {
                Some(check) => check()?,
                None => Vec::new(),
            };
            let row = PartRow {
                upload_id,
                part_number,
                body,
                size: written.size,
                stripe_size,
                etag: quoted_md5(&written.md5),
                checksums,
                ts: self.clock().now(),
                deleted: false,
            };
            let command =
                IndexCommand::PutPart { bucket: upload.bucket, key: key.to_owned(), row: row.clone() };
            if let IndexOutcome::Part(Some(replaced)) =
                self.cluster().index_write(upload.bucket, command).await?
            {
                self.inner.reclaimer.release_parts_later(&[part_run(&replaced)]);
            }
            Ok(row)
        }
        .await;
        if let Err(err) = &result
            && !err.outcome_unknown()
        {
            written.release(&self.inner.reclaimer);
        }
        result
    }

    /// UploadPartCopy: a part whose bytes come from (a range of) an object.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        caller: &Caller,
        source: CopySource,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
        part_number: u32,
        customer_key: Option<&CustomerKey>,
    ) -> ObjectResult<(ObjectRow, PartRow)> {
        check_part_number(part_number)?;
        self.upload(caller, bucket, key, upload_id).await?;
        let read = self.open_copy_source(caller, &source, source.range).await?;
        let length = read.content_length();
        let source_row = read.row.clone();
        let body = read.body.unwrap_or_else(|| Box::pin(stream::empty()));
        let part = self
            .upload_part(
                caller,
                bucket,
                key,
                upload_id,
                part_number,
                Some(length),
                None,
                customer_key,
                body,
                None,
            )
            .await?;
        Ok((source_row, part))
    }

    pub async fn complete_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
        requested: Vec<CompletedPart>,
    ) -> ObjectResult<Written> {
        let bucket = self.bucket(caller, bucket).await?;
        let upload = self.upload(caller, &bucket.name, key, upload_id).await?;
        if requested.is_empty() {
            return Err(ObjectError::MalformedXml);
        }
        if requested.windows(2).any(|w| w[0].part_number >= w[1].part_number) {
            return Err(ObjectError::InvalidPartOrder);
        }
        let (stored, _) = self.parts(upload.bucket, &upload.key, upload_id, 0, MAX_PART_NUMBER).await?;
        let mut parts = Vec::with_capacity(requested.len());
        let mut md5_of_md5s = Md5::new();
        let last = requested.len() - 1;
        for (i, wanted) in requested.iter().enumerate() {
            let part = stored
                .iter()
                .find(|p| p.part_number == wanted.part_number)
                .filter(|p| p.etag.trim_matches('"') == wanted.etag.trim_matches('"'))
                .ok_or(ObjectError::InvalidPart(wanted.part_number))?;
            if i != last && part.size < MIN_PART_SIZE {
                return Err(ObjectError::EntityTooSmall);
            }
            let mut md5 = [0u8; 16];
            hex::decode_to_slice(part.etag.trim_matches('"'), &mut md5).map_err(|_| {
                ObjectError::Internal(format!("part {} has a malformed ETag", part.part_number))
            })?;
            md5_of_md5s.update(md5);
            parts.push(part_run(part));
        }
        let size = parts.iter().map(|p| p.size).sum();
        let etag = format!("\"{}-{}\"", hex::encode(md5_of_md5s.finalize()), parts.len());
        let mut meta =
            ObjectMeta { size, etag, owner: caller.access_key.clone(), checksums: Vec::new(), ..upload.meta };
        let ts = self.clock().now();
        crate::lock::lock_new_version(&bucket, &mut meta, ts)?;
        let version = version_for(&bucket, ts);
        let row = ObjectRow {
            bucket: upload.bucket,
            key: key.to_owned(),
            version,
            ts,
            deleted: false,
            meta,
            body: ObjectBody::Striped(Manifest { parts }),
        };
        let command = IndexCommand::CompleteUpload {
            bucket: upload.bucket,
            key: key.to_owned(),
            upload_id,
            row: row.clone(),
        };
        let IndexOutcome::Completed(outcome) = self.cluster().index_write(upload.bucket, command).await?
        else {
            return Err(ObjectError::Internal("unexpected answer to a completion".into()));
        };
        if let Some(old) = outcome.replaced {
            self.inner.reclaimer.release_later(&old.body);
        }
        let unused: Vec<ManifestPart> = outcome.unused_parts.iter().map(part_run).collect();
        self.inner.reclaimer.release_parts_later(&unused);
        Ok(Written { row, version: VersionRef::reported(&bucket, version) })
    }

    pub async fn abort_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
    ) -> ObjectResult<()> {
        let bucket = self.bucket(caller, bucket).await?;
        let ts = self.clock().now();
        let command = IndexCommand::AbortUpload { bucket: bucket.id, key: key.to_owned(), upload_id, ts };
        let IndexOutcome::Aborted(parts) = self.cluster().index_write(bucket.id, command).await? else {
            return Err(ObjectError::Internal("unexpected answer to an abort".into()));
        };
        let runs: Vec<ManifestPart> = parts.iter().map(part_run).collect();
        self.inner.reclaimer.release_parts_later(&runs);
        Ok(())
    }

    /// ListParts: the upload, parts after `after_part`, and whether more follow.
    pub async fn list_parts(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: ObjectId,
        after_part: u32,
        max_parts: usize,
    ) -> ObjectResult<(UploadRow, Vec<PartRow>, bool)> {
        let upload = self.upload(caller, bucket, key, upload_id).await?;
        let max = u32::try_from(max_parts).unwrap_or(u32::MAX);
        let (parts, truncated) = self.parts(upload.bucket, key, upload_id, after_part, max).await?;
        Ok((upload, parts, truncated))
    }

    async fn parts(
        &self,
        bucket: ObjectId,
        key: &str,
        upload_id: ObjectId,
        after: u32,
        max: u32,
    ) -> ObjectResult<(Vec<PartRow>, bool)> {
        let query = IndexQuery::ListParts { key: key.to_owned(), upload_id, after, max };
        match self.cluster().index_read(bucket, query).await? {
            IndexAnswer::Parts(parts, truncated) => Ok((parts, truncated)),
            _ => Err(ObjectError::Internal("unexpected answer to a parts listing".into())),
        }
    }

    pub async fn list_multipart_uploads(
        &self,
        caller: &Caller,
        bucket: &str,
        query: UploadListQuery,
    ) -> ObjectResult<UploadListPage> {
        let bucket = self.bucket(caller, bucket).await?;
        Ok(self.cluster().list_uploads(bucket.id, query).await?)
    }
}
