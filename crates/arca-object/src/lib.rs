//! ObjectService: buckets, objects, multipart and listing over the index and blob stores.
