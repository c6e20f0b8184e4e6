//! What the client puts on the wire, checked by a small HTTP server in the
//! test: the signature recomputed from the request as received (so the
//! path, query and headers sent are the ones signed), streamed bodies sent
//! with their Content-Length and not chunked, and error answers read back as
//! S3 error codes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arca_client::sigv4::{self, Scope, SignableRequest};
use arca_client::{Client, ClientConfig, Credentials, Error, ListOptions, PayloadSigning, RequestBody};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

const ACCESS_KEY: &str = "AKIDWIRETEST";
const SECRET_KEY: &str = "wire/secret+key=";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    signature_ok: bool,
    content_length: Option<String>,
    chunked: bool,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

// Recomputes the signature the way a server does: from the raw path, the
// decoded query and the headers named in SignedHeaders.
fn verify_signature(request: &Request<Incoming>) -> bool {
    let Some(auth) = request.headers().get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=") else { return false };
    let mut parts = rest.split(',');
    let (Some(credential), Some(signed), Some(signature)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let signed = signed.trim_start_matches("SignedHeaders=");
    let signature = signature.trim_start_matches("Signature=");
    if scope.len() != 5 || scope[0] != ACCESS_KEY {
        return false;
    }
    let mut headers = Vec::new();
    for name in signed.split(';') {
        let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) else { return false };
        headers.push((name, value));
    }
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(name), decode(value))
        })
        .collect();
    let Some(datetime) = request.headers().get("x-amz-date").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(payload_hash) = request.headers().get("x-amz-content-sha256").and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let computed = sigv4::sign(
        &Credentials::new(ACCESS_KEY, SECRET_KEY),
        &Scope { datetime, region: scope[2], service: scope[3] },
        &SignableRequest {
            method: request.method().as_str(),
            canonical_uri: request.uri().path(),
            query: &query,
            headers: &headers,
            payload_hash,
        },
    );
    computed.signature == signature && computed.signed_headers == signed
}

async fn handle(request: Request<Incoming>, log: Log) -> Result<Response<Full<Bytes>>, Infallible> {
    let signature_ok = verify_signature(&request);
    let method = request.method().to_string();
    let path_and_query = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let content_length =
        request.headers().get("content-length").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let chunked = request.headers().contains_key("transfer-encoding");
    let payload_hash =
        request.headers().get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = request.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    // A signed payload must match what arrived.
    let payload_ok = payload_hash == sigv4::UNSIGNED_PAYLOAD || payload_hash == sigv4::payload_sha256(&body);
    let signature_ok = signature_ok && payload_ok;
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path_and_query: path_and_query.clone(),
        signature_ok,
        content_length,
        chunked,
        body: body.clone(),
    });

    let (status, text): (StatusCode, &str) = if !signature_ok {
        (
            StatusCode::FORBIDDEN,
            "<Error><Code>SignatureDoesNotMatch</Code><Message>mismatch</Message></Error>",
        )
    } else if path_and_query.contains("missing") {
        (StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>")
    } else if path_and_query.contains("list-type=2") {
        (
            StatusCode::OK,
            "<ListBucketResult><IsTruncated>false</IsTruncated>\
             <Contents><Key>dir/a b&amp;c</Key><Size>3</Size></Contents></ListBucketResult>",
        )
    } else {
        (StatusCode::OK, "")
    };
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    if method == "HEAD" {
        *response.body_mut() = Full::new(Bytes::new());
    }
    Ok(response)
}

async fn start_server() -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let log: Log = Arc::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = server_log.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| handle(request, log.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, log)
}

fn client(addr: SocketAddr, signing: PayloadSigning) -> Client {
    let mut config = ClientConfig::new(format!("http://{addr}"), Credentials::new(ACCESS_KEY, SECRET_KEY));
    config.payload_signing = signing;
    Client::new(config).expect("a valid endpoint")
}

#[tokio::test]
async fn requests_carry_signatures_that_verify_against_what_was_sent() {
    let (addr, log) = start_server().await;
    let client = client(addr, PayloadSigning::Unsigned);
    client.create_bucket("bucket").await.expect("create");
    client.put_object("bucket", "dir/a b+c=é~", RequestBody::full("abc")).await.expect("put");
    let page = client
        .list_objects_v2(
            "bucket",
            &ListOptions {
                prefix: Some("dir/a b".into()),
                continuation_token: Some("tok/+=".into()),
                ..ListOptions::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(page.entries[0].key, "dir/a b&c");
    client.delete_object("bucket", "dir/a b+c=é~").await.expect("delete");

    let seen = log.lock().unwrap().clone();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["PUT", "PUT", "GET", "DELETE"]);
    assert!(seen.iter().all(|s| s.signature_ok), "{seen:#?}");
    assert_eq!(seen[1].path_and_query, "/bucket/dir/a%20b%2Bc%3D%C3%A9~");
    assert!(seen[2].path_and_query.contains("continuation-token=tok%2F%2B%3D"), "{}", seen[2].path_and_query);
}

#[tokio::test]
async fn a_streamed_body_is_sent_whole_with_its_length_and_a_signed_hash() {
    let (addr, log) = start_server().await;
    let client = client(addr, PayloadSigning::Signed);
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..64u8).map(|i| Ok(Bytes::from(vec![i; 16 * 1024 + usize::from(i)]))).collect();
    let expected: Vec<u8> =
        chunks.iter().flat_map(|c| c.as_ref().map(|b| b.to_vec()).unwrap_or_default()).collect();
    let body = RequestBody::stream(expected.len() as u64, futures::stream::iter(chunks))
        .with_sha256(sigv4::payload_sha256(&expected));
    client.put_object("bucket", "big", body).await.expect("put");

    // A streamed body without its hash cannot be signed: refused before sending.
    let unhashed = RequestBody::stream(1, futures::stream::iter(vec![Ok(Bytes::from_static(b"x"))]));
    assert!(matches!(client.put_object("bucket", "x", unhashed).await, Err(Error::InvalidRequest(_))));

    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].signature_ok);
    assert!(!seen[0].chunked);
    assert_eq!(seen[0].content_length, Some(expected.len().to_string()));
    assert_eq!(seen[0].body, expected);
}

#[tokio::test]
async fn error_answers_become_s3_error_codes() {
    let (addr, _log) = start_server().await;
    let good = client(addr, PayloadSigning::Unsigned);
    match good.get_object("bucket", "missing").await {
        Err(Error::S3 { status, code, message, .. }) => {
            assert_eq!(
                (status, code.as_str(), message.as_str()),
                (StatusCode::NOT_FOUND, "NoSuchKey", "gone")
            );
        }
        other => panic!("expected NoSuchKey, got {other:?}"),
    }
    // HEAD has no body: the 404 alone says NoSuchKey.
    let head = good.head_object("bucket", "missing").await;
    assert_eq!(head.as_ref().err().map(Error::code), Some("NoSuchKey"));

    let wrong_secret =
        Client::new(ClientConfig::new(format!("http://{addr}"), Credentials::new(ACCESS_KEY, "nope")))
            .expect("a valid endpoint");
    let denied = wrong_secret.put_object("bucket", "k", RequestBody::full("x")).await;
    assert_eq!(denied.as_ref().err().map(Error::code), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let addr = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("address");
    let client = client(addr, PayloadSigning::Unsigned);
    let result = client.delete_object("bucket", "k").await;
    assert_eq!(result.as_ref().err().map(Error::code), Some("Connect"), "{result:?}");
}
