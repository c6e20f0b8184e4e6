//! Placement keys and partitions (Swift's scheme, seeds S2).
//!
//! Everything Arca stores has a placement key: a byte string whose MD5 picks
//! the partition it lives in. The ring (arca-ring) maps partitions to devices;
//! this module only defines the hash and how a partition is read off it, so
//! that every crate agrees on it without depending on the ring.

use md5::{Digest, Md5};

/// MD5 of a placement key.
pub type PlacementHash = [u8; 16];

pub fn placement_hash(key: &[u8]) -> PlacementHash {
    Md5::digest(key).into()
}

/// The partition of a hash: its top `part_power` bits (0 ..= 32).
pub fn partition_of(hash: &PlacementHash, part_power: u8) -> u32 {
    assert!(part_power <= 32, "partition power {part_power} is above 32");
    if part_power == 0 {
        return 0;
    }
    let top = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    top >> (32 - u32::from(part_power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_the_top_bits_of_md5() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        let h = placement_hash(b"");
        assert_eq!(h[0], 0xd4);
        assert_eq!(partition_of(&h, 0), 0);
        assert_eq!(partition_of(&h, 8), 0xd4);
        assert_eq!(partition_of(&h, 10), 0xd41d >> 6);
        assert_eq!(partition_of(&h, 32), 0xd41d8cd9);
    }
}
