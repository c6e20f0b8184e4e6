//! What can go wrong in an object operation, in the S3 protocol's own terms.
//!
//! Each variant maps to exactly one S3 error code in the gateway; the message
//! carried here is what the client sees, so it says what was wrong with the
//! request, never how Arca is built inside.

use arca_blob::BlobError;
use arca_cluster::ClusterError;
use arca_meta::MetaError;

pub type StdError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("The specified key does not exist")]
    NoSuchKey,
    #[error("The specified version does not exist")]
    NoSuchVersion,
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    InvalidBucketState(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error(
        "The bucket does not allow ACLs; set its object ownership to ObjectWriter or BucketOwnerPreferred."
    )]
    AccessControlListNotSupported,
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy,
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration,
    #[error("The bucket ownership controls were not found")]
    OwnershipControlsNotFound,
    /// AccessDenied with a message that says why.
    #[error("{0}")]
    AccessDeniedBecause(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("The server side encryption configuration was not found")]
    ServerSideEncryptionConfigurationNotFound,
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration,
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound,
    /// Object Lock keeps the version: S3 answers AccessDenied.
    #[error("Access Denied because object protected by object lock: {0}")]
    ObjectLocked(String),
    #[error("{0}")]
    BadRequest(String),
    /// The version read is a delete marker: 404 NoSuchKey when it is the
    /// current version, 405 MethodNotAllowed when it was named by id.
    #[error("{}", if *.named { "The specified method is not allowed against this resource" } else { "The specified key does not exist" })]
    DeleteMarker { version: Option<crate::VersionRef>, last_modified: arca_types::Timestamp, named: bool },
    #[error("The specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("The requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("Your previous request to create the named bucket succeeded and you already own it")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("Access Denied")]
    AccessDenied,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("Your metadata headers exceed the maximum allowed metadata size")]
    MetadataTooLarge,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The Content-MD5 you specified did not match what we received")]
    BadDigest,
    #[error("{0}")]
    BadChecksum(String),
    #[error("The Content-MD5 you specified is not valid")]
    InvalidDigest,
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    IncompleteBody,
    #[error("Your socket connection to the server was not read from or written to within the timeout period")]
    RequestTimeout,
    #[error("Your proposed upload exceeds the maximum allowed object size")]
    EntityTooLarge,
    #[error("Your proposed upload is smaller than the minimum allowed object size")]
    EntityTooSmall,
    #[error("One or more of the specified parts could not be found; part {0}")]
    InvalidPart(u32),
    #[error("The list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("The requested part number is not satisfiable")]
    InvalidPartNumber,
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    #[error("At least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("Not Modified")]
    NotModified,
    /// The request body stream failed (client went away, bad chunk
    /// signature, payload hash mismatch); the source says which.
    #[error("the request body could not be read: {0}")]
    Body(StdError),
    /// Stored data failed its checksum on every replica.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Too few replicas or no leader can be reached now; a retry may
    /// succeed (503).
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ObjectResult<T> = Result<T, ObjectError>;

impl ObjectError {
    /// Whether a write that failed this way may still take effect: the
    /// index could not be reached, or answered in a way that does not say
    /// whether the change was made. The blobs of such a write are left for
    /// garbage collection, which deletes them only if no row refers to
    /// them; freeing them at once could leave a committed row without its
    /// bytes.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ObjectError::ServiceUnavailable(_) | ObjectError::Internal(_))
    }
}

impl From<MetaError> for ObjectError {
    fn from(err: MetaError) -> Self {
        match err {
            MetaError::NoSuchBucket => ObjectError::NoSuchBucket,
            MetaError::BucketNotEmpty => ObjectError::BucketNotEmpty,
            MetaError::NoSuchUpload => ObjectError::NoSuchUpload,
            MetaError::InvalidPart(n) => ObjectError::InvalidPart(n),
            MetaError::PreconditionFailed => ObjectError::PreconditionFailed,
            MetaError::Locked(why) => ObjectError::ObjectLocked(why),
            MetaError::BucketExists(_) => ObjectError::BucketAlreadyExists,
            // The gateway validates names first; what still reaches the
            // index's own checks was the client's input all the same.
            MetaError::Invalid(why) => ObjectError::InvalidArgument(why),
            other => ObjectError::Internal(other.to_string()),
        }
    }
}

impl From<BlobError> for ObjectError {
    fn from(err: BlobError) -> Self {
        match err {
            BlobError::Corrupt { .. } => ObjectError::Corrupt(err.to_string()),
            other => ObjectError::Internal(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ObjectError {
    fn from(err: tokio::task::JoinError) -> Self {
        ObjectError::Internal(format!("a storage task failed: {err}"))
    }
}

impl From<ClusterError> for ObjectError {
    fn from(err: ClusterError) -> Self {
        match err {
            ClusterError::Meta(err) => err.into(),
            ClusterError::Unavailable(why) => ObjectError::ServiceUnavailable(why),
            ClusterError::Invalid(why) => ObjectError::InvalidArgument(why),
            ClusterError::Corrupt(why) => ObjectError::Corrupt(why),
            ClusterError::BlobMissing(id) => {
                ObjectError::Internal(format!("blob {id} is missing on every replica"))
            }
            other => ObjectError::Internal(other.to_string()),
        }
    }
}
