//! Errors of the blob store.

use std::path::PathBuf;

use arca_types::BlobId;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(BlobId),

    /// The stored bytes fail their checksum or do not match the index. The
    /// caller should read another replica (and the replicator repair this
    /// one); the store never returns such bytes.
    #[error("blob {id} is corrupt (volume {volume}, offset {offset}): {reason}")]
    Corrupt { id: BlobId, volume: u32, offset: u64, reason: String },

    #[error("blob of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },

    #[error("range {offset}+{len} is outside blob {id} of {blob_len} bytes")]
    RangeOutOfBounds { id: BlobId, offset: u64, len: u64, blob_len: u64 },

    /// An fsync (or the undo of a failed append) failed: what the kernel
    /// holds for this store can no longer be trusted to reach the disk, so
    /// the store refuses writes until it is reopened (and recovery has
    /// re-read the disk).
    #[error("blob store failed and must be reopened: {0}")]
    Failed(String),

    #[error("blob store {0} is in use by another process")]
    Locked(PathBuf),

    #[error("invalid blob store configuration: {0}")]
    Config(String),

    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl BlobError {
    /// Whether another replica may have good bytes where this one does not.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, BlobError::Corrupt { .. })
    }
}
