//! The S3 frontend: Arca's `ObjectService` behind the `s3s` crate's `S3`
//! trait, plus the administrative routes beside it.
//!
//! s3s parses requests, verifies SigV4 (headers, presigned URLs, aws-chunked
//! streaming payloads) and writes responses; this crate maps each operation
//! onto `ObjectService` — one module per protocol area — and maps errors back
//! to S3 error codes. Operations Arca does not implement keep s3s's default
//! answer, NotImplemented.

mod access;
mod admin;
mod auth;
mod body;
mod bucket;
mod checksum;
mod convert;
mod cors;
mod error;
mod list;
mod lock;
mod multipart;
mod object;
mod sse;
mod tagging;
mod unsupported;

use arca_object::ObjectService;
use futures::future::BoxFuture;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::dto::*;
use s3s::host::SingleDomain;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};
use std::sync::Arc;

pub use admin::ADMIN_PREFIX;

/// The largest XML request body (CompleteMultipartUpload, DeleteObjects,
/// bucket configurations) read into memory; s3s's default.
const MAX_XML_BODY: usize = 20 << 20;

/// The request text the gateway parses itself (s3s parses the rest), as
/// plain functions for the fuzz targets in `fuzz/`. Each must answer any
/// input with a value or an error, never a panic.
#[doc(hidden)]
pub mod fuzzing {
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// A ListObjectsV2 continuation token.
    pub fn continuation_token(token: &str) -> Option<String> {
        crate::list::token_decode(token).ok()
    }

    /// An x-amz-copy-source-range header.
    pub fn copy_source_range(value: &str) -> bool {
        crate::multipart::copy_range(Some(value)).is_ok()
    }

    /// A Content-MD5 header.
    pub fn content_md5(value: &str) -> Option<[u8; 16]> {
        crate::convert::content_md5(Some(value)).ok().flatten()
    }

    /// x-amz-checksum-* and x-amz-trailer headers, given as (name, value)
    /// pairs; true when the request's declarations are accepted.
    pub fn declared_checksums(headers: &[(&[u8], &[u8])], sdk_algorithm: Option<&str>) -> bool {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                map.append(name, value);
            }
        }
        crate::checksum::DeclaredChecksums::from_request(&map, sdk_algorithm, None).is_ok()
    }
}

/// How the gateway is reached.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// A base domain for virtual-hosted-style requests
    /// (`bucket.<domain>`); path-style requests work with or without it.
    pub domain: Option<String>,
    /// Accept Signature Version 2 (headers, presigned URLs and POST
    /// policies) beside SigV4: older SDKs and tools, and boto3's default
    /// presigned URLs in many setups, still sign so.
    pub signature_v2: bool,
}

/// The S3 trait implementation.
#[derive(Clone)]
pub struct ArcaS3 {
    service: ObjectService,
}

impl ArcaS3 {
    /// The Owner element for an access key: its id and its human name.
    async fn owner(&self, access_key: &str) -> S3Result<Owner> {
        let name = match self.service.key(access_key).await {
            Ok(Some(key)) => key.name,
            _ => access_key.to_owned(),
        };
        Ok(Owner { id: Some(access_key.to_owned()), display_name: Some(name) })
    }
}

/// The hyper service that answers S3 and admin requests: s3s's service,
/// with one fix for how clients use connections.
#[derive(Clone)]
pub struct Gateway {
    s3: S3Service,
    service: ObjectService,
    /// The base domain of virtual-hosted-style requests, if any.
    domain: Option<String>,
    /// The client's address, when serving one connection.
    peer: Option<std::net::SocketAddr>,
}

impl Gateway {
    /// This gateway serving one connection from `peer` (bucket policies
    /// test the client's address).
    pub fn for_peer(&self, peer: std::net::SocketAddr) -> Gateway {
        Gateway { peer: Some(peer), ..self.clone() }
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Gateway {
    type Response = s3s::HttpResponse;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, mut req: http::Request<hyper::body::Incoming>) -> Self::Future {
        // CORS: a preflight is answered from the bucket's rules alone; an
        // actual cross-origin request gets its rule's headers afterwards.
        let origin = req.headers().get("origin").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let cors_bucket = origin.is_some().then(|| cors::bucket_of(&req, self.domain.as_deref())).flatten();
        if req.method() == http::Method::OPTIONS {
            let service = self.service.clone();
            let headers = req.headers().clone();
            return Box::pin(async move { Ok(cors::preflight(&service, cors_bucket, &headers).await) });
        }
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(auth::PeerAddr(peer));
        }
        if is_form_without_length(&req) {
            return Box::pin(async { Ok(missing_length()) });
        }
        let method = req.method().clone();
        let service = self.service.clone();
        canonical_v2_bucket_path(&mut req, self.domain.as_deref());
        let headers = req.headers();
        let continue_expected = headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let empty_body = headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() == b"0");
        let answer = hyper::service::Service::call(&self.s3, req);
        Box::pin(async move {
            let mut resp = answer.await?;
            // hyper sends "100 Continue" only when a body is read. After a
            // final answer without it (an empty body, or an error before the
            // body), botocore before 1.44 (the one inside aws cli v1) takes
            // that answer's status line for the next response on the
            // connection and hangs until its read timeout: such a connection
            // is closed instead of kept alive.
            if continue_expected && (empty_body || !resp.status().is_success()) {
                resp.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            if let Some(origin) = origin {
                cors::decorate(&service, cors_bucket, &origin, &method, resp.headers_mut()).await;
            }
            Ok(resp)
        })
    }
}

/// A browser form upload (POST Object) must declare its length: the file
/// is the form's last field, so its size is the body's less the fields
/// before it and the upload streams; without a length s3s would gather the
/// whole file in memory to learn its size.
fn is_form_without_length<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::POST
        && !req.headers().contains_key(http::header::CONTENT_LENGTH)
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().to_ascii_lowercase().starts_with(b"multipart/form-data"))
}

fn missing_length() -> s3s::HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>MissingContentLength</Code>\
                <Message>You must provide the Content-Length HTTP header.</Message></Error>";
    let mut resp = http::Response::new(s3s::Body::from(body.to_owned()));
    *resp.status_mut() = http::StatusCode::LENGTH_REQUIRED;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

/// Builds the hyper service that answers S3 and admin requests.
pub fn build(service: ObjectService, config: &GatewayConfig) -> Result<Gateway, String> {
    let mut s3_config = S3Config::default();
    s3_config.expected_region = Some(service.config().region.parse().map_err(|_| "invalid region")?);
    // aws-chunked chunks are buffered whole by s3s; SDKs send 64 KiB to
    // 1 MiB, so 16 MiB bounds memory without refusing any real client.
    s3_config.aws_chunked_stream_max_chunk_size = 16 << 20;
    s3_config.xml_max_body_size = MAX_XML_BODY;
    // S3 refuses a PUT without Content-Length (411). s3s would fill one in
    // for a request without a body, and an empty object would be stored.
    s3_config.normalize_content_length = false;
    s3_config.enable_sig_v2 = config.signature_v2;

    let mut builder = S3ServiceBuilder::new(ArcaS3 { service: service.clone() });
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3_config))));
    builder.set_auth(auth::KeyAuth { service: service.clone() });
    builder.set_access(auth::KeyAccess { service: service.clone() });
    let service_for_cors = service.clone();
    builder.set_route(admin::AdminRoute { service });
    if let Some(domain) = &config.domain {
        let host = SingleDomain::new(domain).map_err(|e| format!("invalid domain {domain:?}: {e}"))?;
        builder.set_host(host.with_cname_fallback(false));
    }
    Ok(Gateway { s3: builder.build(), service: service_for_cors, domain: config.domain.clone(), peer: None })
}

/// The bucket of a virtual-hosted-style request: the Host's label before
/// `.domain` (its port aside).
fn virtual_host_bucket<'a, B>(req: &'a http::Request<B>, domain: Option<&str>) -> Option<&'a str> {
    let domain = domain?;
    let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok())?;
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    host.strip_suffix(domain).and_then(|h| h.strip_suffix('.')).filter(|bucket| !bucket.is_empty())
}

/// Signature Version 2 clients (botocore, s3cmd, the Java SDK) sign a
/// bucket's own resource in S3's canonical form, `/bucket/`, whatever path
/// they send it to; s3s signs the path as it arrived. So a SigV2 request
/// for a bucket at `/bucket` is given the trailing slash before it is
/// checked: the two paths name the same bucket. SigV4 requests sign the
/// path exactly as sent and are left alone, and so are virtual-hosted-style
/// requests, whose one-segment paths are object keys.
fn canonical_v2_bucket_path<B>(req: &mut http::Request<B>, domain: Option<&str>) {
    let signed_v2 =
        req.headers().get(http::header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS "))
            || req.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("AWSAccessKeyId=")));
    if !signed_v2 {
        return;
    }
    let virtual_host = virtual_host_bucket(req, domain).is_some();
    let path = req.uri().path();
    if virtual_host || path.len() < 2 || path[1..].contains('/') {
        return;
    }
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

#[async_trait::async_trait]
impl S3 for ArcaS3 {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        bucket::list_buckets(self, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        bucket::create_bucket(self, req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        bucket::head_bucket(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        bucket::delete_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        bucket::get_bucket_location(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        bucket::get_bucket_versioning(self, req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        lock::put_object_lock_configuration(self, req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        lock::get_object_lock_configuration(self, req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        lock::put_object_retention(self, req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        lock::get_object_retention(self, req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        lock::put_object_legal_hold(self, req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        lock::get_object_legal_hold(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        cors::put_bucket_cors(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        cors::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        cors::delete_bucket_cors(self, req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        access::put_bucket_policy(self, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        access::get_bucket_policy(self, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        access::delete_bucket_policy(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        access::get_bucket_policy_status(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        access::put_public_access_block(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        access::get_public_access_block(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        access::delete_public_access_block(self, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        access::put_bucket_ownership_controls(self, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        access::get_bucket_ownership_controls(self, req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        access::delete_bucket_ownership_controls(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        access::get_bucket_acl(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        access::get_object_acl(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        access::put_bucket_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        access::put_object_acl(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        object::get_object_attributes(self, req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        sse::put_bucket_encryption(self, req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        sse::get_bucket_encryption(self, req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        sse::delete_bucket_encryption(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put_object_tagging(self, req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(self, req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        tagging::put_bucket_tagging(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        tagging::get_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        tagging::delete_bucket_tagging(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        bucket::put_bucket_versioning(self, req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        object::put_object(self, req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        object::get_object(self, req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        object::head_object(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        object::delete_object(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        object::delete_objects(self, req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        object::copy_object(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::list_objects(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::list_objects_v2(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list::list_object_versions(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_v2_bucket_path;

    fn path_after(uri: &str, headers: &[(&str, &str)], domain: Option<&str>) -> String {
        let mut req = http::Request::builder().uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut req = req.body(()).unwrap();
        canonical_v2_bucket_path(&mut req, domain);
        req.uri().path_and_query().unwrap().to_string()
    }

    #[test]
    fn only_sigv2_bucket_paths_get_the_slash() {
        let v2 = [("authorization", "AWS AK:c2ln"), ("host", "127.0.0.1:9000")];
        let v4 = [("authorization", "AWS4-HMAC-SHA256 Credential=AK/..."), ("host", "127.0.0.1:9000")];
        assert_eq!(path_after("/b", &v2, None), "/b/");
        assert_eq!(path_after("/b?list-type=2&prefix=a", &v2, None), "/b/?list-type=2&prefix=a");
        assert_eq!(
            path_after("/b?AWSAccessKeyId=AK&Expires=1&Signature=x", &[], None),
            "/b/?AWSAccessKeyId=AK&Expires=1&Signature=x"
        );
        assert_eq!(path_after("/b/", &v2, None), "/b/");
        assert_eq!(path_after("/b/key", &v2, None), "/b/key");
        assert_eq!(path_after("/", &v2, None), "/");
        assert_eq!(path_after("/b", &v4, None), "/b");
        assert_eq!(path_after("/b?X-Amz-Signature=x", &[], None), "/b?X-Amz-Signature=x");
        // Virtual-hosted style: a one-segment path is an object key.
        let vh = [("authorization", "AWS AK:c2ln"), ("host", "b.s3.local:9000")];
        assert_eq!(path_after("/key", &vh, Some("s3.local")), "/key");
        assert_eq!(path_after("/b", &v2, Some("s3.local")), "/b/");
    }
}
