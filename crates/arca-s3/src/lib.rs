//! The S3 frontend: the s3s S3 trait implemented over ObjectService.
