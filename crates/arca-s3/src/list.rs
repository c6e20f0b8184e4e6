//! Listings: ListObjects (v1), ListObjectsV2, ListObjectVersions.
//!
//! All three are one ordered range scan of the bucket's index (Q3); they
//! differ in how paging is spelled. A v2 continuation token is the
//! URL-safe base64 of the last key or common prefix returned, so a client
//! can resume from any token without server-side state.

use std::collections::HashMap;

use arca_object::{ListEntry, ListPage, ListQuery, VersionListEntry, VersionListQuery, VersionRef};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::convert::{etag, storage_class, timestamp};
use crate::error::IntoS3;

/// The most entries one page returns, whatever max-keys asks for.
pub(crate) const MAX_PAGE: usize = 1000;

pub(crate) fn max_keys(value: Option<i32>) -> S3Result<usize> {
    match value {
        None => Ok(MAX_PAGE),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must be a non-negative integer")),
        Some(n) => Ok((n as usize).min(MAX_PAGE)),
    }
}

/// Whether keys in the response are URL-encoded (encoding-type=url).
pub(crate) fn url_encoding(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(|e| e.as_str()) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(other) => {
            Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request: {other}"))
        }
    }
}

/// Percent-encodes everything but unreserved characters and '/', which both
/// `unquote` and `unquote_plus` (what SDKs decode with) read back exactly.
const KEY_ENCODE_SET: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

pub(crate) fn encode(value: &str, url: bool) -> String {
    if url {
        percent_encoding::utf8_percent_encode(value, KEY_ENCODE_SET).to_string()
    } else {
        value.to_owned()
    }
}

fn encode_opt(value: Option<String>, url: bool) -> Option<String> {
    value.map(|v| encode(&v, url))
}

fn token_encode(marker: &str) -> String {
    URL_SAFE_NO_PAD.encode(marker)
}

pub(crate) fn token_decode(token: &str) -> S3Result<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

/// The index query of a listing request; empty parameters mean absent, as
/// clients send `delimiter=` and `marker=` for "none".
fn query(
    prefix: &Option<String>,
    delimiter: &Option<String>,
    start_after: Option<String>,
    max: usize,
) -> ListQuery {
    ListQuery {
        prefix: prefix.clone().unwrap_or_default(),
        delimiter: delimiter.clone().filter(|d| !d.is_empty()),
        start_after: start_after.filter(|s| !s.is_empty()),
        max_keys: max,
    }
}

struct Listed {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    page: ListPage,
}

async fn list(
    s3: &ArcaS3,
    req_caller: &arca_object::Caller,
    bucket: &str,
    query: ListQuery,
    url: bool,
    fetch_owner: bool,
) -> S3Result<Listed> {
    let (_, page) = s3.service.list_objects(req_caller, bucket, query).await.s3()?;
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    // A page of 1000 objects usually has a handful of owners: look each up once.
    let mut owners: HashMap<&str, Owner> = HashMap::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Object(o) => {
                let owner = if fetch_owner {
                    if !owners.contains_key(o.meta.owner.as_str()) {
                        owners.insert(&o.meta.owner, s3.owner(&o.meta.owner).await?);
                    }
                    owners.get(o.meta.owner.as_str()).cloned()
                } else {
                    None
                };
                objects.push(Object {
                    key: Some(encode(&o.key, url)),
                    size: Some(o.meta.size as i64),
                    e_tag: Some(etag(&o.meta.etag)),
                    last_modified: Some(timestamp(o.ts)),
                    storage_class: Some(ObjectStorageClass::from(storage_class(
                        o.meta.storage_class.as_deref(),
                    ))),
                    owner,
                    ..Default::default()
                });
            }
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix { prefix: Some(encode(p, url)) }),
        }
    }
    Ok(Listed { objects, prefixes, page })
}

pub(crate) async fn list_objects(
    s3: &ArcaS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let query = query(&input.prefix, &input.delimiter, input.marker.clone(), max);
    let listed = list(s3, &caller, &input.bucket, query, url, true).await?;
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
        marker: Some(encode(&input.marker.unwrap_or_default(), url)),
        delimiter: encode_opt(input.delimiter, url),
        max_keys: Some(max as i32),
        is_truncated: Some(listed.page.is_truncated),
        next_marker: encode_opt(listed.page.next_marker.filter(|_| listed.page.is_truncated), url),
        contents: Some(listed.objects),
        common_prefixes: Some(listed.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub(crate) async fn list_objects_v2(
    s3: &ArcaS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let caller = caller(&req)?;
    let input = req.input;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let start_after = match &input.continuation_token {
        Some(token) => Some(token_decode(token)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let query = query(&input.prefix, &input.delimiter, start_after, max);
    let listed = list(s3, &caller, &input.bucket, query, url, input.fetch_owner.unwrap_or(false)).await?;
    let key_count = (listed.objects.len() + listed.prefixes.len()) as i32;
    let next = listed.page.next_marker.filter(|_| listed.page.is_truncated).map(|m| token_encode(&m));
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
        delimiter: encode_opt(input.delimiter, url),
        start_after: encode_opt(input.start_after, url),
        max_keys: Some(max as i32),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        next_continuation_token: next,
        is_truncated: Some(listed.page.is_truncated),
        contents: Some(listed.objects),
        common_prefixes: Some(listed.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// ListObjectVersions: every version and delete marker, by key, newest
/// first. A version-id-marker is only meaningful with a key-marker, as in
/// S3.
pub(crate) async fn list_object_versions(
    s3: &ArcaS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let key_marker = input.key_marker.clone().filter(|k| !k.is_empty());
    let version_marker = match input.version_id_marker.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(_) if key_marker.is_none() => {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        Some(v) => match v.parse::<VersionRef>().s3()? {
            VersionRef::Id(id) => Some(Some(id)),
            _ => Some(None),
        },
    };
    let query = VersionListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        key_marker,
        version_marker,
        max_keys: max,
    };
    let (_, page) = s3.service.list_versions(&caller, &input.bucket, query).await.s3()?;
    let mut owners: HashMap<String, Owner> = HashMap::new();
    let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
    for entry in page.entries {
        let v = match entry {
            VersionListEntry::CommonPrefix(p) => {
                prefixes.push(CommonPrefix { prefix: Some(encode(&p, url)) });
                continue;
            }
            VersionListEntry::Version(v) => v,
        };
        if !owners.contains_key(&v.meta.owner) && !v.meta.owner.is_empty() {
            owners.insert(v.meta.owner.clone(), s3.owner(&v.meta.owner).await?);
        }
        let owner = owners.get(&v.meta.owner).cloned();
        let version_id = Some(VersionRef::of(v.version).to_string());
        if v.meta.delete_marker {
            markers.push(DeleteMarkerEntry {
                key: Some(encode(&v.key, url)),
                version_id,
                is_latest: Some(v.is_latest),
                last_modified: Some(timestamp(v.ts)),
                owner,
            });
        } else {
            versions.push(ObjectVersion {
                key: Some(encode(&v.key, url)),
                version_id,
                is_latest: Some(v.is_latest),
                size: Some(v.meta.size as i64),
                e_tag: Some(etag(&v.meta.etag)),
                last_modified: Some(timestamp(v.ts)),
                owner,
                storage_class: Some(ObjectVersionStorageClass::from(storage_class(
                    v.meta.storage_class.as_deref(),
                ))),
                ..Default::default()
            });
        }
    }
    let truncated = page.is_truncated;
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(&input.prefix.unwrap_or_default(), url)),
        delimiter: encode_opt(input.delimiter, url),
        key_marker: Some(encode(&input.key_marker.unwrap_or_default(), url)),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: encode_opt(page.next_key_marker.filter(|_| truncated), url),
        next_version_id_marker: page
            .next_version_marker
            .filter(|_| truncated)
            .map(|v| VersionRef::of(v).to_string()),
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: Some(prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_any_key() {
        for key in ["a", "dir/sub/", "ü/日本/🙂", "with space+plus", ""] {
            assert_eq!(token_decode(&token_encode(key)).unwrap(), key);
        }
        assert!(token_decode("***").is_err());
    }

    #[test]
    fn url_encoding_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(encode("a b+c/d~e.f", true), "a%20b%2Bc/d~e.f");
        assert_eq!(encode("ü", true), "%C3%BC");
        assert_eq!(encode("a b", false), "a b");
    }
}
