//! The server side of node RPC: authenticate, route by the first path
//! segment, answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::auth::ClusterSecret;
use super::client::{RpcBody, full_body};
use super::{RPC_PREFIX, encode};

/// What `ping` answers: who this node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The node's Raft id.
    pub node_id: u64,
    /// The node's RPC address.
    pub rpc: String,
    /// The cluster the node belongs to.
    pub cluster: [u8; 16],
}

/// An authenticated request.
pub struct RpcRequest {
    /// The sender's RPC address.
    pub from: String,
    pub method: Method,
    /// The path after `/_arca/rpc/`, split at `/` (the route's own segment
    /// first).
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Incoming,
}

impl RpcRequest {
    pub fn query_u64(&self, name: &str) -> Option<u64> {
        self.query.get(name).and_then(|v| v.parse().ok())
    }
}

pub type RpcResponse = Response<RpcBody>;

/// Answers the requests of one route.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: RpcRequest) -> BoxFuture<'static, RpcResponse>;
}

/// A plain-text error answer.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> RpcResponse {
    let mut response = Response::new(full_body(Bytes::from(message.into())));
    *response.status_mut() = status;
    response
}

/// A postcard answer.
pub fn msg_response<T: Serialize>(value: &T) -> RpcResponse {
    Response::new(full_body(encode(value)))
}

/// The routes of this node's RPC server. Routes can be added while it
/// serves (the Raft groups register once they exist).
#[derive(Clone)]
pub struct Router {
    inner: Arc<RouterInner>,
}

struct RouterInner {
    secret: ClusterSecret,
    hello: Box<dyn Fn() -> Hello + Send + Sync>,
    routes: parking_lot::RwLock<HashMap<&'static str, Arc<dyn Handler>>>,
}

impl Router {
    pub fn new(secret: ClusterSecret, hello: impl Fn() -> Hello + Send + Sync + 'static) -> Self {
        Router {
            inner: Arc::new(RouterInner {
                secret,
                hello: Box::new(hello),
                routes: parking_lot::RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn route(&self, segment: &'static str, handler: Arc<dyn Handler>) {
        self.inner.routes.write().insert(segment, handler);
    }

    async fn answer(&self, request: http::Request<Incoming>) -> RpcResponse {
        let path_and_query = request.uri().path_and_query().map_or("", |p| p.as_str()).to_owned();
        let from =
            match self.inner.secret.verify(request.method().as_str(), &path_and_query, request.headers()) {
                Ok(from) => from,
                Err(reason) => {
                    tracing::warn!(path = %path_and_query, reason, "refused an unauthenticated node request");
                    return error_response(StatusCode::FORBIDDEN, reason);
                }
            };
        let Some(rest) = request.uri().path().strip_prefix(RPC_PREFIX) else {
            return error_response(StatusCode::NOT_FOUND, "not an RPC path");
        };
        let segments: Vec<String> = rest.split('/').map(str::to_owned).collect();
        let query = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (pair.to_owned(), String::new()),
            })
            .collect();
        if segments[0] == "ping" {
            return msg_response(&(self.inner.hello)());
        }
        let handler = self.inner.routes.read().get(segments[0].as_str()).cloned();
        let Some(handler) = handler else {
            return error_response(StatusCode::NOT_FOUND, format!("no RPC route {:?}", segments[0]));
        };
        let (parts, body) = request.into_parts();
        handler.handle(RpcRequest { from, method: parts.method, segments, query, body }).await
    }
}

/// Serves node RPC on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, router: Router) {
    let http = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "RPC accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| {
            let router = router.clone();
            async move { Ok::<_, std::convert::Infallible>(router.answer(request).await) }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service).into_owned();
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%peer, error = %err, "RPC connection ended with an error");
            }
        });
    }
}
