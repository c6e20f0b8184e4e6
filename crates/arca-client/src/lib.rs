//! A small S3 client: SigV4 signing and requests over hyper, independent of Arca internals.
