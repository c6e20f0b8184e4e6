//! What garbage collection may not delete: every body a row refers to,
//! anywhere in the cluster.
//!
//! Each index range's leader lists the bodies its rows refer to (object
//! manifests and the parts of live uploads), read from its current state;
//! the union over every range of the catalog is the referenced set. If any
//! range cannot answer, there is no set and nothing is collected this time:
//! a blob is only ever deleted on complete, current knowledge. Bodies
//! created after the set was read are protected by the collector's age
//! floor (their ids carry their creation time).

use std::collections::HashSet;
use std::sync::Arc;

use arca_types::ObjectId;

use crate::cluster::Cluster;
use crate::error::{ClusterError, ClusterResult};

/// The body ids every range's rows refer to.
pub async fn referenced_bodies(cluster: &Arc<Cluster>) -> ClusterResult<HashSet<ObjectId>> {
    // The range map itself must be current: a node whose view trailed
    // would not ask a range it does not know of.
    cluster.sync_catalog().await?;
    let buckets: Vec<ObjectId> = cluster.catalog.read(|c| c.ranges.keys().copied().collect());
    let mut bodies = HashSet::new();
    for bucket in buckets {
        // Every range of the bucket, walked end to end from its leaders:
        // a range the view missed would leave its bodies unprotected.
        match cluster.referenced_bodies_of(bucket, &mut bodies).await {
            Ok(()) => {}
            // Deleted since the view was read: its rows are gone.
            Err(ClusterError::Meta(arca_meta::MetaError::NoSuchBucket)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(bodies)
}
