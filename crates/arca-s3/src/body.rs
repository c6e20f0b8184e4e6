//! Object bodies on their way out: s3s wants a `Sync` stream; ours is only
//! `Send` (it holds futures of blob reads), so it is handed over behind a
//! mutex that only the one task polling the body ever takes.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use arca_object::{BodyStream, ObjectError, ObjectResult};
use bytes::Bytes;
use futures::Stream;

pub(crate) struct SyncBody(Mutex<BodyStream>);

impl SyncBody {
    pub fn new(body: BodyStream) -> Self {
        SyncBody(Mutex::new(body))
    }
}

impl Stream for SyncBody {
    type Item = ObjectResult<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(body) => body.as_mut().poll_next(cx),
            Err(_) => Poll::Ready(Some(Err(ObjectError::Internal("a body stream panicked".into())))),
        }
    }
}
