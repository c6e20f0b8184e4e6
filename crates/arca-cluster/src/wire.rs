//! Errors as they cross the wire: the metadata index's errors in a form
//! every node can decode, mapped back on arrival.

use arca_meta::{BucketRow, MetaError};
use arca_types::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireError {
    BucketExists(Box<BucketRow>),
    NoSuchBucket,
    BucketNotEmpty,
    NoSuchUpload,
    InvalidPart(u32),
    PreconditionFailed,
    Stale(Timestamp),
    Invalid(String),
    Corrupt(String),
    Store(String),
    Closed,
    // New variants go last: postcard encodes a variant as its index.
    Locked(String),
    WrongRange,
}

impl From<MetaError> for WireError {
    fn from(err: MetaError) -> Self {
        match err {
            MetaError::BucketExists(row) => WireError::BucketExists(row),
            MetaError::NoSuchBucket => WireError::NoSuchBucket,
            MetaError::BucketNotEmpty => WireError::BucketNotEmpty,
            MetaError::NoSuchUpload => WireError::NoSuchUpload,
            MetaError::InvalidPart(n) => WireError::InvalidPart(n),
            MetaError::PreconditionFailed => WireError::PreconditionFailed,
            MetaError::Stale { stored } => WireError::Stale(stored),
            MetaError::Invalid(why) => WireError::Invalid(why),
            MetaError::Corrupt(why) => WireError::Corrupt(why),
            MetaError::Store(err) => WireError::Store(err.to_string()),
            MetaError::Closed => WireError::Closed,
            MetaError::Locked(why) => WireError::Locked(why),
            MetaError::WrongRange => WireError::WrongRange,
        }
    }
}

impl From<WireError> for MetaError {
    fn from(err: WireError) -> Self {
        match err {
            WireError::BucketExists(row) => MetaError::BucketExists(row),
            WireError::NoSuchBucket => MetaError::NoSuchBucket,
            WireError::BucketNotEmpty => MetaError::BucketNotEmpty,
            WireError::NoSuchUpload => MetaError::NoSuchUpload,
            WireError::InvalidPart(n) => MetaError::InvalidPart(n),
            WireError::PreconditionFailed => MetaError::PreconditionFailed,
            WireError::Stale(stored) => MetaError::Stale { stored },
            WireError::Invalid(why) => MetaError::Invalid(why),
            WireError::Corrupt(why) => MetaError::Corrupt(why),
            WireError::Store(why) => MetaError::Corrupt(format!("a replica's store failed: {why}")),
            WireError::Closed => MetaError::Closed,
            WireError::Locked(why) => MetaError::Locked(why),
            WireError::WrongRange => MetaError::WrongRange,
        }
    }
}
