//! AWS Signature Version 4 for header-based authentication: the canonical
//! request, the string to sign, the signing key and the `Authorization` value.
//!
//! Pure functions over strings; no I/O and no clock (the caller passes the
//! timestamp), so the published AWS examples can be replayed exactly in tests.
//! The rules followed are those of S3: the path is URI-encoded once (no double
//! encoding, `/` kept), query names and values are URI-encoded and sorted, and
//! header values are trimmed with inner runs of spaces collapsed.

use std::fmt;

use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The algorithm name that opens the string to sign and the `Authorization` value.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `x-amz-content-sha256` for a body the signature does not cover.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SHA-256 of the empty string, the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An access key and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
}

impl Credentials {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Credentials { access_key: access_key.into(), secret_key: secret_key.into() }
    }
}

// The secret never reaches logs or error messages through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The key derived from a secret for one day, region and service. It changes
/// once a day, so a client may keep it instead of re-deriving it per request.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    date: String,
    key: [u8; 32],
}

impl SigningKey {
    /// Derives the key for `date` (`YYYYMMDD`): HMAC chained over
    /// `"AWS4" + secret`, the date, the region, the service and `aws4_request`.
    pub fn derive(secret_key: &str, date: &str, region: &str, service: &str) -> Self {
        let k_date = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        SigningKey { date: date.to_owned(), key }
    }

    /// The day (`YYYYMMDD`) this key is valid for.
    pub fn date(&self) -> &str {
        &self.date
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("date", &self.date).finish_non_exhaustive()
    }
}

/// The parts of a request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The path exactly as sent on the wire, already URI-encoded (see [`encode_path`]).
    pub canonical_uri: &'a str,
    /// Query parameters, decoded; they are encoded and sorted here.
    pub query: &'a [(String, String)],
    /// The headers to sign, names in any case. Must include `host` and
    /// `x-amz-date`; S3 also requires `x-amz-content-sha256`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The value sent as `x-amz-content-sha256`: a hex SHA-256 or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// Where a signature applies: region and service, with the request time.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The request time as `YYYYMMDD'T'HHMMSS'Z'` (the `x-amz-date` value).
    pub datetime: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Scope<'_> {
    fn date(&self) -> &str {
        self.datetime.get(..8).unwrap_or(self.datetime)
    }

    /// `date/region/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date(), self.region, self.service)
    }
}

/// A computed signature and the `Authorization` header value that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Lower-case hex HMAC-SHA256 of the string to sign.
    pub signature: String,
    /// `host;x-amz-content-sha256;x-amz-date`, ...
    pub signed_headers: String,
    /// The full `Authorization` header value.
    pub authorization: String,
}

/// Builds the canonical request; returns it with the signed-headers list.
pub fn canonical_request(request: &SignableRequest<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), canonical_header_value(value)))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    // A header given twice is signed once with its values joined by commas,
    // as HTTP folds repeated headers.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match merged.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let signed_headers = merged.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
    let mut canonical = String::with_capacity(256);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(request.canonical_uri);
    canonical.push('\n');
    canonical.push_str(&canonical_query(request.query));
    canonical.push('\n');
    for (name, value) in &merged {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(request.payload_hash);
    (canonical, signed_headers)
}

/// The query string as signed (and as sent): names and values URI-encoded,
/// sorted by name then value, a bare name given an empty value (`uploads=`).
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(name, value)| (encode_component(name), encode_component(value))).collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The string to sign: algorithm, time, credential scope, hash of the canonical request.
pub fn string_to_sign(scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        scope.datetime,
        scope.credential_scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Signs `request` with a key already derived for the scope's day.
pub fn sign_with_key(
    access_key: &str,
    key: &SigningKey,
    scope: &Scope<'_>,
    request: &SignableRequest<'_>,
) -> Signature {
    let (canonical, signed_headers) = canonical_request(request);
    let to_sign = string_to_sign(scope, &canonical);
    let signature = hex::encode(hmac(&key.key, to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={access_key}/{},SignedHeaders={signed_headers},Signature={signature}",
        scope.credential_scope()
    );
    Signature { signature, signed_headers, authorization }
}

/// Signs `request`, deriving the signing key from the secret.
pub fn sign(credentials: &Credentials, scope: &Scope<'_>, request: &SignableRequest<'_>) -> Signature {
    let key = SigningKey::derive(&credentials.secret_key, scope.date(), scope.region, scope.service);
    sign_with_key(&credentials.access_key, &key, scope, request)
}

/// Hex SHA-256 of a payload, for `x-amz-content-sha256` when the body is signed.
pub fn payload_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// URI-encodes a path, keeping `/` between segments: `/a b/c$` -> `/a%20b/c%24`.
pub fn encode_path(path: &str) -> String {
    encode(path, false)
}

/// URI-encodes one query name or value (`/` included).
pub fn encode_component(value: &str) -> String {
    encode(value, true)
}

// SigV4's encoding: every byte except the unreserved characters A-Z a-z 0-9
// - _ . ~ becomes %XX with upper-case hex; `/` is kept in paths only.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

fn encode(value: &str, encode_slash: bool) -> String {
    let set = if encode_slash { COMPONENT } else { PATH };
    utf8_percent_encode(value, set).to_string()
}

fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps
    // the function total without a panic path.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of the S3 documentation, "Signature Calculations for the
    // Authorization Header: Transferring Payload in a Single Chunk"
    // (sig-v4-header-based-auth): the same key, time and host throughout.
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    const DATETIME: &str = "20130524T000000Z";

    fn example_credentials() -> Credentials {
        Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    }

    fn example_scope() -> Scope<'static> {
        Scope { datetime: DATETIME, region: "us-east-1", service: "s3" }
    }

    #[test]
    fn aws_example_get_object() {
        let headers = [
            ("Host", HOST),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", DATETIME),
        ];
        let request = SignableRequest {
            method: "GET",
            canonical_uri: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let (canonical, _) = canonical_request(&request);
        assert_eq!(
            canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign(&example_scope(), &canonical),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let signature = sign(&example_credentials(), &example_scope(), &request);
        assert_eq!(
            signature.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_example_put_object_with_signed_payload() {
        let payload_hash = payload_sha256(b"Welcome to Amazon S3.");
        assert_eq!(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let uri = encode_path("/test$file.text");
        assert_eq!(uri, "/test%24file.text");
        let headers = [
            ("Host", HOST),
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", DATETIME),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", payload_hash.as_str()),
        ];
        let request = SignableRequest {
            method: "PUT",
            canonical_uri: &uri,
            query: &[],
            headers: &headers,
            payload_hash: &payload_hash,
        };
        let signature = sign(&example_credentials(), &example_scope(), &request);
        assert_eq!(signature.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
        assert_eq!(signature.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    }

    #[test]
    fn aws_example_get_bucket_lifecycle_bare_query_name() {
        let headers = [("Host", HOST), ("x-amz-date", DATETIME), ("x-amz-content-sha256", EMPTY_SHA256)];
        let query = [("lifecycle".to_owned(), String::new())];
        let request = SignableRequest {
            method: "GET",
            canonical_uri: "/",
            query: &query,
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let signature = sign(&example_credentials(), &example_scope(), &request);
        assert_eq!(signature.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    }

    #[test]
    fn aws_example_list_objects_query_is_sorted() {
        let headers = [("Host", HOST), ("x-amz-date", DATETIME), ("x-amz-content-sha256", EMPTY_SHA256)];
        // Given out of order on purpose: the canonical form sorts them.
        let query = [("prefix".to_owned(), "J".to_owned()), ("max-keys".to_owned(), "2".to_owned())];
        let request = SignableRequest {
            method: "GET",
            canonical_uri: "/",
            query: &query,
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let signature = sign(&example_credentials(), &example_scope(), &request);
        assert_eq!(signature.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    }

    #[test]
    fn a_cached_key_signs_like_a_fresh_one() {
        let key = SigningKey::derive(&example_credentials().secret_key, "20130524", "us-east-1", "s3");
        let headers = [("Host", HOST), ("x-amz-date", DATETIME), ("x-amz-content-sha256", EMPTY_SHA256)];
        let request = SignableRequest {
            method: "GET",
            canonical_uri: "/",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        assert_eq!(
            sign_with_key("AKIAIOSFODNN7EXAMPLE", &key, &example_scope(), &request),
            sign(&example_credentials(), &example_scope(), &request)
        );
    }

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode_component("a-b_c.d~e09AZ"), "a-b_c.d~e09AZ");
        assert_eq!(encode_component("a b/c+d=é"), "a%20b%2Fc%2Bd%3D%C3%A9");
        assert_eq!(encode_path("/bucket/dir/a b+c"), "/bucket/dir/a%20b%2Bc");
    }

    #[test]
    fn query_values_are_encoded_then_sorted() {
        let query = [
            ("prefix".to_owned(), "a/b c".to_owned()),
            ("list-type".to_owned(), "2".to_owned()),
            ("continuation-token".to_owned(), "x+y=".to_owned()),
        ];
        assert_eq!(canonical_query(&query), "continuation-token=x%2By%3D&list-type=2&prefix=a%2Fb%20c");
    }

    #[test]
    fn header_values_are_trimmed_and_spaces_collapsed() {
        let headers = [("X-Amz-Meta-A", "  one   two  "), ("host", "h"), ("x-amz-date", DATETIME)];
        let request = SignableRequest {
            method: "GET",
            canonical_uri: "/",
            query: &[],
            headers: &headers,
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let (canonical, signed) = canonical_request(&request);
        assert!(canonical.contains("\nx-amz-meta-a:one two\n"), "{canonical}");
        assert_eq!(signed, "host;x-amz-date;x-amz-meta-a");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", example_credentials());
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
    }
}
