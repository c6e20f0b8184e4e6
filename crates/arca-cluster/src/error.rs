//! What can go wrong in the cluster layer.

use arca_blob::BlobError;
use arca_meta::MetaError;

use crate::rpc::RpcError;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Not enough replicas, or no leader, could be reached to do this now;
    /// the client may retry (S3's 503 ServiceUnavailable).
    #[error("{0}")]
    Unavailable(String),
    /// No replica holds the blob.
    #[error("blob {0} is missing on every replica")]
    BlobMissing(arca_types::BlobId),
    /// Every replica that holds the blob holds it corrupt.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The request itself is wrong (a malformed ring, an old version).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

impl From<BlobError> for ClusterError {
    fn from(err: BlobError) -> Self {
        match err {
            BlobError::Corrupt { .. } => ClusterError::Corrupt(err.to_string()),
            BlobError::NotFound(id) => ClusterError::BlobMissing(id),
            other => ClusterError::Internal(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ClusterError {
    fn from(err: tokio::task::JoinError) -> Self {
        ClusterError::Internal(format!("a storage task failed: {err}"))
    }
}

pub type ClusterResult<T> = Result<T, ClusterError>;
