//! Swift-style rings: partition placement over zones and weights, handoffs, the builder.
//!
//! A ring maps every partition (the top `part_power` bits of the MD5 of a
//! placement key, see [`arca_types::partition_of`]) to an ordered list of
//! `replicas` distinct devices, spread over regions, zones and nodes, with
//! each device holding a share of partitions proportional to its weight.
//!
//! Two things live here, kept apart as in Swift:
//!
//! - [`RingBuilder`]: the operator's state (devices, the assignment, when each
//!   partition last moved). It is edited offline (`arca ring ...`) and
//!   [`RingBuilder::rebalance`] computes a new assignment. Saved as the
//!   builder file.
//! - [`Ring`]: the compact, read-only table servers load to answer "which
//!   devices hold this key" in nanoseconds, plus a deterministic handoff order
//!   for failures. Saved as the ring file (`<builder file>.ring`).
//!
//! The algorithm and both file formats are documented in docs/design.md,
//! section 3; the invariants are the property tests in `tests/`.

mod builder;
mod device;
mod error;
mod format;
mod plan;
mod rebalance;
mod ring;

pub use builder::{DeviceUsage, RebalanceReport, RingBuilder, ring_path_for};
pub use device::{Device, DeviceSpec};
pub use error::RingError;
pub use ring::{Handoffs, Ring};

/// The largest partition power a ring may have. 2^24 partitions with 3
/// replicas already make a 192 MiB lookup table that every server holds in
/// memory; larger clusters are not what Arca's rings are built for.
pub const MAX_PART_POWER: u8 = 24;

/// The largest replica count a ring may have.
pub const MAX_REPLICAS: u8 = 16;
