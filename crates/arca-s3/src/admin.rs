//! Arca's administrative HTTP API, beside the S3 API on the same port.
//!
//! Requests go to `/_arca/admin/...` (no S3 bucket can be named `_arca`) and
//! are signed with SigV4 like any S3 request; s3s verifies the signature
//! before a handler runs. Bodies and answers are JSON. `arca key ...` and
//! `arca bucket ...` are the clients.
//!
//! - `GET    /_arca/admin/keys`                      root: list keys (no secrets)
//! - `POST   /_arca/admin/keys`                      root: create or import a key
//!   `{"name": .., "access_key": .. (optional), "secret_key": .. (optional)}`
//! - `DELETE /_arca/admin/keys/{access_key}`         root: delete a key
//! - `POST   /_arca/admin/buckets/{bucket}/grants`   owner or root:
//!   `{"access_key": .., "allow": true|false}`
//! - `PUT    /_arca/admin/cluster/ring`               root: put a ring in force
//!   `{"ring": base64 of the ring file}` → `{"ring_version": N}`
//! - `GET    /_arca/admin/cluster/status`             root: the cluster's state
//! - `GET    /_arca/admin/cluster/ranges/{bucket}`    root: a bucket's index ranges
//! - `POST   /_arca/admin/buckets/{bucket}/load`      root: bulk-load empty objects
//!   through the index's write path (benchmarks)

use arca_object::{Caller, KeyRow, ObjectService};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use hyper::http::Extensions;
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::error::IntoS3;

fn to_s3_error(err: arca_cluster::ClusterError) -> S3Error {
    crate::error::to_s3(err.into())
}

pub const ADMIN_PREFIX: &str = "/_arca/admin/";

/// Admin request bodies are a few hundred bytes...
const MAX_ADMIN_BODY: usize = 64 * 1024;
/// ... but for a ring: 4 bytes per partition and replica (part power 20
/// and 5 replicas is 20 MiB), in base64.
const MAX_RING_BODY: usize = 32 << 20;

pub struct AdminRoute {
    pub service: ObjectService,
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    access_key: Option<String>,
    secret_key: Option<String>,
}

#[derive(Serialize)]
struct KeyInfo {
    access_key: String,
    name: String,
    is_root: bool,
    created: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
}

impl KeyInfo {
    fn new(row: KeyRow, with_secret: bool) -> Self {
        KeyInfo {
            created: row.created.unix_seconds(),
            secret_key: with_secret.then_some(row.secret_key),
            access_key: row.access_key,
            name: row.name,
            is_root: row.is_root,
        }
    }
}

/// `POST buckets/{bucket}/load`: objects `start .. start + count` of a
/// bulk load under `prefix`.
#[derive(Deserialize)]
struct Load {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    start: u64,
    count: u64,
}

/// Objects one load request may ask for (the CLI sends several).
const MAX_LOAD: u64 = 1_000_000;

#[derive(Deserialize)]
struct ApplyRing {
    /// The ring file, base64.
    ring: String,
}

#[derive(Deserialize)]
struct Grant {
    access_key: String,
    allow: bool,
}

#[derive(Serialize)]
struct GrantInfo {
    bucket: String,
    owner: String,
    grants: Vec<String>,
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> S3Result<S3Response<Body>> {
    let body = serde_json::to_vec(value).map_err(S3Error::internal_error)?;
    let mut resp = S3Response::with_status(Body::from(Bytes::from(body)), status);
    resp.headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

async fn json_body<T: for<'de> Deserialize<'de>>(body: &mut Body) -> S3Result<T> {
    json_body_limited(body, MAX_ADMIN_BODY).await
}

async fn json_body_limited<T: for<'de> Deserialize<'de>>(body: &mut Body, limit: usize) -> S3Result<T> {
    let bytes = body
        .store_all_limited(limit)
        .await
        .map_err(|_| s3_error!(InvalidRequest, "The request body is too large or could not be read"))?;
    serde_json::from_slice(&bytes).map_err(|e| s3_error!(InvalidRequest, "Malformed JSON body: {e}"))
}

fn require_root(caller: &Caller) -> S3Result<()> {
    if caller.is_root { Ok(()) } else { Err(s3_error!(AccessDenied, "Only the root key may do this")) }
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _ext: &mut Extensions) -> bool {
        uri.path().starts_with(ADMIN_PREFIX)
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let key = self
            .service
            .key(&credentials.access_key)
            .await
            .s3()?
            .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        let caller = Caller::key(key.access_key, key.is_root);
        let path = req.uri.path().strip_prefix(ADMIN_PREFIX).unwrap_or_default().to_owned();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

        match (req.method.clone(), segments.as_slice()) {
            (Method::GET, ["keys"]) => {
                require_root(&caller)?;
                let keys: Vec<KeyInfo> = self
                    .service
                    .list_keys()
                    .await
                    .s3()?
                    .into_iter()
                    .map(|k| KeyInfo::new(k, false))
                    .collect();
                json_response(StatusCode::OK, &keys)
            }
            (Method::POST, ["keys"]) => {
                require_root(&caller)?;
                let create: CreateKey = json_body(&mut req.input).await?;
                let row = self
                    .service
                    .create_key(&create.name, create.access_key, create.secret_key, false)
                    .await
                    .s3()?;
                json_response(StatusCode::OK, &KeyInfo::new(row, true))
            }
            (Method::DELETE, ["keys", access_key]) => {
                require_root(&caller)?;
                if *access_key == caller.access_key {
                    return Err(s3_error!(InvalidRequest, "The root key cannot delete itself"));
                }
                if self.service.delete_key(access_key).await.s3()? {
                    json_response(StatusCode::OK, &serde_json::json!({ "deleted": access_key }))
                } else {
                    Err(S3Error::with_message(S3ErrorCode::InvalidAccessKeyId, "No such access key"))
                }
            }
            (Method::POST, ["buckets", bucket, "grants"]) => {
                let grant: Grant = json_body(&mut req.input).await?;
                if self.service.key(&grant.access_key).await.s3()?.is_none() {
                    return Err(s3_error!(InvalidArgument, "No such access key: {}", grant.access_key));
                }
                let row =
                    self.service.set_grant(&caller, bucket, &grant.access_key, grant.allow).await.s3()?;
                json_response(
                    StatusCode::OK,
                    &GrantInfo { bucket: row.name, owner: row.owner, grants: row.grants },
                )
            }
            (Method::POST, ["buckets", bucket, "load"]) => {
                require_root(&caller)?;
                let load: Load = json_body(&mut req.input).await?;
                if load.count > MAX_LOAD {
                    return Err(s3_error!(InvalidArgument, "Load at most {MAX_LOAD} objects per request"));
                }
                let began = std::time::Instant::now();
                let loaded = self
                    .service
                    .load_objects(&caller, bucket, &load.prefix, load.start, load.count)
                    .await
                    .s3()?;
                json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "loaded": loaded, "secs": began.elapsed().as_secs_f64() }),
                )
            }
            (Method::PUT, ["cluster", "ring"]) => {
                require_root(&caller)?;
                let apply: ApplyRing = json_body_limited(&mut req.input, MAX_RING_BODY).await?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(apply.ring.as_bytes())
                    .map_err(|_| s3_error!(InvalidArgument, "The ring is not valid base64"))?;
                let version = self.service.cluster().apply_ring(bytes).await.map_err(to_s3_error)?;
                json_response(StatusCode::OK, &serde_json::json!({ "ring_version": version }))
            }
            (Method::GET, ["cluster", "status"]) => {
                require_root(&caller)?;
                let status = arca_cluster::status::cluster_status(self.service.cluster()).await;
                json_response(StatusCode::OK, &status)
            }
            (Method::GET, ["cluster", "ranges", bucket]) => {
                require_root(&caller)?;
                let cluster = self.service.cluster();
                let row = cluster
                    .bucket(bucket)
                    .await
                    .map_err(to_s3_error)?
                    .ok_or_else(|| s3_error!(NoSuchBucket))?;
                let ranges =
                    arca_cluster::status::bucket_ranges(cluster, row.id).await.map_err(to_s3_error)?;
                json_response(StatusCode::OK, &serde_json::json!({ "bucket": row.name, "ranges": ranges }))
            }
            _ => Err(s3_error!(NotImplemented, "No such administrative operation")),
        }
    }
}
