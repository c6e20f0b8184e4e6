//! The errors of building, saving, loading and querying rings.

use std::path::PathBuf;

/// Everything that can go wrong with a ring or a ring builder. Messages are
/// meant for an operator: they say what was wrong and, where it helps, what
/// to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A ring or builder file (or byte string) is damaged, truncated, of an
    /// unknown format version, or not such a file at all.
    #[error("{}{reason}", in_file(path))]
    Corrupt { path: Option<PathBuf>, reason: String },
    /// A parameter or device field is out of range or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// No device with this id is in the builder.
    #[error("no device with id {0}")]
    UnknownDevice(u32),
    /// The device is being removed and can no longer be changed.
    #[error("device {0} is being removed; it leaves the ring once a rebalance has moved its partitions away")]
    DeviceRemoved(u32),
    /// A device at this node and name is already in the builder.
    #[error("device {device} on node {node} is already in the ring (id {id})")]
    DuplicateDevice { node: String, device: String, id: u32 },
    /// Fewer devices with weight above zero than replicas: no partition could
    /// get distinct devices.
    #[error(
        "a ring of {replicas} replica(s) needs at least {replicas} device(s) with weight above zero; it has {active}"
    )]
    NotEnoughDevices { replicas: u8, active: usize },
    /// The builder has never been rebalanced, so there is no assignment yet.
    #[error("the ring has no partition assignment yet: add devices and run a rebalance first")]
    NotRebalanced,
}

fn in_file(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("{}: ", path.display()),
        None => String::new(),
    }
}

impl RingError {
    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        RingError::Corrupt { path: None, reason: reason.into() }
    }

    /// Names the file a decoding error came from.
    pub(crate) fn in_file(self, file: &std::path::Path) -> Self {
        match self {
            RingError::Corrupt { path: None, reason } => {
                RingError::Corrupt { path: Some(file.to_path_buf()), reason }
            }
            other => other,
        }
    }
}
