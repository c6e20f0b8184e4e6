//! Listing a bucket's objects: an ordered range scan of the index (Q3).
//! Paging tokens and wire encodings belong to the frontends.

use arca_meta::{ListPage, ListQuery};

use crate::error::ObjectResult;
use crate::{BucketRow, Caller, ObjectService};

impl ObjectService {
    pub async fn list_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        query: ListQuery,
    ) -> ObjectResult<(BucketRow, ListPage)> {
        let bucket = self.bucket(caller, bucket).await?;
        let page = self.cluster().list_objects(bucket.id, query).await?;
        Ok((bucket, page))
    }
}
