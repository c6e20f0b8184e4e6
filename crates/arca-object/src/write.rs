//! Turning a request body into stored bytes.
//!
//! A body streams in as chunks of any size. Small bodies end up inline in the
//! metadata row; larger ones are cut into stripes (R1), each stored as one
//! blob while the next stripe is still arriving, so at most two stripes of a
//! request are in memory at any time whatever the object size (Principle 4).
//! The MD5 that becomes the ETag is computed on the way through.

use std::sync::Arc;
use std::time::Duration;

use arca_types::{BlobId, Clock, ObjectId};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

use crate::crypt::{self, Key};
use crate::error::{ObjectError, ObjectResult, StdError};
use crate::reclaim::Reclaimer;
use arca_cluster::BlobPlacement;

/// The largest object S3 accepts (5 TiB).
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// How a body was stored.
#[derive(Debug, Clone)]
pub(crate) enum StoredBody {
    Inline(Vec<u8>),
    /// Blobs `(body, 0..)`, each `stripe_size` bytes but the last.
    Striped {
        body: ObjectId,
        stripe_size: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct WrittenBody {
    pub size: u64,
    pub md5: [u8; 16],
    pub stored: StoredBody,
}

impl WrittenBody {
    /// Gives the body's blobs back, for a write that was not committed.
    pub fn release(&self, reclaimer: &Reclaimer) {
        if let StoredBody::Striped { body, stripe_size } = self.stored {
            reclaimer.release_now(body, self.size, stripe_size);
        }
    }
}

pub(crate) struct BodyWriter {
    pub placement: Arc<BlobPlacement>,
    pub clock: Arc<Clock>,
    pub reclaimer: Reclaimer,
    pub stripe_size: usize,
    /// Bodies up to this size are kept inline when allowed.
    pub inline_threshold: usize,
    /// The longest wait for the next chunk of the body.
    pub idle_timeout: Duration,
}

/// The stripes of one body written so far.
struct Stripes {
    body: ObjectId,
    written: u32,
    /// The previous stripe's write, still in flight while the next arrives.
    pending: Option<JoinHandle<ObjectResult<()>>>,
    /// The body's key, when it is encrypted.
    seal: Option<Key>,
}

impl BodyWriter {
    /// Reads `body` to its end and stores it. `expected_len` is the declared
    /// Content-Length, if any: a body that ends early is `IncompleteBody`.
    /// On any error, blobs already written are released.
    pub async fn write<S, E>(
        &self,
        body: S,
        expected_len: Option<u64>,
        allow_inline: bool,
        seal: Option<&Key>,
    ) -> ObjectResult<WrittenBody>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<StdError>,
    {
        if expected_len.is_some_and(|len| len > MAX_OBJECT_SIZE) {
            return Err(ObjectError::EntityTooLarge);
        }
        // Time-ordered: garbage collection reads a body's age off its id.
        let body_id = ObjectId::time_ordered(self.clock.now().micros);
        // A sealed body is never inline, and its stripes are sealed with the
        // key of this body.
        let seal = seal.map(|key| key.for_body(body_id));
        let allow_inline = allow_inline && seal.is_none();
        let mut stripes = Stripes { body: body_id, written: 0, pending: None, seal };
        let result = self.write_stripes(body, expected_len, allow_inline, &mut stripes).await;
        if result.is_err() {
            if let Some(pending) = stripes.pending.take() {
                let _ = pending.await;
            }
            let written = u64::from(stripes.written) * self.stripe_size as u64;
            self.reclaimer.release_now(stripes.body, written, self.stripe_size as u32);
        }
        result
    }

    async fn write_stripes<S, E>(
        &self,
        body: S,
        expected_len: Option<u64>,
        allow_inline: bool,
        stripes: &mut Stripes,
    ) -> ObjectResult<WrittenBody>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<StdError>,
    {
        let mut body = std::pin::pin!(body);
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let first_capacity = expected_len.map_or(64 * 1024, |len| len.min(self.stripe_size as u64) as usize);
        let mut buf = BytesMut::with_capacity(first_capacity);

        loop {
            let Ok(next) = tokio::time::timeout(self.idle_timeout, body.next()).await else {
                return Err(ObjectError::RequestTimeout);
            };
            let Some(chunk) = next else { break };
            let mut chunk = chunk.map_err(|err| body_error(err.into()))?;
            size += chunk.len() as u64;
            if size > MAX_OBJECT_SIZE || expected_len.is_some_and(|len| size > len) {
                return Err(ObjectError::EntityTooLarge);
            }
            md5.update(&chunk);
            while !chunk.is_empty() {
                let take = (self.stripe_size - buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk.split_to(take));
                if buf.len() == self.stripe_size {
                    let stripe = std::mem::replace(&mut buf, BytesMut::with_capacity(self.stripe_size));
                    self.store_stripe(stripes, stripe.freeze()).await?;
                }
            }
        }
        if expected_len.is_some_and(|len| size < len) {
            return Err(ObjectError::IncompleteBody);
        }

        let stored = if stripes.written == 0 && allow_inline && buf.len() <= self.inline_threshold {
            StoredBody::Inline(buf.to_vec())
        } else {
            if !buf.is_empty() {
                self.store_stripe(stripes, buf.freeze()).await?;
            }
            if let Some(pending) = stripes.pending.take() {
                pending.await??;
            }
            StoredBody::Striped { body: stripes.body, stripe_size: self.stripe_size as u32 }
        };
        Ok(WrittenBody { size, md5: md5.finalize().into(), stored })
    }

    /// Starts writing `data` as the next stripe once the previous stripe's
    /// write has finished, so one request keeps at most one write in flight.
    async fn store_stripe(&self, stripes: &mut Stripes, data: Bytes) -> ObjectResult<()> {
        if let Some(pending) = stripes.pending.take() {
            pending.await??;
        }
        let id = BlobId::new(stripes.body, stripes.written);
        let placement = self.placement.clone();
        let seal = stripes.seal.clone();
        stripes.pending = Some(tokio::spawn(async move {
            let data = match seal {
                Some(key) => Bytes::from(crypt::seal_stripe(&key, id.stripe, &data)),
                None => data,
            };
            Ok(placement.put(id, data).await?)
        }));
        stripes.written += 1;
        Ok(())
    }
}

/// An error from a body stream. A stream that is itself another object's
/// body (a copy) fails with an `ObjectError`, which is passed on as it is.
fn body_error(err: StdError) -> ObjectError {
    match err.downcast::<ObjectError>() {
        Ok(err) => *err,
        Err(err) => ObjectError::Body(err),
    }
}
