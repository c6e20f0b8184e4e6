//! Object contents: generated on the fly from a seed, never held whole.
//!
//! A run fills one pool of random bytes (8 MiB, from a seeded xoshiro PRNG).
//! Object `id` is a sequence of 64 KiB pieces, piece `k` being the pool window
//! at an offset derived from (seed, id, k). Pieces are zero-copy slices of the
//! pool, so a 1 GiB upload costs no more memory than a 4 KiB one and the
//! generator never bounds throughput; a reader recomputes the same windows to
//! verify a body. The bytes are incompressible, but they repeat across pieces:
//! not a fit for stores that deduplicate content.

use std::io;

use arca_client::RequestBody;
use bytes::Bytes;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The size of one generated piece; bodies are streamed in pieces of this size.
pub const PIECE: usize = 64 * 1024;
const POOL: usize = 8 << 20;

/// A 64-bit mix of two values (splitmix64's finaliser over their combination):
/// different inputs give unrelated outputs.
pub fn mix64(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random bytes every object of a run is cut from.
#[derive(Clone)]
pub struct DataPool {
    // POOL random bytes followed by a copy of the first PIECE of them, so
    // that a window of up to PIECE bytes at any offset below POOL is one slice.
    bytes: Bytes,
    seed: u64,
}

impl DataPool {
    pub fn new(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut bytes = vec![0u8; POOL + PIECE];
        rng.fill_bytes(&mut bytes[..POOL]);
        bytes.copy_within(..PIECE, POOL);
        DataPool { bytes: Bytes::from(bytes), seed }
    }

    /// The contents of object `id`, `size` bytes long.
    pub fn object(&self, id: u64, size: u64) -> ObjectData {
        ObjectData { pool: self.bytes.clone(), key: mix64(self.seed, id), size }
    }
}

/// The contents of one object, as a recipe.
#[derive(Clone)]
pub struct ObjectData {
    pool: Bytes,
    key: u64,
    size: u64,
}

impl ObjectData {
    pub fn size(&self) -> u64 {
        self.size
    }

    // The bytes from `pos` to the end of its piece, at most `limit` of them.
    fn piece_at(&self, pos: u64, limit: u64) -> Bytes {
        let piece = pos / PIECE as u64;
        let within = (pos % PIECE as u64) as usize;
        let len = ((PIECE - within) as u64).min(limit) as usize;
        let offset = (mix64(self.key, piece) % POOL as u64) as usize + within;
        self.pool.slice(offset..offset + len)
    }

    /// The bytes of `start..end` as zero-copy pieces.
    pub fn pieces(&self, start: u64, end: u64) -> Pieces {
        Pieces { data: self.clone(), pos: start, end: end.min(self.size) }
    }

    /// SHA-256 (hex) of `start..end`, for signed payloads.
    pub fn sha256(&self, start: u64, end: u64) -> String {
        let mut hasher = Sha256::new();
        for piece in self.pieces(start, end) {
            hasher.update(&piece);
        }
        hex::encode(hasher.finalize())
    }

    /// A request body streaming `start..end`; with its SHA-256 when `signed`.
    pub fn body(&self, start: u64, end: u64, signed: bool) -> RequestBody {
        let end = end.min(self.size);
        let length = end.saturating_sub(start);
        let body = if length <= PIECE as u64 {
            RequestBody::full(self.pieces(start, end).next().unwrap_or_default())
        } else {
            RequestBody::stream(
                length,
                futures::stream::iter(self.pieces(start, end).map(Ok::<_, io::Error>)),
            )
        };
        if signed { body.with_sha256(self.sha256(start, end)) } else { body }
    }

    /// A checker for a body read back, fed in whatever chunks the network gives.
    pub fn verifier(&self) -> Verifier {
        Verifier { data: self.clone(), pos: 0, mismatch: None }
    }
}

/// The pieces of a range of an object.
pub struct Pieces {
    data: ObjectData,
    pos: u64,
    end: u64,
}

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        let piece = self.data.piece_at(self.pos, self.end - self.pos);
        self.pos += piece.len() as u64;
        Some(piece)
    }
}

/// Compares a body, chunk by chunk, with what the object should contain.
pub struct Verifier {
    data: ObjectData,
    pos: u64,
    mismatch: Option<u64>,
}

/// How a body read back differs from what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The bytes differ, first at this offset.
    Mismatch { offset: u64 },
    /// The body has a different length.
    Length { expected: u64, got: u64 },
}

impl VerifyError {
    /// The name under which the failure is counted.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Mismatch { .. } => "VerifyMismatch",
            VerifyError::Length { .. } => "SizeMismatch",
        }
    }
}

impl Verifier {
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.mismatch.is_some() {
            self.pos += chunk.len() as u64;
            return;
        }
        while !chunk.is_empty() {
            if self.pos >= self.data.size {
                // Longer than expected: `finish` reports the length.
                self.pos += chunk.len() as u64;
                return;
            }
            let expected = self.data.piece_at(self.pos, (self.data.size - self.pos).min(chunk.len() as u64));
            let n = expected.len();
            if expected[..] != chunk[..n] {
                let first = expected.iter().zip(chunk).position(|(a, b)| a != b).unwrap_or(0);
                self.mismatch = Some(self.pos + first as u64);
                self.pos += chunk.len() as u64;
                return;
            }
            self.pos += n as u64;
            chunk = &chunk[n..];
        }
    }

    pub fn finish(self) -> Result<(), VerifyError> {
        if self.pos != self.data.size {
            return Err(VerifyError::Length { expected: self.data.size, got: self.pos });
        }
        match self.mismatch {
            Some(offset) => Err(VerifyError::Mismatch { offset }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &ObjectData, start: u64, end: u64) -> Vec<u8> {
        data.pieces(start, end).flat_map(|p| p.to_vec()).collect()
    }

    #[test]
    fn contents_are_deterministic_and_differ_between_objects_and_seeds() {
        let pool = DataPool::new(1);
        let a = collect(&pool.object(1, 300_000), 0, 300_000);
        assert_eq!(a.len(), 300_000);
        assert_eq!(a, collect(&DataPool::new(1).object(1, 300_000), 0, 300_000));
        assert_ne!(a, collect(&pool.object(2, 300_000), 0, 300_000));
        assert_ne!(a, collect(&DataPool::new(2).object(1, 300_000), 0, 300_000));
        // Pieces of one object are not one window repeated.
        assert_ne!(a[..PIECE], a[PIECE..2 * PIECE]);
    }

    #[test]
    fn any_range_matches_the_whole() {
        let data = DataPool::new(3).object(9, 200_000);
        let whole = collect(&data, 0, 200_000);
        for (start, end) in [(0, 1), (1, 65_537), (65_535, 131_073), (100_000, 200_000), (199_999, 250_000)] {
            assert_eq!(collect(&data, start, end), whole[start as usize..(end.min(200_000)) as usize]);
        }
        assert_eq!(data.sha256(0, 200_000), hex::encode(Sha256::digest(&whole)));
    }

    #[test]
    fn the_verifier_accepts_the_object_in_any_chunking() {
        let data = DataPool::new(4).object(5, 150_001);
        let whole = collect(&data, 0, 150_001);
        for chunk in [1, 7, 4096, 65_536, 100_000, 200_000] {
            let mut verifier = data.verifier();
            whole.chunks(chunk).for_each(|c| verifier.feed(c));
            assert_eq!(verifier.finish(), Ok(()), "chunks of {chunk}");
        }
    }

    #[test]
    fn the_verifier_finds_a_flipped_byte_and_wrong_lengths() {
        let data = DataPool::new(4).object(5, 100_000);
        let mut whole = collect(&data, 0, 100_000);
        whole[70_000] ^= 1;
        let mut verifier = data.verifier();
        whole.chunks(4096).for_each(|c| verifier.feed(c));
        assert_eq!(verifier.finish(), Err(VerifyError::Mismatch { offset: 70_000 }));

        whole[70_000] ^= 1;
        let mut short = data.verifier();
        short.feed(&whole[..99_999]);
        assert_eq!(short.finish(), Err(VerifyError::Length { expected: 100_000, got: 99_999 }));
        let mut long = data.verifier();
        long.feed(&whole);
        long.feed(b"x");
        assert_eq!(long.finish(), Err(VerifyError::Length { expected: 100_000, got: 100_001 }));
    }
}
