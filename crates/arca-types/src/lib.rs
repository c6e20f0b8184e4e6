//! Names, ids and timestamps that every Arca crate shares.
//!
//! This crate owns the vocabulary of the system and nothing else: it does no
//! I/O and holds no state. Anything that is stored on disk or sent between
//! nodes and identifies a thing (an object version, a blob, a point in time,
//! a partition) is defined here, together with its byte encoding.

mod id;
mod placement;
mod timestamp;

pub use id::{BlobId, IdParseError, ObjectId};
pub use placement::{PlacementHash, partition_of, placement_hash};
pub use timestamp::{Clock, NodeId, Timestamp};
