//! One S3 operation of a run, as the workers time it: PUT, GET (streamed,
//! optionally verified), HEAD, DELETE, one list page, one whole multipart
//! upload. Each knows its object by number; names and contents derive from it.

use std::time::{Duration, Instant};

use arca_client::{Client, CompletedPart, ListOptions, ListPage};

use crate::data::{DataPool, ObjectData, VerifyError};
use crate::size::SizeSpec;

/// What every operation of a run shares.
pub struct Ctx {
    pub client: Client,
    pub bucket: String,
    /// Ends with `/`; every object of the run is under it.
    pub prefix: String,
    pub pool: DataPool,
    pub size: SizeSpec,
    pub seed: u64,
    pub verify: bool,
    pub sign_payload: bool,
    pub part_size: u64,
    pub list_max_keys: u32,
}

impl Ctx {
    pub fn key(&self, id: u64) -> String {
        format!("{}{id:010}", self.prefix)
    }

    pub fn object(&self, id: u64) -> ObjectData {
        self.pool.object(id, self.size.size_of(self.seed, id))
    }
}

/// A failed operation: the code it is counted under and a message.
#[derive(Debug, Clone)]
pub struct OpError {
    pub code: String,
    pub message: String,
}

impl From<arca_client::Error> for OpError {
    fn from(err: arca_client::Error) -> Self {
        OpError { code: err.code().to_owned(), message: err.to_string() }
    }
}

impl From<VerifyError> for OpError {
    fn from(err: VerifyError) -> Self {
        let message = match &err {
            VerifyError::Mismatch { offset } => {
                format!("GET body differs from what was written at byte {offset}")
            }
            VerifyError::Length { expected, got } => {
                format!("GET body has {got} bytes, {expected} were written")
            }
        };
        OpError { code: err.code().to_owned(), message }
    }
}

/// PUT object `id`; returns the bytes sent.
pub async fn put(ctx: &Ctx, id: u64) -> Result<u64, OpError> {
    let object = ctx.object(id);
    let body = object.body(0, object.size(), ctx.sign_payload);
    ctx.client.put_object(&ctx.bucket, &ctx.key(id), body).await?;
    Ok(object.size())
}

/// GET object `id`, reading the body to its end; returns the bytes read.
/// The length is always checked, the contents with `verify`.
pub async fn get(ctx: &Ctx, id: u64) -> Result<u64, OpError> {
    let object = ctx.object(id);
    let mut response = ctx.client.get_object(&ctx.bucket, &ctx.key(id)).await?;
    let mut verifier = ctx.verify.then(|| object.verifier());
    let mut read = 0u64;
    while let Some(chunk) = response.chunk().await {
        let chunk = chunk?;
        read += chunk.len() as u64;
        if let Some(verifier) = verifier.as_mut() {
            verifier.feed(&chunk);
        }
    }
    match verifier {
        Some(verifier) => verifier.finish()?,
        None if read != object.size() => {
            return Err(VerifyError::Length { expected: object.size(), got: read }.into());
        }
        None => {}
    }
    Ok(read)
}

/// HEAD object `id`, checking the size it reports.
pub async fn stat(ctx: &Ctx, id: u64) -> Result<u64, OpError> {
    let expected = ctx.size.size_of(ctx.seed, id);
    let info = ctx.client.head_object(&ctx.bucket, &ctx.key(id)).await?;
    if info.size != expected {
        return Err(OpError {
            code: "SizeMismatch".into(),
            message: format!("HEAD reports {} bytes, {expected} were written", info.size),
        });
    }
    Ok(0)
}

/// DELETE object `id`.
pub async fn delete(ctx: &Ctx, id: u64) -> Result<u64, OpError> {
    ctx.client.delete_object(&ctx.bucket, &ctx.key(id)).await?;
    Ok(0)
}

/// One ListObjectsV2 page of the run's prefix.
pub async fn list_page(ctx: &Ctx, continuation_token: Option<String>) -> Result<ListPage, OpError> {
    let options = ListOptions {
        prefix: Some(ctx.prefix.clone()),
        continuation_token,
        max_keys: Some(ctx.list_max_keys),
        ..ListOptions::default()
    };
    Ok(ctx.client.list_objects_v2(&ctx.bucket, &options).await?)
}

/// A whole multipart upload of object `id` in parts of `part_size`, parts
/// sent one after another. Returns the bytes sent and each part's (latency,
/// bytes). A failed upload is aborted so it leaves no parts behind.
pub async fn multipart(ctx: &Ctx, id: u64) -> Result<(u64, Vec<(Duration, u64)>), OpError> {
    let object = ctx.object(id);
    let key = ctx.key(id);
    let upload_id = ctx.client.create_multipart_upload(&ctx.bucket, &key).await?;
    let result = upload_parts(ctx, &object, &key, &upload_id).await;
    if result.is_err() {
        // Best effort: the error that matters is the one already in hand.
        let _ = ctx.client.abort_multipart_upload(&ctx.bucket, &key, &upload_id).await;
    }
    result.map(|parts| (object.size(), parts))
}

async fn upload_parts(
    ctx: &Ctx,
    object: &ObjectData,
    key: &str,
    upload_id: &str,
) -> Result<Vec<(Duration, u64)>, OpError> {
    let size = object.size();
    // An empty object is still one (empty) part.
    let count = size.div_ceil(ctx.part_size).max(1);
    let mut completed = Vec::with_capacity(count as usize);
    let mut timings = Vec::with_capacity(count as usize);
    for index in 0..count {
        let start = index * ctx.part_size;
        let end = (start + ctx.part_size).min(size);
        let part_number = index as u32 + 1;
        let began = Instant::now();
        let body = object.body(start, end, ctx.sign_payload);
        let etag = ctx.client.upload_part(&ctx.bucket, key, upload_id, part_number, body).await?;
        timings.push((began.elapsed(), end - start));
        completed.push(CompletedPart { part_number, etag });
    }
    ctx.client.complete_multipart_upload(&ctx.bucket, key, upload_id, &completed).await?;
    Ok(timings)
}
