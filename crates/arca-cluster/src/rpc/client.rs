//! The client side of node RPC: a pooled hyper client that signs every
//! request, bounds every wait and keeps the liveness table current.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::auth::ClusterSecret;
use super::liveness::Liveness;
use super::{RPC_PREFIX, decode, encode};

/// The body of an RPC request or answer: bytes in memory or a stream.
pub type RpcBody = BoxBody<Bytes, std::io::Error>;

pub fn full_body(bytes: impl Into<Bytes>) -> RpcBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// Reads a whole body of at most `limit` bytes.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, RpcError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display + Send + Sync + 'static + Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(RpcError::Transport(format!("reading a body: {err}"))),
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The node is marked down, or could not be reached now.
    #[error("node {0} is unavailable")]
    Unavailable(String),
    #[error("node {node} did not answer within {after:?}")]
    Timeout { node: String, after: Duration },
    /// The connection broke or the answer was cut short.
    #[error("{0}")]
    Transport(String),
    /// The node answered with an error status.
    #[error("node answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("undecodable message: {0}")]
    Decode(String),
}

impl RpcError {
    /// Whether the node itself failed (as opposed to answering "no").
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RpcError::Unavailable(_) | RpcError::Timeout { .. } | RpcError::Transport(_))
    }
}

/// Control messages and their answers are small; anything larger is a bug
/// or an attack.
pub const MAX_MESSAGE: usize = 64 << 20;

/// This node's RPC client. Cheap to clone.
#[derive(Clone)]
pub struct Rpc {
    inner: Arc<Inner>,
}

struct Inner {
    me: String,
    secret: ClusterSecret,
    http: HttpClient<HttpConnector, RpcBody>,
    liveness: Liveness,
}

impl Rpc {
    /// `me` is this node's RPC address, as the ring names it.
    pub fn new(me: String, secret: ClusterSecret) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Rpc { inner: Arc::new(Inner { me, secret, http, liveness: Liveness::default() }) }
    }

    /// This node's RPC address.
    pub fn me(&self) -> &str {
        &self.inner.me
    }

    pub fn secret(&self) -> &ClusterSecret {
        &self.inner.secret
    }

    /// Whether `node` is believed to answer (this node always is).
    pub fn is_up(&self, node: &str) -> bool {
        node == self.inner.me || self.inner.liveness.is_up(node)
    }

    /// Every node this client has talked to, with its state.
    pub fn node_states(&self) -> Vec<(String, super::NodeState)> {
        self.inner.liveness.states()
    }

    /// Records that `node` failed to answer; calls to it fail fast until a
    /// probe gets an answer.
    pub fn mark_down(&self, node: &str) {
        if self.inner.liveness.mark_down(node) {
            tracing::warn!(node, "node marked down");
        }
    }

    fn mark_up(&self, node: &str) {
        if self.inner.liveness.mark_up(node) {
            tracing::info!(node, "node is up again");
        }
    }

    /// Sends one request to `node` (`path` after `/_arca/rpc/`, with its
    /// query) and returns the answer's head once it arrives within
    /// `timeout`. A node marked down is not tried.
    pub async fn send(
        &self,
        node: &str,
        method: Method,
        path: &str,
        body: RpcBody,
        timeout: Duration,
    ) -> Result<Response<Incoming>, RpcError> {
        if !self.is_up(node) {
            return Err(RpcError::Unavailable(node.to_owned()));
        }
        self.send_unchecked(node, method, path, body, timeout).await
    }

    async fn send_unchecked(
        &self,
        node: &str,
        method: Method,
        path: &str,
        body: RpcBody,
        timeout: Duration,
    ) -> Result<Response<Incoming>, RpcError> {
        let path_and_query = format!("{RPC_PREFIX}{path}");
        let mut headers = HeaderMap::new();
        self.inner.secret.sign(method.as_str(), &path_and_query, &self.inner.me, &mut headers);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{node}{path_and_query}"))
            .body(body)
            .map_err(|e| RpcError::Transport(format!("bad request to {node}: {e}")))?;
        request.headers_mut().extend(headers);
        match tokio::time::timeout(timeout, self.inner.http.request(request)).await {
            Ok(Ok(response)) => {
                self.mark_up(node);
                Ok(response)
            }
            Ok(Err(err)) => {
                // Only a node that cannot be connected to is down; a
                // request that broke or ran late says little about the
                // next one (a busy node fsyncing slowly is not dead).
                if err.is_connect() {
                    self.mark_down(node);
                }
                Err(RpcError::Transport(format!("{node}: {err}")))
            }
            Err(_) => Err(RpcError::Timeout { node: node.to_owned(), after: timeout }),
        }
    }

    /// Sends a request and reads the whole answer (at most `MAX_MESSAGE`
    /// bytes), turning error statuses into `RpcError::Status`.
    pub async fn fetch(
        &self,
        node: &str,
        method: Method,
        path: &str,
        body: RpcBody,
        timeout: Duration,
    ) -> Result<Bytes, RpcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let response = self.send(node, method, path, body, timeout).await?;
        let status = response.status();
        let bytes =
            match tokio::time::timeout_at(deadline, read_body(response.into_body(), MAX_MESSAGE)).await {
                Ok(result) => result?,
                Err(_) => return Err(RpcError::Timeout { node: node.to_owned(), after: timeout }),
            };
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(RpcError::Status { status, message: String::from_utf8_lossy(&bytes).into_owned() })
        }
    }

    /// Sends a postcard message and decodes the postcard answer.
    pub async fn call<Req, Resp>(
        &self,
        node: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
    {
        let bytes = self.fetch(node, Method::POST, path, full_body(encode(request)), timeout).await?;
        decode(&bytes)
    }

    /// Asks `node` who it is, even if it is marked down (this is how a down
    /// node comes back).
    pub async fn ping(&self, node: &str, timeout: Duration) -> Result<super::Hello, RpcError> {
        let response = self.send_unchecked(node, Method::GET, "ping", full_body(Bytes::new()), timeout).await;
        // A node that does not answer a ping in time stays (or is) down.
        if matches!(response, Err(RpcError::Timeout { .. })) {
            self.mark_down(node);
        }
        let response = response?;
        let status = response.status();
        let bytes = read_body(response.into_body(), 4096).await?;
        if !status.is_success() {
            return Err(RpcError::Status { status, message: String::from_utf8_lossy(&bytes).into_owned() });
        }
        decode(&bytes)
    }

    /// Probes every node marked down, once a second, until the runtime
    /// stops; a node that answers is up again.
    pub fn start_prober(&self) {
        let rpc = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let down: Vec<String> = rpc.inner.liveness.down_nodes();
                let probes = down.iter().map(|node| rpc.ping(node, Duration::from_secs(1)));
                futures::future::join_all(probes).await;
            }
        });
    }
}
