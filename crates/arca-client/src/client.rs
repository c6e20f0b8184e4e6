//! The HTTP side: an endpoint, credentials and a pooled hyper client; every
//! request is signed with SigV4 and sent path-style (`/bucket/key`). The
//! generic [`Client::send`] is what S3 operations and admin commands share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, HeaderName};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::status_code_name;
use crate::sigv4::{self, Credentials, Scope, SignableRequest, SigningKey};
use crate::time::amz_datetime;
use crate::{Error, RequestBody, xml};

/// How the body of a request is covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadSigning {
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD`: the client never hashes the
    /// body, so its own hashing does not bound throughput.
    #[default]
    Unsigned,
    /// The SHA-256 of the body is signed. In-memory bodies are hashed here;
    /// streamed bodies must carry their hash ([`RequestBody::with_sha256`]).
    Signed,
}

/// Where and as whom a [`Client`] talks.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://host:port` (plain HTTP; this client has no TLS).
    pub endpoint: String,
    pub credentials: Credentials,
    /// The signing region; `us-east-1` when in doubt.
    pub region: String,
    /// The signing service name, `s3` for S3 (admin APIs may use their own).
    pub service: String,
    pub payload_signing: PayloadSigning,
    /// Idle connections kept per host; set it to the expected concurrency.
    pub max_idle_connections: usize,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, credentials: Credentials) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            credentials,
            region: "us-east-1".into(),
            service: "s3".into(),
            payload_signing: PayloadSigning::Unsigned,
            max_idle_connections: 64,
        }
    }
}

/// A request before signing.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// The path, not encoded (`/bucket/a key`); each segment is URI-encoded
    /// when sent, `/` kept.
    pub path: String,
    /// Query parameters, not encoded; a bare name (`?uploads`) has an empty value.
    pub query: Vec<(String, String)>,
    /// Extra headers. `host`, `x-amz-*`, `content-md5`, `content-type` and
    /// `range` are signed with the request; others are sent unsigned.
    pub headers: HeaderMap,
    pub body: RequestBody,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: RequestBody::empty(),
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header; a name or value that is not valid HTTP fails at [`Client::send`].
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            // Recorded under a name that cannot be valid so that `send` reports it.
            _ => {
                self.headers.append(INVALID_HEADER, HeaderValue::from_static(""));
            }
        }
        self
    }

    pub fn body(mut self, body: impl Into<RequestBody>) -> Self {
        self.body = body.into();
        self
    }
}

const INVALID_HEADER: HeaderName = HeaderName::from_static("x-arca-client-invalid-header");

/// An answer, with its body not yet read. The body must be read (or the
/// response dropped) for the connection to return to the pool.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next chunk of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    // Trailers: nothing a caller here needs.
                    Err(_) => continue,
                },
                Err(err) => return Some(Err(Error::Transport(format!("reading the response body: {err}")))),
            }
        }
    }

    /// Reads the whole body into memory; for small answers (XML, JSON).
    /// Fails past `limit` bytes instead of growing without bound.
    pub async fn bytes(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if buf.len() + chunk.len() > limit {
                return Err(Error::Protocol(format!("response body larger than {limit} bytes")));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Reads and discards the body; returns its length.
    pub async fn drain(mut self) -> Result<u64, Error> {
        let mut total = 0u64;
        while let Some(chunk) = self.chunk().await {
            total += chunk?.len() as u64;
        }
        Ok(total)
    }

    /// Turns an error status into [`Error::S3`] (reading the error body);
    /// passes a success through untouched.
    pub async fn error_for_status(self) -> Result<Response, Error> {
        if self.status.is_success() {
            return Ok(self);
        }
        let status = self.status;
        let header_request_id = self.header("x-amz-request-id").map(str::to_owned);
        // An error body is small; one that is not is read only this far.
        let body = self.bytes(ERROR_BODY_LIMIT).await.unwrap_or_default();
        Err(match xml::parse_error(&body) {
            Some(parsed) => Error::S3 {
                status,
                code: parsed.code,
                message: parsed.message,
                request_id: parsed.request_id.or(header_request_id),
            },
            None => Error::S3 {
                status,
                code: status_code_name(status),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned(),
                request_id: header_request_id,
            },
        })
    }
}

/// The most of an error answer that is read.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A signing S3 client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient<HttpConnector, RequestBody>,
    endpoint: String,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    credentials: Credentials,
    region: String,
    service: String,
    payload_signing: PayloadSigning,
    // The signing key changes once a day; deriving it costs four HMACs.
    key: Mutex<Option<SigningKey>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("region", &self.inner.region)
            .field("access_key", &self.inner.credentials.access_key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks the endpoint and builds the connection pool. Must be called
    /// within a tokio runtime only when requests are sent, not here.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let invalid = |reason: &str| Error::InvalidEndpoint {
            endpoint: config.endpoint.clone(),
            reason: reason.into(),
        };
        let uri: Uri = config.endpoint.parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| invalid("no scheme; write http://host:port"))?;
        if scheme == Scheme::HTTPS {
            return Err(invalid("https is not supported by this client; use an http:// endpoint"));
        }
        if scheme != Scheme::HTTP {
            return Err(invalid("the scheme must be http"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in the URL are not supported; use the access and secret keys"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("the endpoint must not have a path or query (requests are path-style)"));
        }
        if config.credentials.access_key.is_empty() || config.credentials.secret_key.is_empty() {
            return Err(Error::InvalidRequest("the access key and secret key must not be empty".into()));
        }
        // The Host header as signed: the port only when it is not the default.
        let host_text = match authority.port_u16() {
            Some(80) | None => authority.host().to_owned(),
            Some(port) => format!("{}:{port}", authority.host()),
        };
        let host =
            HeaderValue::try_from(host_text).map_err(|_| invalid("the host is not a valid header value"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.max_idle_connections.max(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .set_host(false)
            .build(connector);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint: config.endpoint.trim_end_matches('/').to_owned(),
                scheme,
                authority,
                host,
                credentials: config.credentials,
                region: config.region,
                service: config.service,
                payload_signing: config.payload_signing,
                key: Mutex::new(None),
            }),
        })
    }

    /// The endpoint as configured (without a trailing `/`).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Signs and sends `request`; returns the answer whatever its status
    /// (see [`Response::error_for_status`]).
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let inner = &self.inner;
        let Request { method, path, query, mut headers, body } = request;
        if headers.contains_key(INVALID_HEADER) {
            return Err(Error::InvalidRequest("a header name or value is not valid HTTP".into()));
        }
        if !path.starts_with('/') {
            return Err(Error::InvalidRequest(format!("the path {path:?} does not start with '/'")));
        }

        let payload_hash = match (inner.payload_signing, body.as_bytes(), body.sha256()) {
            (_, Some([]), _) => sigv4::EMPTY_SHA256.to_owned(),
            (PayloadSigning::Unsigned, _, _) => sigv4::UNSIGNED_PAYLOAD.to_owned(),
            (PayloadSigning::Signed, _, Some(hash)) => hash.to_owned(),
            (PayloadSigning::Signed, Some(bytes), None) => sigv4::payload_sha256(bytes),
            (PayloadSigning::Signed, None, None) => {
                return Err(Error::InvalidRequest(
                    "payload signing is on but a streamed body came without its SHA-256".into(),
                ));
            }
        };
        let datetime = amz_datetime(SystemTime::now());
        let canonical_uri = sigv4::encode_path(&path);
        let query_string = sigv4::canonical_query(&query);

        headers.insert(HOST, inner.host.clone());
        headers.insert("x-amz-date", header_value(&datetime)?);
        headers.insert("x-amz-content-sha256", header_value(&payload_hash)?);
        // S3 wants a length on every upload (411 MissingContentLength otherwise),
        // and a streamed body must not fall back to chunked encoding.
        if !body.is_empty() || method == Method::PUT || method == Method::POST {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }

        let signed: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(name, _)| is_signed_header(name.as_str()))
            .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
            .collect::<Result<_, http::header::ToStrError>>()
            .map_err(|_| Error::InvalidRequest("a signed header value is not visible ASCII".into()))?;
        let scope = Scope { datetime: &datetime, region: &inner.region, service: &inner.service };
        let signable = SignableRequest {
            method: method.as_str(),
            canonical_uri: &canonical_uri,
            query: &query,
            headers: &signed,
            payload_hash: &payload_hash,
        };
        let key = self.signing_key(&datetime[..8]);
        let signature = sigv4::sign_with_key(&inner.credentials.access_key, &key, &scope, &signable);
        headers.insert(http::header::AUTHORIZATION, header_value(&signature.authorization)?);

        let path_and_query =
            if query_string.is_empty() { canonical_uri } else { format!("{canonical_uri}?{query_string}") };
        let path_and_query = PathAndQuery::try_from(path_and_query)
            .map_err(|err| Error::InvalidRequest(format!("cannot form the request path: {err}")))?;
        let uri = Uri::builder()
            .scheme(inner.scheme.clone())
            .authority(inner.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|err| Error::InvalidRequest(format!("cannot form the request URI: {err}")))?;
        let mut http_request = http::Request::new(body);
        *http_request.method_mut() = method;
        *http_request.uri_mut() = uri;
        *http_request.headers_mut() = headers;

        let response = inner.http.request(http_request).await.map_err(|err| {
            if err.is_connect() {
                Error::Connect { endpoint: inner.endpoint.clone(), message: error_chain(&err) }
            } else {
                Error::Transport(error_chain(&err))
            }
        })?;
        let (parts, body) = response.into_parts();
        Ok(Response { status: parts.status, headers: parts.headers, body })
    }

    /// [`send`](Self::send), then an error status becomes [`Error::S3`].
    pub async fn send_checked(&self, request: Request) -> Result<Response, Error> {
        self.send(request).await?.error_for_status().await
    }

    fn signing_key(&self, date: &str) -> SigningKey {
        let inner = &self.inner;
        // A poisoned lock only means another thread panicked mid-update of a
        // cache; re-deriving is always correct.
        let mut cached = inner.key.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*cached {
            Some(key) if key.date() == date => key.clone(),
            _ => {
                let key =
                    SigningKey::derive(&inner.credentials.secret_key, date, &inner.region, &inner.service);
                *cached = Some(key.clone());
                key
            }
        }
    }
}

fn is_signed_header(name: &str) -> bool {
    name == "host" || name.starts_with("x-amz-") || matches!(name, "content-md5" | "content-type" | "range")
}

fn header_value(text: &str) -> Result<HeaderValue, Error> {
    HeaderValue::try_from(text)
        .map_err(|_| Error::InvalidRequest(format!("{text:?} is not a valid header value")))
}

// hyper-util's errors say "client error (Connect)" at the top; the cause
// (connection refused, ...) is further down the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> ClientConfig {
        ClientConfig::new(endpoint, Credentials::new("ak", "sk"))
    }

    #[test]
    fn endpoints_that_cannot_be_used_are_refused() {
        for endpoint in
            ["localhost:9000", "https://s3.example.com", "ftp://x", "http://h:1/prefix", "http://u:p@h:1", ""]
        {
            assert!(
                matches!(Client::new(config(endpoint)), Err(Error::InvalidEndpoint { .. })),
                "{endpoint} was accepted"
            );
        }
        assert!(Client::new(config("http://127.0.0.1:9000")).is_ok());
        assert!(Client::new(config("http://127.0.0.1:9000/")).is_ok());
        assert!(matches!(
            Client::new(ClientConfig::new("http://h:1", Credentials::new("", "sk"))),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn the_signed_host_carries_a_non_default_port_only() {
        let with_port = Client::new(config("http://127.0.0.1:9000")).expect("valid");
        assert_eq!(with_port.inner.host, "127.0.0.1:9000");
        let default_port = Client::new(config("http://example.com:80")).expect("valid");
        assert_eq!(default_port.inner.host, "example.com");
    }

    #[test]
    fn which_headers_are_signed() {
        for name in ["host", "x-amz-date", "x-amz-meta-a", "content-md5", "content-type", "range"] {
            assert!(is_signed_header(name), "{name}");
        }
        for name in ["content-length", "user-agent", "expect"] {
            assert!(!is_signed_header(name), "{name}");
        }
    }
}
