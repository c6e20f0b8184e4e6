//! Object sizes: parsing `4KiB`, `1MiB`, `1KiB..1MiB`, and the size of each
//! object of a run, derived from the seed and the object's number so that a
//! reader can know what a writer wrote without being told.

use std::fmt;
use std::str::FromStr;

use crate::data::mix64;

/// A fixed size or an inclusive range of sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeSpec {
    pub min: u64,
    pub max: u64,
}

impl SizeSpec {
    pub const fn fixed(size: u64) -> Self {
        SizeSpec { min: size, max: size }
    }

    /// The size of object `id`. Within a range, sizes are log-uniform: each
    /// power of two between the bounds gets about as many objects, which is
    /// what a `1KiB..1MiB` mix is meant to exercise (uniform sizes would put
    /// almost every object above 100 KiB).
    pub fn size_of(&self, seed: u64, id: u64) -> u64 {
        if self.min == self.max {
            return self.min;
        }
        let unit = (mix64(seed ^ 0x5157_e5ee_d000_0000, id) >> 11) as f64 / (1u64 << 53) as f64;
        let low = (self.min as f64 + 1.0).ln();
        let high = (self.max as f64 + 1.0).ln();
        let size = (low + unit * (high - low)).exp() - 1.0;
        (size.round() as u64).clamp(self.min, self.max)
    }
}

impl FromStr for SizeSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once("..") {
            Some((low, high)) => {
                let (min, max) = (parse_size(low)?, parse_size(high)?);
                if min > max {
                    return Err(format!("size range {text:?} has its lower bound above its upper bound"));
                }
                Ok(SizeSpec { min, max })
            }
            None => parse_size(text).map(SizeSpec::fixed),
        }
    }
}

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", format_size(self.min))
        } else {
            write!(f, "{}..{}", format_size(self.min), format_size(self.max))
        }
    }
}

/// Parses a byte count with an optional unit: `B`; `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024); `KB`, `MB`, `GB`, `TB` (powers of 1000); `K`, `M`, `G`,
/// `T` (powers of 1024, as dd and fio read them). Units are case-insensitive;
/// the number may have a fraction (`1.5MiB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!("size {text:?} has no number"));
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(|| format!("size {text:?} is too large"));
    }
    let value: f64 = number.parse().map_err(|_| format!("{number:?} in {text:?} is not a number"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Formats a byte count with the largest binary unit that divides it exactly.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4kib"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4KB"), Ok(4000));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("10B"), Ok(10));
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["", "KiB", "4XB", "-1", "1..", "4 KiBs", "99999999999TiB", "1.2.3MiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
        assert!("1MiB..1KiB".parse::<SizeSpec>().is_err());
        assert!("..1KiB".parse::<SizeSpec>().is_err());
    }

    #[test]
    fn specs_round_trip_through_display() {
        for text in ["4KiB", "1MiB", "1GiB", "1000B", "1KiB..1MiB"] {
            let spec: SizeSpec = text.parse().expect("valid");
            assert_eq!(spec.to_string(), text);
        }
    }

    #[test]
    fn ranged_sizes_stay_in_bounds_and_spread_over_octaves() {
        let spec: SizeSpec = "1KiB..1MiB".parse().expect("valid");
        let sizes: Vec<u64> = (0..10_000).map(|id| spec.size_of(7, id)).collect();
        assert!(sizes.iter().all(|&s| (1024..=1 << 20).contains(&s)));
        // Log-uniform over ten octaves: about a tenth below 2 KiB, a tenth above 512 KiB.
        let small = sizes.iter().filter(|&&s| s < 2048).count();
        let large = sizes.iter().filter(|&&s| s >= 512 << 10).count();
        assert!((700..1300).contains(&small), "{small} objects below 2 KiB");
        assert!((700..1300).contains(&large), "{large} objects above 512 KiB");
        // The same seed and id give the same size; another seed another mix.
        assert_eq!(spec.size_of(7, 42), sizes[42]);
        assert_ne!((0..100).map(|id| spec.size_of(8, id)).collect::<Vec<_>>(), sizes[..100]);
    }

    #[test]
    fn fixed_sizes_ignore_the_seed() {
        assert_eq!(SizeSpec::fixed(4096).size_of(1, 2), 4096);
    }
}
