//! Authenticating node-to-node requests with the cluster secret.
//!
//! Every RPC carries the sender's address, the time it was made and an
//! HMAC-SHA256, keyed with the cluster secret, over the method, the path with
//! its query, the time and the sender. A node answers only requests whose MAC
//! verifies and whose time is within `MAX_SKEW` of its own clock, so a
//! request cannot be forged without the secret nor replayed much later.
//! Bodies are not covered: they stream (a stripe is checked by its CRC32C,
//! Raft messages by their decoding), and the secret authenticates rather
//! than encrypts — node traffic belongs on a private network.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

pub const FROM_HEADER: &str = "x-arca-node-from";
pub const DATE_HEADER: &str = "x-arca-node-date";
pub const MAC_HEADER: &str = "x-arca-node-mac";

/// How far a request's time may be from the receiver's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The cluster secret; `Debug` does not show it.
#[derive(Clone)]
pub struct ClusterSecret(Vec<u8>);

impl ClusterSecret {
    pub fn new(secret: &str) -> Self {
        ClusterSecret(secret.as_bytes().to_vec())
    }

    fn mac(&self, method: &str, path_and_query: &str, date: u64, from: &str) -> Hmac<Sha256> {
        // Any key length is valid for HMAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in [method, path_and_query, &date.to_string(), from] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The headers that authenticate a request from `from`.
    pub fn sign(&self, method: &str, path_and_query: &str, from: &str, headers: &mut HeaderMap) {
        let date = unix_now();
        let tag = hex::encode(self.mac(method, path_and_query, date, from).finalize().into_bytes());
        if let Ok(value) = HeaderValue::from_str(from) {
            headers.insert(FROM_HEADER, value);
        }
        headers.insert(DATE_HEADER, HeaderValue::from(date));
        if let Ok(value) = HeaderValue::from_str(&tag) {
            headers.insert(MAC_HEADER, value);
        }
    }

    /// The sender of a request, if its headers authenticate it.
    pub fn verify(&self, method: &str, path_and_query: &str, headers: &HeaderMap) -> Result<String, String> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("missing or malformed {name} header"))
        };
        let from = text(FROM_HEADER)?;
        let date: u64 = text(DATE_HEADER)?.parse().map_err(|_| format!("malformed {DATE_HEADER} header"))?;
        let tag = hex::decode(text(MAC_HEADER)?).map_err(|_| format!("malformed {MAC_HEADER} header"))?;
        if unix_now().abs_diff(date) > MAX_SKEW.as_secs() {
            return Err("request time is too far from this node's clock".into());
        }
        self.mac(method, path_and_query, date, from)
            .verify_slice(&tag)
            .map_err(|_| "the request is not signed with this cluster's secret".to_owned())?;
        Ok(from.to_owned())
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let secret = ClusterSecret::new("s3cret");
        let mut headers = HeaderMap::new();
        secret.sign("PUT", "/_arca/rpc/blob/d1/ab?partition=3", "127.0.0.1:9101", &mut headers);
        assert_eq!(
            secret.verify("PUT", "/_arca/rpc/blob/d1/ab?partition=3", &headers).unwrap(),
            "127.0.0.1:9101"
        );
        assert!(secret.verify("PUT", "/_arca/rpc/blob/d1/ab?partition=4", &headers).is_err());
        assert!(secret.verify("GET", "/_arca/rpc/blob/d1/ab?partition=3", &headers).is_err());
        assert!(
            ClusterSecret::new("other").verify("PUT", "/_arca/rpc/blob/d1/ab?partition=3", &headers).is_err()
        );
        let mut forged = headers.clone();
        forged.insert(FROM_HEADER, HeaderValue::from_static("127.0.0.1:9999"));
        assert!(secret.verify("PUT", "/_arca/rpc/blob/d1/ab?partition=3", &forged).is_err());
        let mut old = headers.clone();
        old.insert(DATE_HEADER, HeaderValue::from(unix_now() - 3600));
        assert!(secret.verify("PUT", "/_arca/rpc/blob/d1/ab?partition=3", &old).is_err());
        assert!(secret.verify("PUT", "/x", &HeaderMap::new()).is_err());
    }
}
