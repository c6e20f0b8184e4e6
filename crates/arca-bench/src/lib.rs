//! The S3 load generator behind arca bench.
