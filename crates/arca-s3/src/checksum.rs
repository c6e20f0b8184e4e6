//! Verifying the x-amz-checksum-* values clients send with a body.
//!
//! Current SDKs send a CRC32, CRC32C, CRC64NVME, SHA-1 or SHA-256 of the body,
//! either as a header before the body or as a trailer after it (aws-chunked
//! uploads). The gateway hashes the body as it streams through and compares
//! once the body has ended, before the object is committed: a mismatch is
//! BadDigest and nothing is stored. s3s delivers trailers but leaves their
//! verification to us.

use std::sync::{Arc, Mutex};

use arca_object::{BodyCheck, ObjectError};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;

/// The checksum algorithms S3 defines for uploads, as (stored name, header,
/// digest length in bytes).
const ALGORITHMS: [(&str, &str, usize); 5] = [
    ("CRC32", "x-amz-checksum-crc32", 4),
    ("CRC32C", "x-amz-checksum-crc32c", 4),
    ("CRC64NVME", "x-amz-checksum-crc64nvme", 8),
    ("SHA1", "x-amz-checksum-sha1", 20),
    ("SHA256", "x-amz-checksum-sha256", 32),
];

/// A value that is not the base64 of a digest of the algorithm's length can
/// match nothing: S3 refuses it as a malformed request, not a mismatch.
fn check_well_formed(header: &str, len: usize, value: &str) -> Result<(), ObjectError> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
        Ok(bytes) if bytes.len() == len => Ok(()),
        _ => Err(ObjectError::InvalidRequest(format!("Value for {header} header is invalid."))),
    }
}

/// Where the value a declared checksum must match comes from.
enum Expected {
    /// An x-amz-checksum-* header.
    Header(String),
    /// A trailer that x-amz-trailer announced; it must arrive.
    Trailer,
    /// Only the algorithm was named (x-amz-sdk-checksum-algorithm): the
    /// value is computed and stored, as S3 does.
    Computed,
}

struct Declared {
    name: &'static str,
    header: &'static str,
    len: usize,
    expected: Expected,
}

/// The values one request declares: in headers (known now) or trailers
/// (known when the body has ended).
pub(crate) struct DeclaredChecksums {
    declared: Vec<Declared>,
    trailers: Option<TrailingHeaders>,
}

impl DeclaredChecksums {
    /// Reads what the request declares. `headers` are the request headers;
    /// `sdk_algorithm` is x-amz-sdk-checksum-algorithm.
    pub fn from_request(
        headers: &HeaderMap,
        sdk_algorithm: Option<&str>,
        trailers: Option<TrailingHeaders>,
    ) -> Result<Self, ObjectError> {
        let announced: Vec<String> = headers
            .get_all("x-amz-trailer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect();
        let mut declared = Vec::new();
        let mut in_headers = 0;
        for (name, header, len) in ALGORITHMS {
            let expected = if let Some(v) = headers.get(header) {
                let v = v.to_str().map_err(|_| {
                    ObjectError::InvalidRequest(format!("Value for {header} header is invalid."))
                })?;
                check_well_formed(header, len, v)?;
                in_headers += 1;
                Expected::Header(v.trim().to_owned())
            } else if announced.iter().any(|t| t == header) {
                Expected::Trailer
            } else if sdk_algorithm.is_some_and(|a| a.eq_ignore_ascii_case(name)) {
                Expected::Computed
            } else {
                continue;
            };
            declared.push(Declared { name, header, len, expected });
        }
        if in_headers > 1 {
            return Err(ObjectError::InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into(),
            ));
        }
        Ok(DeclaredChecksums { declared, trailers })
    }

    pub fn is_empty(&self) -> bool {
        self.declared.is_empty()
    }

    /// Wraps `body` so it is hashed on the way through, and returns the check
    /// to run once it has ended.
    pub fn attach<S, E>(self, body: S) -> (impl Stream<Item = Result<Bytes, E>> + Send, Option<BodyCheck>)
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let hasher = Arc::new(Mutex::new(self.hasher()));
        let feed = hasher.clone();
        let active = !self.is_empty();
        let body = body.inspect(move |chunk| {
            if active && let (Ok(bytes), Ok(mut h)) = (chunk, feed.lock()) {
                h.update(bytes);
            }
        });
        let check: Option<BodyCheck> = active.then(|| {
            Box::new(move || {
                let computed = match Arc::try_unwrap(hasher) {
                    Ok(m) => {
                        m.into_inner().map_err(|_| ObjectError::Internal("checksum state lost".into()))?
                    }
                    Err(_) => return Err(ObjectError::Internal("checksum still in use".into())),
                };
                self.verify(computed.finalize())
            }) as BodyCheck
        });
        (body, check)
    }

    fn hasher(&self) -> ChecksumHasher {
        let mut h = ChecksumHasher::default();
        for d in &self.declared {
            match d.name {
                "CRC32" => h.crc32 = Some(Crc32::new()),
                "CRC32C" => h.crc32c = Some(Crc32c::new()),
                "CRC64NVME" => h.crc64nvme = Some(Crc64Nvme::new()),
                "SHA1" => h.sha1 = Some(Sha1::new()),
                "SHA256" => h.sha256 = Some(Sha256::new()),
                _ => {}
            }
        }
        h
    }

    /// The value of an announced trailer. One that never arrived means the
    /// body cannot be checked: refused, not stored unverified.
    fn trailer(&self, header: &str, len: usize) -> Result<String, ObjectError> {
        let value = self
            .trailers
            .as_ref()
            .and_then(|t| t.read(|h| h.get(header).map(|v| v.to_str().map(|v| v.trim().to_owned()))))
            .flatten()
            .transpose()
            .map_err(|_| ObjectError::InvalidRequest(format!("Value for {header} header is invalid.")))?
            .ok_or_else(|| {
                ObjectError::InvalidRequest(format!(
                    "The trailer {header} announced in x-amz-trailer was not sent."
                ))
            })?;
        check_well_formed(header, len, &value)?;
        Ok(value)
    }

    /// Compares each declared value with the computed one; returns the
    /// pairs to store with the object.
    fn verify(self, computed: Checksum) -> Result<Vec<(String, String)>, ObjectError> {
        let mut stored = Vec::new();
        for d in &self.declared {
            let name = d.name;
            let value = match &d.expected {
                Expected::Header(v) => Some(v.clone()),
                Expected::Trailer => Some(self.trailer(d.header, d.len)?),
                Expected::Computed => None,
            };
            let actual = match name {
                "CRC32" => computed.checksum_crc32.clone(),
                "CRC32C" => computed.checksum_crc32c.clone(),
                "CRC64NVME" => computed.checksum_crc64nvme.clone(),
                "SHA1" => computed.checksum_sha1.clone(),
                "SHA256" => computed.checksum_sha256.clone(),
                _ => None,
            }
            .unwrap_or_default();
            if let Some(expected) = value
                && expected != actual
            {
                return Err(ObjectError::BadChecksum(format!(
                    "The {name} you specified did not match the calculated checksum."
                )));
            }
            stored.push((name.to_owned(), actual));
        }
        Ok(stored)
    }
}

/// Fills the checksum fields of an S3 output from stored pairs.
pub(crate) fn to_dto(stored: &[(String, String)]) -> Checksum {
    let mut out = Checksum::default();
    for (name, value) in stored {
        let v = Some(value.clone());
        match name.as_str() {
            "CRC32" => out.checksum_crc32 = v,
            "CRC32C" => out.checksum_crc32c = v,
            "CRC64NVME" => out.checksum_crc64nvme = v,
            "SHA1" => out.checksum_sha1 = v,
            "SHA256" => out.checksum_sha256 = v,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::stream;

    fn run(headers: &[(&str, &str)], body: &[u8]) -> Result<Vec<(String, String)>, ObjectError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let declared = DeclaredChecksums::from_request(&map, None, None)?;
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            body.chunks(3).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let (body, check) = declared.attach(stream::iter(chunks));
        let _: Vec<_> = block_on(body.collect::<Vec<_>>());
        check.map_or(Ok(Vec::new()), |c| c())
    }

    #[test]
    fn a_matching_crc32_is_stored_and_a_wrong_one_refused() {
        // CRC32("hello world") = 0x0d4a1185, base64 "DUoRhQ==".
        let ok = run(&[("x-amz-checksum-crc32", "DUoRhQ==")], b"hello world").unwrap();
        assert_eq!(ok, vec![("CRC32".to_owned(), "DUoRhQ==".to_owned())]);
        assert!(matches!(
            run(&[("x-amz-checksum-crc32", "AAAAAA==")], b"hello world"),
            Err(ObjectError::BadChecksum(_))
        ));
    }

    #[test]
    fn malformed_or_multiple_values_are_invalid_requests() {
        for headers in [
            &[("x-amz-checksum-crc32", "not base64!")][..],
            &[("x-amz-checksum-crc32", "AAAAAAAA")][..],
            &[("x-amz-checksum-sha256", "DUoRhQ==")][..],
            &[("x-amz-checksum-crc32", "DUoRhQ=="), ("x-amz-checksum-crc32c", "AAAAAA==")][..],
        ] {
            assert!(
                matches!(run(headers, b"hello world"), Err(ObjectError::InvalidRequest(_))),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn no_declared_checksum_means_no_work() {
        assert_eq!(run(&[], b"abc").unwrap(), Vec::<(String, String)>::new());
    }
}
