//! Devices: the units a ring places partitions on, and the checks on their fields.

use serde::{Deserialize, Serialize};

use crate::RingError;

/// One storage device (a disk, or a directory standing for one) of the cluster.
///
/// `region` and `zone` are failure domains: replicas of a partition go to
/// distinct regions, then distinct zones, then distinct nodes whenever there
/// are enough of them. A zone number is meaningful within its region. `node`
/// is the `HOST:PORT` of the server that owns the device; `device` is the
/// device's name on that server. `weight` is relative capacity: a device of
/// weight 200 gets twice the partitions of one of weight 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub node: String,
    pub device: String,
    pub weight: f64,
}

/// A device to add to a builder; the builder assigns the id.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub region: u32,
    pub zone: u32,
    /// `HOST:PORT` of the server that owns the device.
    pub node: String,
    /// The device's name on its server (e.g. `sdb1`, `d0`).
    pub device: String,
    pub weight: f64,
}

/// Longest node address or device name, in bytes (the ring file stores their
/// lengths as 16-bit numbers; real names are far shorter).
pub(crate) const MAX_NAME_LEN: usize = 255;

/// A weight must be a finite number, zero or above. Zero keeps a device in the
/// ring but drains it of partitions.
pub(crate) fn check_weight(weight: f64) -> Result<(), RingError> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(RingError::InvalidArgument(format!("weight must be a finite number >= 0, not {weight}")))
    }
}

/// `HOST:PORT`, where HOST is non-empty (a name, an IPv4 address or a
/// bracketed IPv6 address) and PORT a number from 1 to 65535.
pub(crate) fn check_node(node: &str) -> Result<(), RingError> {
    let bad = |why: &str| RingError::InvalidArgument(format!("node {node:?} is not HOST:PORT: {why}"));
    if node.len() > MAX_NAME_LEN {
        return Err(bad("longer than 255 bytes"));
    }
    let Some((host, port)) = node.rsplit_once(':') else {
        return Err(bad("no ':' before the port"));
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(bad("the host contains a space, a control character or '/'"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("an IPv6 host must be in brackets, as [::1]:9000"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("the port is not a number from 1 to 65535")),
    }
}

/// A device name: 1 to 255 bytes, no '/', spaces or control characters (it
/// names a directory under the server's data directory).
pub(crate) fn check_device_name(name: &str) -> Result<(), RingError> {
    let bad = |why: &str| RingError::InvalidArgument(format!("device name {name:?} {why}"));
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("is longer than 255 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("is not a usable directory name"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '\\') {
        return Err(bad("contains a space, a control character or a slash"));
    }
    Ok(())
}

/// All checks on a device's fields (used when adding one and when loading files).
pub(crate) fn check_fields(node: &str, device: &str, weight: f64) -> Result<(), RingError> {
    check_node(node)?;
    check_device_name(device)?;
    check_weight(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_must_be_host_and_port() {
        for good in ["10.0.0.1:6000", "node-a.example:9000", "[::1]:6200", "localhost:1"] {
            check_node(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["", "host", ":80", "host:", "host:0", "host:70000", "a b:80", "::1:80", "h/x:80"] {
            assert!(check_node(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn device_names_and_weights_are_checked() {
        check_device_name("sdb1").unwrap();
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(check_device_name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(check_device_name(&"x".repeat(256)).is_err());
        check_weight(0.0).unwrap();
        check_weight(1e9).unwrap();
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(check_weight(bad).is_err(), "{bad} was accepted");
        }
    }
}
