//! Request bodies: nothing, bytes in memory, or a stream of chunks of a known
//! length. A stream is never buffered whole, so a body of any size costs only
//! the chunks in flight; its length is sent as `Content-Length` (S3 refuses
//! chunked transfer encoding without aws-chunked signing).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use http_body::{Frame, SizeHint};

/// A stream of body chunks.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// The body of a request.
pub struct RequestBody {
    kind: Kind,
    sha256: Option<String>,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Stream { declared: u64, sent: u64, stream: ChunkStream },
}

impl RequestBody {
    /// No body.
    pub fn empty() -> Self {
        RequestBody { kind: Kind::Empty, sha256: None }
    }

    /// A body held in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        RequestBody { kind: Kind::Full(Some(bytes.into())), sha256: None }
    }

    /// A streamed body of exactly `length` bytes. Yielding more or fewer bytes
    /// fails the request rather than sending a body that disagrees with its
    /// `Content-Length`.
    pub fn stream<S>(length: u64, stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    {
        RequestBody {
            kind: Kind::Stream { declared: length, sent: 0, stream: Box::pin(stream) },
            sha256: None,
        }
    }

    /// Attaches the body's SHA-256 (lower-case hex), so that a client that
    /// signs payloads can sign a stream without reading it twice.
    pub fn with_sha256(mut self, hex_sha256: impl Into<String>) -> Self {
        self.sha256 = Some(hex_sha256.into());
        self
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match &self.kind {
            Kind::Empty => 0,
            Kind::Full(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            Kind::Stream { declared, .. } => *declared,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The SHA-256 given with [`with_sha256`](Self::with_sha256), if any.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// The in-memory bytes, when the body is not a stream.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Full(bytes) => Some(bytes.as_deref().unwrap_or(&[])),
            Kind::Stream { .. } => None,
        }
    }
}

impl Default for RequestBody {
    fn default() -> Self {
        RequestBody::empty()
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        RequestBody::full(bytes)
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(bytes: Vec<u8>) -> Self {
        RequestBody::full(bytes)
    }
}

impl From<String> for RequestBody {
    fn from(text: String) -> Self {
        RequestBody::full(text)
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::Stream { .. } => "stream",
        };
        f.debug_struct("RequestBody").field("kind", &kind).field("len", &self.len()).finish()
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => {
                Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b))))
            }
            Kind::Stream { declared, sent, stream } => match stream.as_mut().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    *sent += chunk.len() as u64;
                    if *sent > *declared {
                        return Poll::Ready(Some(Err(length_mismatch(*declared, *sent, "more"))));
                    }
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
                Poll::Ready(None) if *sent < *declared => {
                    Poll::Ready(Some(Err(length_mismatch(*declared, *sent, "fewer"))))
                }
                Poll::Ready(None) => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.as_ref().is_none_or(|b| b.is_empty()),
            Kind::Stream { declared, sent, .. } => *declared == 0 && *sent == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { declared, sent, .. } => SizeHint::with_exact(declared.saturating_sub(*sent)),
            _ => SizeHint::with_exact(self.len()),
        }
    }
}

fn length_mismatch(declared: u64, sent: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "request body stream yielded {what} bytes than its declared length {declared} (at least {sent})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn a_stream_of_the_declared_length_is_passed_through() {
        let body = RequestBody::stream(5, chunks(&[b"ab", b"cde"]));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected.ok().as_deref(), Some(&b"abcde"[..]));
    }

    #[tokio::test]
    async fn a_stream_longer_than_declared_fails() {
        let body = RequestBody::stream(3, chunks(&[b"ab", b"cde"]));
        assert!(body.collect().await.is_err());
    }

    #[tokio::test]
    async fn a_stream_shorter_than_declared_fails() {
        let body = RequestBody::stream(9, chunks(&[b"ab", b"cde"]));
        assert!(body.collect().await.is_err());
    }
}
