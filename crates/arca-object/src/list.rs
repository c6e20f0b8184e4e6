//! Listing a bucket's objects: an ordered range scan of the index (Q3).
//! Paging tokens and wire encodings belong to the frontends.

use arca_cluster::{IndexAnswer, IndexQuery};
use arca_meta::{ListPage, ListQuery};

use crate::error::{ObjectError, ObjectResult};
use crate::{BucketRow, Caller, ObjectService};

impl ObjectService {
    pub async fn list_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        query: ListQuery,
    ) -> ObjectResult<(BucketRow, ListPage)> {
        let bucket = self.bucket(caller, bucket).await?;
        match self
            .cluster()
            .index_read(bucket.id, IndexQuery::ListObjects { bucket: bucket.id, query })
            .await?
        {
            IndexAnswer::Objects(page) => Ok((bucket, page)),
            _ => Err(ObjectError::Internal("unexpected answer to a listing".into())),
        }
    }
}
