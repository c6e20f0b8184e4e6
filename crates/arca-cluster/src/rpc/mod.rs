//! Node RPC: how the nodes of a cluster talk to each other.
//!
//! Plain HTTP/1.1 on hyper, on each node's `--rpc` address, under
//! `/_arca/rpc/`. Every request is authenticated with the cluster secret
//! ([`auth`]); a node that stops answering is marked down and probed until it
//! answers again ([`liveness`]). Control messages are postcard-encoded
//! values; blob bodies and Raft snapshots are raw streamed bytes, so no
//! message ever needs more memory than one stripe.
//!
//! Routes (`{device}` is a device name, `{blob}` a blob id in hex, `{group}`
//! a Raft group id):
//!
//! - `GET    ping`                                  who answers, and its cluster
//! - `PUT    blob/{device}/{blob}?partition=P&crc=C` store a blob (body: its bytes)
//! - `GET    blob/{device}/{blob}?offset=O&len=L`   read (part of) a blob
//! - `DELETE blob/{device}/{blob}`                  delete a blob
//! - `GET    partition/{device}/{partition}`        the partition's (id, len, crc) list
//! - `GET    digest/{device}/{partition}`           the partition's digest
//! - `POST   raft/{group}/{append|vote|prevote}?to=N` Raft messages of one group, for node N
//! - `POST   raft/{group}/snapshot`                 a streamed snapshot
//! - `POST   raft/{group}/open`                     start (and initialise) a group here
//! - `POST   propose/{group}`                       a change, for the group's leader
//! - `POST   read/{group}`                          a read, for the group's leader
//! - `POST   manage/{group}`                        set a range's voters (its leader)
//! - `GET    status`, `POST status/{group}`         this node's state; its view of a group
//! - `POST   join`                                  ask an empty node to join this cluster

pub mod auth;
mod client;
mod liveness;
mod server;

pub use auth::ClusterSecret;
pub use client::{MAX_MESSAGE, Rpc, RpcBody, RpcError, full_body, read_body};
pub use liveness::NodeState;
pub use server::{Handler, Hello, Router, RpcRequest, RpcResponse, error_response, msg_response, serve};

/// Every RPC path starts with this.
pub const RPC_PREFIX: &str = "/_arca/rpc/";

/// Encodes a control message.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own plain data types into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a control message.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RpcError> {
    postcard::from_bytes(bytes).map_err(|e| RpcError::Decode(e.to_string()))
}
