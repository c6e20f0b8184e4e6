//! The cluster layer: what turns a set of `arca server` processes into one
//! store (seeds S1-S12, Q2-Q4, Q7).
//!
//! - [`rpc`]: authenticated node-to-node HTTP, with liveness.
//! - [`topology`]: the ring in force and the one before it.
//! - [`blobs`]: replicated blob placement (quorum writes, hinted handoff,
//!   reads with fallback and repair) and the routes serving this node's
//!   devices.
//! - [`raft`]: the catalog group and the index range groups, on openraft,
//!   stored in the node's metadata store.
//! - [`catalog`]: the catalog as this node sees it (buckets, keys, ring,
//!   members, range map), current with every apply.
//! - `Cluster`: proposals and linearizable reads routed to group leaders,
//!   bucket creation and deletion with their ranges.
//! - [`placement`]: where each index range's replicas and leader belong.
//! - `keeper`: groups placed and moved where the plan says; nodes admitted.
//! - [`replicator`], [`auditor`], [`gc`]: copies kept whole, corrupt ones
//!   repaired, unreferenced ones collected.
//! - [`status`]: `arca cluster status`.
//!
//! A single node without `--rpc` runs the same code as a cluster of one: one
//! device, one replica, no peers.

pub mod auditor;
mod batch;
pub mod blobs;
pub mod catalog;
mod cluster;
mod error;
pub mod gc;
mod keeper;
pub mod placement;
pub mod raft;
mod ranges;
pub mod replicator;
pub mod rpc;
pub mod status;
pub mod topology;
pub mod wire;

pub use blobs::{BlobEntry, BlobPlacement, BlobRoutes};
pub use cluster::{Cluster, ClusterConfig, IndexAnswer, IndexQuery, REQUEST_PATIENCE, Role};
pub use error::{ClusterError, ClusterResult};
pub use ranges::SplitPolicy;
pub use topology::{Rings, Target, Topology};
