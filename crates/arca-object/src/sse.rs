//! SSE-S3, SSE-C and bucket default encryption: which key seals a new body
//! and which key opens a stored one (the format itself is `crypt`'s).
//!
//! SSE-S3: a random data key per object (per upload, for a multipart
//! object), kept in the object's row sealed with the server's master key.
//! SSE-C: the data key is derived from the key the client sends and a
//! random salt kept in the row; the client's key is never stored, only its
//! MD5, and every read must bring the same key. A bucket's default
//! encryption (PutBucketEncryption, AES256) gives SSE-S3 to writes that ask
//! for none. Encrypted bodies are never inline: the index holds no object
//! bytes of an encrypted object, sealed or not.

use arca_meta::{BucketRow, Encryption, EncryptionMode};
use md5::{Digest, Md5};

use crate::crypt::Key;
use crate::error::{ObjectError, ObjectResult};
use crate::{Caller, ObjectService};

/// The bucket attribute holding the default encryption's algorithm.
const DEFAULT_ENCRYPTION: &str = "encryption";

/// A key a client sends with an SSE-C request.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey {
    pub key: [u8; 32],
    pub md5: [u8; 16],
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomerKey(md5 {})", hex::encode(self.md5))
    }
}

impl CustomerKey {
    /// A key as the headers give it: 32 bytes and the MD5 the client says
    /// they have (S3 refuses a key whose MD5 does not match).
    pub fn new(key: &[u8], md5: Option<&[u8]>) -> ObjectResult<CustomerKey> {
        let key: [u8; 32] = key.try_into().map_err(|_| {
            ObjectError::InvalidArgument("The secret key was invalid for the specified algorithm.".into())
        })?;
        let actual: [u8; 16] = Md5::digest(key).into();
        if md5.is_some_and(|m| m != actual) {
            return Err(ObjectError::InvalidArgument(
                "The calculated MD5 hash of the key did not match the hash that was provided.".into(),
            ));
        }
        Ok(CustomerKey { key, md5: actual })
    }
}

/// The encryption a write asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseRequest {
    /// x-amz-server-side-encryption: AES256.
    Managed,
    Customer(CustomerKey),
}

/// A new body's encryption: what its row records, and the key that seals it.
pub(crate) type NewEncryption = (Encryption, Key);

fn random_salt() -> Vec<u8> {
    let mut salt = vec![0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    salt
}

impl ObjectService {
    /// The master key: the node's own (`master_key_file`), else the
    /// cluster's, kept in the catalog.
    async fn master_key(&self) -> ObjectResult<Key> {
        match self.config().master_key {
            Some(key) => Ok(Key(key)),
            None => Ok(Key(self.cluster().sse_master_key().await?)),
        }
    }

    /// The encryption of a new body in `bucket`: the request's, else the
    /// bucket's default, else none.
    pub(crate) async fn new_encryption(
        &self,
        bucket: &BucketRow,
        asked: Option<&SseRequest>,
    ) -> ObjectResult<Option<NewEncryption>> {
        let asked = match asked {
            Some(asked) => Some(asked.clone()),
            None if bucket.attr(DEFAULT_ENCRYPTION).is_some() => Some(SseRequest::Managed),
            None => None,
        };
        Ok(match asked {
            None => None,
            Some(SseRequest::Managed) => {
                let data = Key::random();
                let key_material = self.master_key().await?.wrap(&data);
                Some((
                    Encryption { mode: EncryptionMode::Managed, key_material, customer_key_md5: None },
                    data,
                ))
            }
            Some(SseRequest::Customer(c)) => {
                let salt = random_salt();
                let data = Key(c.key).derive(&salt);
                let encryption = Encryption {
                    mode: EncryptionMode::Customer,
                    key_material: salt,
                    customer_key_md5: Some(c.md5),
                };
                Some((encryption, data))
            }
        })
    }

    /// The key that opens a body stored with `stored`, given the customer
    /// key a request brought. An SSE-C object needs its own key (a missing
    /// one is InvalidRequest, a different one AccessDenied); a customer key
    /// for an object not stored with one is InvalidRequest.
    pub(crate) async fn opening_key(
        &self,
        stored: Option<&Encryption>,
        customer: Option<&CustomerKey>,
    ) -> ObjectResult<Option<Key>> {
        match (stored, customer) {
            (None, None) => Ok(None),
            (Some(e), None) if e.mode == EncryptionMode::Managed => {
                Ok(Some(self.master_key().await?.unwrap(&e.key_material)?))
            }
            (Some(_), None) => Err(ObjectError::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be \
                 provided to retrieve the object."
                    .into(),
            )),
            (Some(e), Some(c)) if e.mode == EncryptionMode::Customer => {
                if e.customer_key_md5 != Some(c.md5) {
                    return Err(ObjectError::AccessDeniedBecause(
                        "The provided SSE-C key does not match the key the object was stored with.".into(),
                    ));
                }
                Ok(Some(Key(c.key).derive(&e.key_material)))
            }
            _ => Err(ObjectError::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            )),
        }
    }

    /// PutBucketEncryption (`None`: DeleteBucketEncryption): AES256 only;
    /// SSE-KMS needs a KMS, which Arca does not have.
    pub async fn set_default_encryption(
        &self,
        caller: &Caller,
        name: &str,
        algorithm: Option<String>,
    ) -> ObjectResult<()> {
        if let Some(a) = &algorithm {
            match a.as_str() {
                "AES256" => {}
                "aws:kms" | "aws:kms:dsse" => {
                    return Err(ObjectError::NotImplemented(
                        "SSE-KMS needs a KMS; none is configured.".into(),
                    ));
                }
                _ => return Err(ObjectError::MalformedXml),
            }
        }
        self.set_bucket_attr(caller, name, DEFAULT_ENCRYPTION, algorithm).await
    }

    /// GetBucketEncryption: the default's algorithm.
    pub async fn default_encryption(&self, caller: &Caller, name: &str) -> ObjectResult<String> {
        let bucket = self.owned_bucket(caller, name).await?;
        bucket
            .attr(DEFAULT_ENCRYPTION)
            .map(str::to_owned)
            .ok_or(ObjectError::ServerSideEncryptionConfigurationNotFound)
    }
}
