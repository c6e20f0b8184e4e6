//! Streaming a stored body, or a byte range of it, back to a client.
//!
//! A striped body is read one stripe-sized segment at a time, with one
//! segment fetched ahead, so a GET holds at most two segments in memory
//! whatever the object size. The list of segments is computed lazily from
//! the manifest: a 5 TiB object never materialises a million-entry list.

use std::pin::Pin;
use std::sync::Arc;

use arca_meta::{ManifestPart, ObjectBody};
use arca_types::BlobId;
use bytes::Bytes;
use futures::{Stream, StreamExt, stream};

use crate::crypt::{self, Key};
use crate::error::{ObjectError, ObjectResult};
use arca_cluster::BlobPlacement;

/// An object body (or a range of it) as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = ObjectResult<Bytes>> + Send>>;

/// How many segments a reader fetches ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// Streams bytes `[start, end)` of `body`; `key` is the data key of an
/// encrypted body, whose stripes are opened package by package (`crypt`).
pub(crate) fn read_body(
    placement: Arc<BlobPlacement>,
    body: &ObjectBody,
    start: u64,
    end: u64,
    key: Option<Key>,
) -> BodyStream {
    match body {
        ObjectBody::Inline(data) => {
            let (start, end) = (start as usize, (end as usize).min(data.len()));
            let chunk = Bytes::copy_from_slice(data.get(start..end).unwrap_or_default());
            Box::pin(stream::once(async move { Ok(chunk) }))
        }
        ObjectBody::Striped(manifest) => {
            let segments = Segments::new(manifest.parts.clone(), start, end);
            let reads = stream::iter(segments).map(move |segment| {
                let placement = placement.clone();
                let key = key.clone();
                async move {
                    if let Some(key) = key {
                        return read_sealed(&placement, &key, segment).await;
                    }
                    let data = placement.get_range(segment.blob, segment.offset, segment.len).await?;
                    if data.len() as u64 != segment.len {
                        return Err(ObjectError::Corrupt(format!(
                            "blob {} returned {} bytes where the manifest says {}",
                            segment.blob,
                            data.len(),
                            segment.len
                        )));
                    }
                    Ok(data)
                }
            });
            Box::pin(reads.buffered(READ_AHEAD))
        }
    }
}

/// Reads plaintext `segment` of an encrypted stripe: the sealed packages
/// that hold it, opened (a tag that does not verify is an error).
async fn read_sealed(placement: &Arc<BlobPlacement>, key: &Key, segment: Segment) -> ObjectResult<Bytes> {
    let (from, to) = (segment.offset, segment.offset + segment.len);
    let (start, end, first) = crypt::sealed_range(from, to, segment.stripe_len);
    let sealed = placement.get_range(segment.blob, start, end - start).await?;
    if sealed.len() as u64 != end - start {
        return Err(ObjectError::Corrupt(format!(
            "blob {} returned {} bytes where its sealed stripe has {}",
            segment.blob,
            sealed.len(),
            end - start
        )));
    }
    let body_key = key.for_body(segment.blob.object);
    Ok(Bytes::from(crypt::open_range(&body_key, segment.blob.stripe, first, &sealed, from, to)?))
}

/// A piece of one blob to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    blob: BlobId,
    offset: u64,
    len: u64,
    /// The whole stripe's plaintext length.
    stripe_len: u64,
}

/// Walks the manifest's parts and stripes that overlap `[pos, end)`.
struct Segments {
    parts: Vec<ManifestPart>,
    part: usize,
    /// Offset in the object of the current part's first byte.
    part_base: u64,
    pos: u64,
    end: u64,
}

impl Segments {
    fn new(parts: Vec<ManifestPart>, start: u64, end: u64) -> Self {
        Segments { parts, part: 0, part_base: 0, pos: start, end }
    }
}

impl Iterator for Segments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        while self.pos < self.end {
            let part = self.parts.get(self.part)?;
            let part_end = self.part_base + part.size;
            if self.pos >= part_end {
                self.part_base = part_end;
                self.part += 1;
                continue;
            }
            let stripe_size = u64::from(part.stripe_size.max(1));
            let in_part = self.pos - self.part_base;
            let stripe = in_part / stripe_size;
            let offset = in_part % stripe_size;
            let stripe_end = (stripe + 1) * stripe_size;
            let len = (stripe_end.min(part.size) - in_part).min(self.end - self.pos);
            let stripe_len = stripe_end.min(part.size) - stripe * stripe_size;
            self.pos += len;
            return Some(Segment { blob: BlobId::new(part.body, stripe as u32), offset, len, stripe_len });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_types::ObjectId;

    fn part(n: u8, size: u64, stripe_size: u32) -> ManifestPart {
        ManifestPart {
            part_number: u32::from(n),
            body: ObjectId([n; 16]),
            size,
            stripe_size,
            etag: String::new(),
        }
    }

    /// The segments of any range, concatenated, are exactly the bytes of
    /// that range: checked against a flat model of the object.
    #[test]
    fn segments_cover_every_range_exactly() {
        let parts = vec![part(1, 10, 4), part(2, 7, 3), part(3, 0, 4), part(4, 5, 8)];
        // Model: for each object byte, the (blob, offset) it lives at.
        let mut model = Vec::new();
        for p in &parts {
            for i in 0..p.size {
                let s = u64::from(p.stripe_size);
                model.push((BlobId::new(p.body, (i / s) as u32), i % s));
            }
        }
        let total = model.len() as u64;
        for start in 0..=total {
            for end in start..=total {
                let mut flat = Vec::new();
                for seg in Segments::new(parts.clone(), start, end) {
                    assert!(seg.len > 0, "empty segment for {start}..{end}");
                    for k in 0..seg.len {
                        flat.push((seg.blob, seg.offset + k));
                    }
                }
                assert_eq!(flat, model[start as usize..end as usize], "range {start}..{end}");
            }
        }
    }
}
