//! In-memory copies of the catalog rows every request reads: the caller's
//! access key (twice per request: once for the signature, once for the
//! access check) and the bucket.
//!
//! Reading them from the index costs a hand-off to a blocking thread each,
//! which profiles show to be the largest cost of a small GET. The catalog is
//! small and changes rarely, and on one node every change goes through this
//! service, so the copies are kept exact: a change holds the cache's change
//! lock across its index commit and updates the copy before releasing it,
//! and a miss loads under the same lock, so a load can never put back a row
//! that a concurrent change just replaced or removed. Rows that do not exist
//! are not remembered: a stream of made-up names costs index reads, not
//! memory. (A cluster's shared catalog will need invalidation from the
//! catalog group instead.)

use std::collections::HashMap;
use std::future::Future;

use parking_lot::RwLock;

use crate::error::ObjectResult;

pub(crate) struct Cached<T> {
    rows: RwLock<HashMap<String, T>>,
    changes: tokio::sync::Mutex<()>,
}

impl<T: Clone> Cached<T> {
    pub fn new() -> Self {
        Cached { rows: RwLock::new(HashMap::new()), changes: tokio::sync::Mutex::new(()) }
    }

    /// The row `name`, from memory or else from `load`.
    pub async fn get<F>(&self, name: &str, load: F) -> ObjectResult<Option<T>>
    where
        F: Future<Output = ObjectResult<Option<T>>>,
    {
        if let Some(row) = self.rows.read().get(name) {
            return Ok(Some(row.clone()));
        }
        let _change = self.changes.lock().await;
        if let Some(row) = self.rows.read().get(name) {
            return Ok(Some(row.clone()));
        }
        let row = load.await?;
        if let Some(row) = &row {
            self.rows.write().insert(name.to_owned(), row.clone());
        }
        Ok(row)
    }

    /// Runs `change` (an index write) and then records what it left behind
    /// for each name it returns: `Some(row)` to remember, `None` to forget.
    pub async fn change<R, F>(&self, change: F) -> ObjectResult<R>
    where
        F: Future<Output = ObjectResult<(R, Vec<(String, Option<T>)>)>>,
    {
        let _change = self.changes.lock().await;
        let (result, rows) = change.await?;
        let mut cached = self.rows.write();
        for (name, row) in rows {
            match row {
                Some(row) => cached.insert(name, row),
                None => cached.remove(&name),
            };
        }
        Ok(result)
    }
}
