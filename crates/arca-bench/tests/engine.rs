//! Whole runs against a small in-memory S3 server in the test: every mode
//! completes without errors, GET bodies verify, listings count what was
//! written, cleanup leaves neither objects nor the bucket behind, and a
//! server that corrupts bodies is caught by `--verify`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arca_bench::{BenchConfig, Mode, SizeSpec, Stop};
use arca_client::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

#[derive(Default)]
struct Store {
    buckets: BTreeMap<String, BTreeMap<String, Bytes>>,
    uploads: HashMap<String, BTreeMap<u32, Bytes>>,
    next_upload: u64,
    /// Flip a byte of every GET body.
    corrupt: bool,
}

type Shared = Arc<Mutex<Store>>;

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn tag_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.replace("&amp;", "&")))
        .collect()
}

async fn handle(request: Request<Incoming>, store: Shared) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = decode(request.uri().path());
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let body = request.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let (bucket, key) = match path.trim_start_matches('/').split_once('/') {
        Some((bucket, key)) => (bucket.to_owned(), key.to_owned()),
        None => (path.trim_start_matches('/').to_owned(), String::new()),
    };
    let mut store = store.lock().unwrap();
    let no_such_key = || answer(StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code></Error>");
    if key.is_empty() {
        return Ok(match method {
            Method::PUT => {
                store.buckets.entry(bucket).or_default();
                answer(StatusCode::OK, "")
            }
            Method::DELETE => match store.buckets.get(&bucket) {
                Some(objects) if !objects.is_empty() => {
                    answer(StatusCode::CONFLICT, "<Error><Code>BucketNotEmpty</Code></Error>")
                }
                _ => {
                    store.buckets.remove(&bucket);
                    answer(StatusCode::NO_CONTENT, "")
                }
            },
            Method::POST if query.contains_key("delete") => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let objects = store.buckets.entry(bucket).or_default();
                for key in tag_values(&text, "Key") {
                    objects.remove(&key);
                }
                answer(StatusCode::OK, "<DeleteResult></DeleteResult>")
            }
            Method::GET => {
                let objects = store.buckets.get(&bucket).cloned().unwrap_or_default();
                let prefix = query.get("prefix").cloned().unwrap_or_default();
                let max: usize = query.get("max-keys").and_then(|m| m.parse().ok()).unwrap_or(1000);
                let after = query.get("continuation-token").cloned().unwrap_or_default();
                let keys: Vec<(&String, &Bytes)> = objects
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix) && k.as_str() > after.as_str())
                    .take(max + 1)
                    .collect();
                let truncated = keys.len() > max;
                let mut xml = format!("<ListBucketResult><IsTruncated>{truncated}</IsTruncated>");
                for (k, v) in keys.iter().take(max) {
                    xml.push_str(&format!(
                        "<Contents><Key>{}</Key><Size>{}</Size></Contents>",
                        xml_escape(k),
                        v.len()
                    ));
                }
                if truncated {
                    let last = keys[max - 1].0;
                    xml.push_str(&format!(
                        "<NextContinuationToken>{}</NextContinuationToken>",
                        xml_escape(last)
                    ));
                }
                xml.push_str("</ListBucketResult>");
                answer(StatusCode::OK, xml)
            }
            _ => answer(StatusCode::METHOD_NOT_ALLOWED, ""),
        });
    }
    if !store.buckets.contains_key(&bucket) {
        return Ok(answer(StatusCode::NOT_FOUND, "<Error><Code>NoSuchBucket</Code></Error>"));
    }
    let response = match method {
        Method::POST if query.contains_key("uploads") => {
            store.next_upload += 1;
            let id = format!("up/{}", store.next_upload);
            store.uploads.insert(id.clone(), BTreeMap::new());
            answer(
                StatusCode::OK,
                format!(
                    "<InitiateMultipartUploadResult><UploadId>{id}</UploadId></InitiateMultipartUploadResult>"
                ),
            )
        }
        Method::PUT if query.contains_key("uploadId") => {
            let number: u32 = query.get("partNumber").and_then(|n| n.parse().ok()).unwrap_or(0);
            match store.uploads.get_mut(&query["uploadId"]) {
                Some(parts) => {
                    parts.insert(number, body);
                    let mut response = answer(StatusCode::OK, "");
                    response.headers_mut().insert("etag", format!("\"part{number}\"").parse().unwrap());
                    response
                }
                None => answer(StatusCode::NOT_FOUND, "<Error><Code>NoSuchUpload</Code></Error>"),
            }
        }
        Method::POST if query.contains_key("uploadId") => match store.uploads.remove(&query["uploadId"]) {
            Some(parts) => {
                let whole: Vec<u8> = parts.values().flat_map(|p| p.to_vec()).collect();
                store.buckets.get_mut(&bucket).unwrap().insert(key, Bytes::from(whole));
                answer(
                    StatusCode::OK,
                    "<CompleteMultipartUploadResult><ETag>\"x-1\"</ETag></CompleteMultipartUploadResult>",
                )
            }
            None => answer(StatusCode::NOT_FOUND, "<Error><Code>NoSuchUpload</Code></Error>"),
        },
        Method::DELETE if query.contains_key("uploadId") => {
            store.uploads.remove(&query["uploadId"]);
            answer(StatusCode::NO_CONTENT, "")
        }
        Method::PUT => {
            store.buckets.get_mut(&bucket).unwrap().insert(key, body);
            answer(StatusCode::OK, "")
        }
        Method::GET => match store.buckets[&bucket].get(&key) {
            Some(data) if store.corrupt && !data.is_empty() => {
                let mut bad = data.to_vec();
                bad[data.len() / 2] ^= 0x40;
                answer(StatusCode::OK, bad)
            }
            Some(data) => answer(StatusCode::OK, data.clone()),
            None => no_such_key(),
        },
        Method::HEAD => match store.buckets[&bucket].get(&key) {
            Some(data) => {
                let mut response = answer(StatusCode::OK, "");
                response.headers_mut().insert("content-length", data.len().into());
                response
            }
            None => answer(StatusCode::NOT_FOUND, ""),
        },
        Method::DELETE => {
            store.buckets.get_mut(&bucket).unwrap().remove(&key);
            answer(StatusCode::NO_CONTENT, "")
        }
        _ => answer(StatusCode::METHOD_NOT_ALLOWED, ""),
    };
    Ok(response)
}

async fn start_server() -> (SocketAddr, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let store: Shared = Arc::default();
    let shared = store.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| handle(request, store.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, store)
}

fn config(addr: SocketAddr, mode: Mode) -> BenchConfig {
    let mut config = BenchConfig::new(mode, format!("http://{addr}"), Credentials::new("ak", "sk"));
    config.progress = false;
    config.concurrency = 4;
    config.seed = Some(7);
    config.verify = true;
    config
}

fn assert_nothing_left(store: &Shared) {
    let store = store.lock().unwrap();
    assert!(store.buckets.is_empty(), "left behind: {:?}", store.buckets.keys().collect::<Vec<_>>());
    assert!(store.uploads.is_empty(), "{} multipart uploads left", store.uploads.len());
}

fn no_interrupt() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_runs_clean_and_leaves_nothing_behind() {
    let (addr, store) = start_server().await;
    for mode in Mode::ALL {
        let mut config = config(addr, mode);
        config.stop = Stop::Count(60);
        config.objects = Some(25);
        config.size = Some(if mode == Mode::Multipart {
            SizeSpec::fixed(300_000)
        } else {
            "1KiB..200KiB".parse().expect("valid size")
        });
        config.part_size = 128 * 1024;
        config.list_max_keys = 10;
        if mode == Mode::List {
            // One walker, so 60 pages are exactly 20 walks of the 25 keys.
            config.concurrency = 1;
        }
        let report = arca_bench::run(config, no_interrupt()).await.expect("the run completes");
        assert_eq!(report.errors, 0, "{mode}: {:?} {:?}", report.errors_by_code, report.error_examples);
        let expected_ops = if mode == Mode::Delete { 25 } else { 60 };
        assert_eq!(report.ops, expected_ops, "{mode}");
        if mode == Mode::List {
            // 60 pages of 10 over 25 keys: 20 walks of 10 + 10 + 5 keys.
            assert_eq!(report.keys_listed, Some(500));
        }
        if mode == Mode::Multipart {
            assert_eq!(report.operations["upload_part"].ops, 60 * 3);
            assert_eq!(report.bytes, 60 * 300_000);
        }
        assert_nothing_left(&store);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_body_is_counted_as_a_verify_error() {
    let (addr, store) = start_server().await;
    store.lock().unwrap().corrupt = true;
    let mut config = config(addr, Mode::Get);
    config.stop = Stop::Count(10);
    config.objects = Some(3);
    let report = arca_bench::run(config, no_interrupt()).await.expect("the run completes");
    assert_eq!((report.ops, report.errors), (0, 10));
    assert_eq!(report.errors_by_code.get("VerifyMismatch"), Some(&10));
    assert_nothing_left(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_bucket_is_kept_and_keep_leaves_the_objects() {
    let (addr, store) = start_server().await;
    store.lock().unwrap().buckets.insert("mine".into(), BTreeMap::from([("other".to_owned(), Bytes::new())]));
    let mut config = config(addr, Mode::Put);
    config.bucket = Some("mine".into());
    config.stop = Stop::Count(5);
    arca_bench::run(config.clone(), no_interrupt()).await.expect("the run completes");
    // Only the run's own objects were removed.
    assert_eq!(store.lock().unwrap().buckets["mine"].keys().collect::<Vec<_>>(), ["other"]);

    config.keep = true;
    let report = arca_bench::run(config, no_interrupt()).await.expect("the run completes");
    let kept = store.lock().unwrap().buckets["mine"].keys().filter(|k| k.starts_with(&report.prefix)).count();
    assert_eq!(kept, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_ends_the_run_and_still_cleans_up() {
    let (addr, store) = start_server().await;
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut config = config(addr, Mode::Put);
    config.stop = Stop::Duration(std::time::Duration::from_secs(3600));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        flag.store(true, Ordering::Relaxed);
    });
    let report = arca_bench::run(config, interrupted).await.expect("the run completes");
    assert!(report.interrupted);
    assert_nothing_left(&store);
}
