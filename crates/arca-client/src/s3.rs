//! The S3 operations built on [`Client::send`]: buckets, objects, listing,
//! batch delete and multipart uploads. Path-style addressing throughout.

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use md5::{Digest, Md5};

use crate::xml::{self, DeleteFailure, ListPage};
use crate::{Client, Error, Request, RequestBody, Response};

/// The largest XML answer read (a page of 1000 keys is ~300 KiB).
const XML_LIMIT: usize = 16 * 1024 * 1024;

/// DeleteObjects takes at most this many keys per request.
pub const DELETE_BATCH: usize = 1000;

/// What HEAD Object tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// `Content-Length`.
    pub size: u64,
    pub etag: Option<String>,
}

/// Options of one ListObjectsV2 request.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub continuation_token: Option<String>,
    pub start_after: Option<String>,
    /// 1..=1000; the server's default (1000) when `None`.
    pub max_keys: Option<u32>,
}

/// A part of a multipart upload as CompleteMultipartUpload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

fn object_path(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{key}")
}

fn bucket_path(bucket: &str) -> String {
    format!("/{bucket}")
}

impl Client {
    /// CreateBucket. A region other than us-east-1 is sent as the location constraint.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), Error> {
        let mut request = Request::new(Method::PUT, bucket_path(bucket));
        if self.region() != "us-east-1" {
            request = request.body(xml::create_bucket_body(self.region()));
        }
        self.send_checked(request).await?.drain().await?;
        Ok(())
    }

    /// DeleteBucket (the bucket must be empty).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), Error> {
        self.send_checked(Request::new(Method::DELETE, bucket_path(bucket))).await?.drain().await?;
        Ok(())
    }

    /// PutObject; returns the ETag.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: RequestBody,
    ) -> Result<Option<String>, Error> {
        let request = Request::new(Method::PUT, object_path(bucket, key)).body(body);
        let response = self.send_checked(request).await?;
        let etag = response.header("etag").map(str::to_owned);
        response.drain().await?;
        Ok(etag)
    }

    /// GetObject; the body is left for the caller to stream
    /// ([`Response::chunk`]) or drain.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Response, Error> {
        self.send_checked(Request::new(Method::GET, object_path(bucket, key))).await
    }

    /// HeadObject. A HEAD answer has no body, so a failure carries only its
    /// status: 404 is reported with the code `NoSuchKey`, as GET would.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo, Error> {
        let response = self.send(Request::new(Method::HEAD, object_path(bucket, key))).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::S3 {
                status: StatusCode::NOT_FOUND,
                code: "NoSuchKey".into(),
                message: String::new(),
                request_id: response.header("x-amz-request-id").map(str::to_owned),
            });
        }
        let response = response.error_for_status().await?;
        let size = response
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Protocol("HEAD answer without a valid Content-Length".into()))?;
        let etag = response.header("etag").map(str::to_owned);
        response.drain().await?;
        Ok(ObjectInfo { size, etag })
    }

    /// DeleteObject (succeeds for a key that does not exist, as S3 does).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.send_checked(Request::new(Method::DELETE, object_path(bucket, key))).await?.drain().await?;
        Ok(())
    }

    /// DeleteObjects in quiet mode for up to [`DELETE_BATCH`] keys; returns
    /// the keys that could not be deleted.
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<Vec<DeleteFailure>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > DELETE_BATCH {
            return Err(Error::InvalidRequest(format!(
                "DeleteObjects takes at most {DELETE_BATCH} keys, got {}",
                keys.len()
            )));
        }
        let body = xml::delete_objects_body(keys);
        // S3 requires an integrity check on this request; Content-MD5 is the
        // one every implementation accepts.
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let request = Request::new(Method::POST, bucket_path(bucket))
            .query("delete", "")
            .header("content-md5", &md5)
            .header("content-type", "application/xml")
            .body(body);
        let response = self.send_checked(request).await?;
        xml::parse_delete_result(&response.bytes(XML_LIMIT).await?)
    }

    /// One ListObjectsV2 page.
    pub async fn list_objects_v2(&self, bucket: &str, options: &ListOptions) -> Result<ListPage, Error> {
        let mut request = Request::new(Method::GET, bucket_path(bucket)).query("list-type", "2");
        if let Some(prefix) = &options.prefix {
            request = request.query("prefix", prefix.as_str());
        }
        if let Some(delimiter) = &options.delimiter {
            request = request.query("delimiter", delimiter.as_str());
        }
        if let Some(token) = &options.continuation_token {
            request = request.query("continuation-token", token.as_str());
        }
        if let Some(start_after) = &options.start_after {
            request = request.query("start-after", start_after.as_str());
        }
        if let Some(max_keys) = options.max_keys {
            request = request.query("max-keys", max_keys.to_string());
        }
        let response = self.send_checked(request).await?;
        xml::parse_list_v2(&response.bytes(XML_LIMIT).await?)
    }

    /// CreateMultipartUpload; returns the upload id.
    pub async fn create_multipart_upload(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let request = Request::new(Method::POST, object_path(bucket, key)).query("uploads", "");
        let response = self.send_checked(request).await?;
        xml::parse_upload_id(&response.bytes(XML_LIMIT).await?)
    }

    /// UploadPart; returns the part's ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: RequestBody,
    ) -> Result<String, Error> {
        let request = Request::new(Method::PUT, object_path(bucket, key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .body(body);
        let response = self.send_checked(request).await?;
        let etag = response.header("etag").map(str::to_owned);
        response.drain().await?;
        etag.ok_or_else(|| Error::Protocol(format!("UploadPart {part_number} answered without an ETag")))
    }

    /// CompleteMultipartUpload; returns the object's ETag. An `<Error>` body
    /// sent with status 200 (which S3 does for late failures) is an error.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<String>, Error> {
        let pairs: Vec<(u32, String)> = parts.iter().map(|p| (p.part_number, p.etag.clone())).collect();
        let request = Request::new(Method::POST, object_path(bucket, key))
            .query("uploadId", upload_id)
            .header("content-type", "application/xml")
            .body(xml::complete_multipart_body(&pairs));
        let response = self.send_checked(request).await?;
        let status = response.status();
        let body = response.bytes(XML_LIMIT).await?;
        match xml::parse_complete_multipart(&body) {
            Ok(etag) => Ok(etag),
            Err(Ok(error)) => Err(Error::S3 {
                status,
                code: error.code,
                message: error.message,
                request_id: error.request_id,
            }),
            Err(Err(err)) => Err(err),
        }
    }

    /// AbortMultipartUpload.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        let request = Request::new(Method::DELETE, object_path(bucket, key)).query("uploadId", upload_id);
        self.send_checked(request).await?.drain().await?;
        Ok(())
    }

    /// Reads a whole object into memory; for small objects and tests.
    pub async fn get_object_bytes(&self, bucket: &str, key: &str, limit: usize) -> Result<Bytes, Error> {
        self.get_object(bucket, key).await?.bytes(limit).await
    }
}
