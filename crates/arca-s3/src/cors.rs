//! CORS: Put/Get/DeleteBucketCors, the preflight (OPTIONS) a browser sends
//! before a cross-origin request, and the CORS headers of the actual
//! request.
//!
//! A preflight carries no signature, so it is answered here, before s3s
//! authenticates anything, from the bucket's rules alone; an actual
//! request is answered by s3s as usual, and its response gains the headers
//! of the rule that allows its origin and method.

use arca_object::{CorsGrant, CorsRule, ObjectService, match_rule};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::ArcaS3;
use crate::auth::caller;
use crate::error::IntoS3;

pub(crate) async fn put_bucket_cors(
    s3: &ArcaS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let rules = input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(|r| CorsRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    s3.service.set_cors(&caller, &input.bucket, Some(rules)).await.s3()?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub(crate) async fn get_bucket_cors(
    s3: &ArcaS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let caller = caller(&req)?;
    let rules = s3.service.cors(&caller, &req.input.bucket).await.s3()?;
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let rules = rules
        .into_iter()
        .map(|r| CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: non_empty(r.allowed_headers),
            expose_headers: non_empty(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(rules) }))
}

pub(crate) async fn delete_bucket_cors(
    s3: &ArcaS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let caller = caller(&req)?;
    s3.service.set_cors(&caller, &req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}

/// The bucket a request names: the host's first label for a
/// virtual-hosted-style request under `domain`, else the path's first
/// segment.
pub(crate) fn bucket_of<B>(req: &http::Request<B>, domain: Option<&str>) -> Option<String> {
    if let Some(bucket) = crate::virtual_host_bucket(req, domain) {
        return Some(bucket.to_owned());
    }
    let segment = req.uri().path().trim_start_matches('/').split('/').next()?;
    let bucket = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?;
    (!bucket.is_empty()).then(|| bucket.into_owned())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn add_grant(headers: &mut HeaderMap, grant: &CorsGrant, preflight: bool) {
    insert(headers, "access-control-allow-origin", &grant.allow_origin);
    insert(headers, "access-control-allow-methods", &grant.allow_methods.join(", "));
    if grant.allow_origin != "*" {
        insert(headers, "access-control-allow-credentials", "true");
    }
    if preflight && !grant.allow_headers.is_empty() {
        insert(headers, "access-control-allow-headers", &grant.allow_headers.join(", "));
    }
    if !grant.expose_headers.is_empty() {
        insert(headers, "access-control-expose-headers", &grant.expose_headers.join(", "));
    }
    if let Some(age) = grant.max_age_seconds {
        insert(headers, "access-control-max-age", &age.to_string());
    }
    insert(headers, "vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
}

/// S3's refusal of a preflight: 403 with an XML error body.
fn forbidden(message: &str) -> s3s::HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code>\
         <Message>{message}</Message></Error>"
    );
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// Answers a preflight from the bucket's rules.
pub(crate) async fn preflight(
    service: &ObjectService,
    bucket: Option<String>,
    headers: &HeaderMap,
) -> s3s::HttpResponse {
    let (Some(bucket), Some(origin), Some(method)) =
        (bucket, header_str(headers, "origin"), header_str(headers, "access-control-request-method"))
    else {
        let mut resp = forbidden("Insufficient information. Origin request header needed.");
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return resp;
    };
    let announced: Vec<String> = header_str(headers, "access-control-request-headers")
        .map(|h| h.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let rules = match service.cors_for_browser(&bucket).await {
        Ok(Some(rules)) => rules,
        Ok(None) => return forbidden("CORSResponse: CORS is not enabled for this bucket."),
        Err(err) => {
            tracing::warn!(error = %err, "CORS preflight");
            let mut resp = forbidden("CORSResponse: the bucket's CORS rules cannot be read now.");
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return resp;
        }
    };
    match match_rule(&rules, origin, method, &announced) {
        Some(grant) => {
            let mut resp = http::Response::new(s3s::Body::empty());
            add_grant(resp.headers_mut(), &grant, true);
            resp
        }
        None => forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ),
    }
}

/// Adds the CORS headers of the rule allowing an actual request's origin
/// and method, if any, to its response.
pub(crate) async fn decorate(
    service: &ObjectService,
    bucket: Option<String>,
    origin: &str,
    method: &Method,
    headers: &mut HeaderMap,
) {
    let Some(bucket) = bucket else { return };
    if let Ok(Some(rules)) = service.cors_for_browser(&bucket).await
        && let Some(grant) = match_rule(&rules, origin, method.as_str(), &[])
    {
        add_grant(headers, &grant, false);
    }
}
