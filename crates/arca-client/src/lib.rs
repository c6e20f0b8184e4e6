//! A small S3 client: SigV4 signing and requests over hyper, independent of
//! Arca internals, so that it talks to any S3 server.
//!
//! - [`sigv4`]: the signature itself, pure and tested against the AWS examples.
//! - [`Client::send`]: signs and sends any [`Request`] (method, path, query,
//!   headers, body) and returns the [`Response`] unread; admin commands use it
//!   for their own endpoints.
//! - S3 operations on [`Client`]: buckets, PUT/GET/HEAD/DELETE object,
//!   ListObjectsV2, DeleteObjects, multipart uploads.
//!
//! Addressing is path-style (`http://host:port/bucket/key`), over plain HTTP.
//! Bodies may be streams of a known length ([`RequestBody::stream`]), so an
//! object of any size is sent without holding it in memory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), arca_client::Error> {
//! use arca_client::{Client, ClientConfig, Credentials, Request, RequestBody};
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:9000", Credentials::new("AK", "SK")))?;
//! client.put_object("bucket", "hello.txt", RequestBody::full("hi")).await?;
//! let answer = client.send_checked(Request::new(http::Method::GET, "/bucket").query("list-type", "2")).await?;
//! let xml = answer.bytes(1 << 20).await?;
//! # let _ = xml; Ok(()) }
//! ```

mod body;
mod client;
mod error;
mod s3;
pub mod sigv4;
mod time;
pub mod xml;

pub use body::{ChunkStream, RequestBody};
pub use client::{Client, ClientConfig, PayloadSigning, Request, Response};
pub use error::Error;
pub use s3::{CompletedPart, DELETE_BATCH, ListOptions, ObjectInfo};
pub use sigv4::Credentials;
pub use time::amz_datetime;
pub use xml::{DeleteFailure, ListEntry, ListPage};
