//! Raft messages over node RPC: the client openraft calls to reach a
//! group's other members, and the routes that hand arriving messages to the
//! local group.
//!
//! `POST raft/{group}/{append|vote|prevote|transfer}?to={node id}` carry a
//! postcard-encoded openraft request and answer its postcard-encoded result
//! (a node refuses messages for another node id);
//! `POST raft/{group}/snapshot` streams `u32 BE length ‖ postcard((vote,
//! meta))` followed by the snapshot file's bytes, so a snapshot of any size
//! crosses with bounded memory. A group that is not running on the
//! receiver answers 404, which the sender treats as unreachable (openraft
//! backs off and retries).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::future::BoxFuture;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use openraft::OptionalSend;
use openraft::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use openraft::errors::{
    Fatal, NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::storage::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::machine::SnapshotFile;
use super::{C, GroupDesc, Groups, Node, NodeId};
use crate::rpc::{self, Handler, Rpc, RpcError, RpcRequest, RpcResponse, error_response, msg_response};

/// Builds the clients one group uses to reach its members.
pub struct NetworkFactory {
    rpc: Option<Rpc>,
    group: u64,
    me: NodeId,
}

impl NetworkFactory {
    pub fn new(rpc: Option<Rpc>, group: u64, me: NodeId) -> Self {
        NetworkFactory { rpc, group, me }
    }
}

impl RaftNetworkFactory<C> for NetworkFactory {
    type Network = GroupNetwork;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        GroupNetwork {
            rpc: self.rpc.clone(),
            group: self.group,
            me: self.me,
            target,
            addr: node.addr.clone(),
        }
    }
}

pub struct GroupNetwork {
    rpc: Option<Rpc>,
    group: u64,
    me: NodeId,
    target: NodeId,
    addr: String,
}

fn unreachable(err: impl std::fmt::Display) -> RPCError<C> {
    RPCError::Unreachable(Unreachable::from_string(err.to_string()))
}

impl GroupNetwork {
    async fn call<Req, Resp>(
        &self,
        op: &str,
        kind: RPCTypes,
        request: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<C>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
    {
        let Some(rpc) = &self.rpc else {
            return Err(unreachable(format!("node {} cannot be reached without node RPC", self.target)));
        };
        let path = format!("raft/{}/{op}?to={}", self.group, self.target);
        match rpc.call(&self.addr, &path, request, ttl).await {
            Ok(answer) => Ok(answer),
            Err(RpcError::Timeout { .. }) => Err(RPCError::Timeout(Timeout {
                action: kind,
                id: self.me,
                target: self.target,
                timeout: ttl,
            })),
            Err(RpcError::Decode(why)) => Err(RPCError::Network(NetworkError::from_string(why))),
            Err(err) => Err(unreachable(err)),
        }
    }
}

/// A remote group that failed (or stopped) is, for its peers, unreachable:
/// openraft backs off and tries again.
fn remote_error(err: RaftError<C>) -> RPCError<C> {
    unreachable(err)
}

impl RaftNetworkV2<C> for GroupNetwork {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        // The full deadline, not openraft's soft 3/4 of it: a follower
        // answers only after its fsync, and a busy machine must not turn a
        // slow disk into an election.
        let answer: Result<AppendEntriesResponse<C>, RaftError<C>> =
            self.call("append", RPCTypes::AppendEntries, &request, option.hard_ttl()).await?;
        answer.map_err(remote_error)
    }

    async fn vote(
        &mut self,
        request: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        let answer: Result<VoteResponse<C>, RaftError<C>> =
            self.call("vote", RPCTypes::Vote, &request, option.hard_ttl()).await?;
        answer.map_err(remote_error)
    }

    async fn pre_vote(
        &mut self,
        request: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        let answer: Result<VoteResponse<C>, RaftError<C>> =
            self.call("prevote", RPCTypes::Vote, &request, option.hard_ttl()).await?;
        answer.map_err(remote_error)
    }

    /// Hands leadership to this node: it elects itself at once instead of
    /// waiting for the old leader's lease to run out (leader balancing).
    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        let answer: Result<TransferLeaderResponse<C>, Fatal<C>> =
            self.call("transfer", RPCTypes::TransferLeader, &request, option.hard_ttl()).await?;
        answer.map_err(unreachable)
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let Some(rpc) = self.rpc.clone() else {
            return Err(StreamingError::Unreachable(Unreachable::from_string("no node RPC")));
        };
        let Snapshot { meta, snapshot } = snapshot;
        let header = rpc::encode(&(vote, meta));
        let mut first = BytesMut::with_capacity(4 + header.len());
        first.extend_from_slice(&(header.len() as u32).to_be_bytes());
        first.extend_from_slice(&header);
        let file = tokio::fs::File::open(&snapshot.path).await.map_err(|e| {
            StreamingError::Unreachable(Unreachable::from_string(format!("snapshot file: {e}")))
        })?;
        let chunks = futures::stream::unfold((Some(first.freeze()), file), |(first, mut file)| async move {
            if let Some(first) = first {
                return Some((Ok(Frame::data(first)), (None, file)));
            }
            let mut buf = BytesMut::with_capacity(1 << 20);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(Frame::data(buf.freeze())), (None, file))),
                Err(e) => Some((Err(e), (None, file))),
            }
        });
        let body = StreamBody::new(chunks).boxed();
        let path = format!("raft/{}/snapshot?to={}", self.group, self.target);
        let send = rpc.fetch(&self.addr, Method::POST, &path, body, option.hard_ttl());
        let bytes = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            answer = send => answer.map_err(|e| StreamingError::Unreachable(Unreachable::from_string(e.to_string())))?,
        };
        let answer: Result<SnapshotResponse<C>, Fatal<C>> = rpc::decode(&bytes)
            .map_err(|e| StreamingError::Network(NetworkError::from_string(e.to_string())))?;
        answer.map_err(|e| StreamingError::Unreachable(Unreachable::from_string(e.to_string())))
    }
}

/// The `raft` route: messages for the groups of this node, and requests to
/// open a group here.
pub struct RaftRoutes {
    pub groups: Arc<Groups>,
    pub snapshots: std::path::PathBuf,
}

/// `POST raft/{group}/open`: start a group on this node (if it is not
/// running), optionally initialising it with a membership.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OpenGroup {
    pub desc: GroupDesc,
    pub initialize: Option<std::collections::BTreeMap<NodeId, Node>>,
}

impl Handler for RaftRoutes {
    fn handle(&self, request: RpcRequest) -> BoxFuture<'static, RpcResponse> {
        let groups = self.groups.clone();
        let snapshots = self.snapshots.clone();
        Box::pin(async move { serve(groups, snapshots, request).await })
    }
}

async fn serve(groups: Arc<Groups>, snapshots: std::path::PathBuf, request: RpcRequest) -> RpcResponse {
    let (Some(group), Some(op)) = (request.segments.get(1), request.segments.get(2)) else {
        return error_response(StatusCode::NOT_FOUND, "malformed raft path");
    };
    let Ok(group) = group.parse::<u64>() else {
        return error_response(StatusCode::BAD_REQUEST, "bad group id");
    };
    if op == "open" {
        let body = match rpc::read_body(request.body, rpc::MAX_MESSAGE).await {
            Ok(body) => body,
            Err(err) => return error_response(StatusCode::BAD_REQUEST, err.to_string()),
        };
        let open: OpenGroup = match rpc::decode(&body) {
            Ok(open) => open,
            Err(err) => return error_response(StatusCode::BAD_REQUEST, err.to_string()),
        };
        if open.desc.group != group {
            return error_response(StatusCode::BAD_REQUEST, "group id mismatch");
        }
        let handle = match groups.open(open.desc).await {
            Ok(handle) => handle,
            Err(err) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        };
        if let Some(members) = open.initialize
            && let Err(err) = groups.initialize(&handle, members).await
        {
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string());
        }
        return msg_response(&());
    }
    // A message for another node id at this address (a node that was
    // wiped and started over answers at its old address) is not for this
    // process: accepting it would count this node's log as the old one's.
    if request.query_u64("to").is_some_and(|to| to != groups.me) {
        return error_response(StatusCode::NOT_FOUND, format!("node {} is not here", request.query["to"]));
    }
    let Some(handle) = groups.get(group) else {
        return error_response(StatusCode::NOT_FOUND, format!("group {group} is not running here"));
    };
    let raft = handle.raft;
    if op == "snapshot" {
        return match receive_snapshot(&raft, &snapshots, group, request.body).await {
            Ok(answer) => msg_response(&answer),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        };
    }
    let body = match rpc::read_body(request.body, rpc::MAX_MESSAGE).await {
        Ok(body) => body,
        Err(err) => return error_response(StatusCode::BAD_REQUEST, err.to_string()),
    };
    match op.as_str() {
        "append" => match rpc::decode::<AppendEntriesRequest<C>>(&body) {
            Ok(req) => msg_response(&raft.append_entries(req).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        "vote" => match rpc::decode::<VoteRequest<C>>(&body) {
            Ok(req) => msg_response(&raft.vote(req).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        "prevote" => match rpc::decode::<VoteRequest<C>>(&body) {
            Ok(req) => msg_response(&raft.pre_vote(req).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        "transfer" => match rpc::decode::<TransferLeaderRequest<C>>(&body) {
            Ok(req) => msg_response(&raft.handle_transfer_leader(req).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        _ => error_response(StatusCode::NOT_FOUND, format!("no raft operation {op:?}")),
    }
}

/// Receives a streamed snapshot into a file and installs it.
async fn receive_snapshot(
    raft: &super::Raft,
    dir: &std::path::Path,
    group: u64,
    mut body: hyper::body::Incoming,
) -> io::Result<Result<SnapshotResponse<C>, Fatal<C>>> {
    let path =
        dir.join(format!("{group:016x}-recv-{}.tmp", hex::encode(&arca_types::ObjectId::random().0[..4])));
    let mut file = tokio::fs::File::create(&path).await?;
    let mut head = BytesMut::new();
    let mut header: Option<(VoteOf<C>, SnapshotMetaOf<C>)> = None;
    let result = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(io::Error::other)?;
            let Ok(data) = frame.into_data() else { continue };
            if header.is_some() {
                file.write_all(&data).await?;
                continue;
            }
            head.extend_from_slice(&data);
            if head.len() < 4 {
                continue;
            }
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len > rpc::MAX_MESSAGE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "snapshot header too large"));
            }
            if head.len() < 4 + len {
                continue;
            }
            header = Some(
                rpc::decode(&head[4..4 + len])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
            );
            file.write_all(&head[4 + len..]).await?;
        }
        file.flush().await?;
        let (vote, meta) = header
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "snapshot without a header"))?;
        Ok::<_, io::Error>((vote, meta))
    }
    .await;
    let (vote, meta) = match result {
        Ok(parts) => parts,
        Err(err) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(err);
        }
    };
    let snapshot = Snapshot { meta, snapshot: SnapshotFile { path: path.clone() } };
    let answer = raft.install_full_snapshot(vote, snapshot).await;
    if answer.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    Ok(answer)
}
