//! Who may do what to a bucket beyond its owner and grants: the bucket
//! policy (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus), the public
//! access block and the object ownership setting, and the decision that
//! combines them for one request.
//!
//! The order of evaluation (docs/design.md, "Access"): the root key may do
//! anything; an explicit Deny in the policy refuses everyone else; the
//! owner and the keys the bucket grants may use it; an Allow in the policy
//! lets that one request through (anonymous ones included), unless the
//! public access block restricts a public policy to the bucket's own keys;
//! anything else is refused.

use std::collections::HashMap;
use std::sync::Arc;

use arca_meta::BucketRow;
use arca_policy::{Decision, Policy, Request};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{ObjectError, ObjectResult};
use crate::{Caller, ObjectService};

const POLICY: &str = "policy";
const PUBLIC_ACCESS_BLOCK: &str = "public-access-block";
const OWNERSHIP: &str = "ownership-controls";

/// S3's PublicAccessBlockConfiguration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// S3's object ownership settings. Arca stores no per-object ACLs, so
/// every setting means the bucket owner owns the objects; the setting is
/// kept so that clients read back what they set.
pub const OWNERSHIP_SETTINGS: [&str; 3] = ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"];

/// What the access check decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on; the operation checks ownership and grants itself.
    Proceed,
    /// The bucket policy or an ACL allows this request on this bucket.
    Allowed,
    Denied(&'static str),
}

/// Parsed policies by bucket id and row timestamp: a policy is parsed once
/// per version of its bucket row, not once per request.
#[derive(Default)]
pub(crate) struct PolicyCache {
    parsed: Mutex<HashMap<(arca_types::ObjectId, arca_types::Timestamp), Arc<Policy>>>,
}

impl PolicyCache {
    /// The bucket's policy, if it has one. A stored policy that no longer
    /// parses (validated when put, so only a stricter parser or damage)
    /// becomes one that denies everything: a policy fails closed.
    fn policy_of(&self, bucket: &BucketRow) -> Option<Arc<Policy>> {
        let json = bucket.attr(POLICY)?;
        let key = (bucket.id, bucket.ts);
        if let Some(p) = self.parsed.lock().get(&key) {
            return Some(p.clone());
        }
        let policy = Arc::new(Policy::parse(json, &bucket.name).unwrap_or_else(|err| {
            tracing::error!(bucket = %bucket.name, error = %err, "stored bucket policy does not parse; denying all");
            let deny = format!(
                r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{0}","arn:aws:s3:::{0}/*"]}}]}}"#,
                bucket.name
            );
            Policy::parse(&deny, &bucket.name).expect("the deny-all policy parses")
        }));
        let mut parsed = self.parsed.lock();
        if parsed.len() > 10_000 {
            parsed.clear();
        }
        parsed.insert(key, policy.clone());
        Some(policy)
    }
}

/// The decision of [`ObjectService::authorize`] once the bucket's policy is
/// parsed.
fn verdict(
    policy: Option<&Policy>,
    bucket: &BucketRow,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: &HashMap<String, Vec<String>>,
    acl_allows: bool,
) -> Verdict {
    if caller.is_root {
        return Verdict::Proceed;
    }
    let decision = match policy {
        Some(policy) => {
            let principal = (!caller.is_anonymous()).then_some(caller.access_key.as_str());
            policy.evaluate(&Request { principal, action, resource, context })
        }
        None => Decision::Neutral,
    };
    match decision {
        Decision::Deny => Verdict::Denied("Access Denied by the bucket policy"),
        _ if caller.may_use(bucket) => Verdict::Proceed,
        Decision::Allow if caller.is_anonymous() && public_access_block(bucket).restrict_public_buckets => {
            Verdict::Denied("Access Denied: the bucket's public access block restricts its public policy")
        }
        Decision::Allow => Verdict::Allowed,
        _ if acl_allows => Verdict::Allowed,
        _ if caller.is_anonymous() => Verdict::Denied("Access Denied"),
        _ => Verdict::Proceed,
    }
}

/// Whether the bucket's object ownership enables ACLs (not with the
/// default, BucketOwnerEnforced).
pub(crate) fn acls_enabled(bucket: &BucketRow) -> bool {
    matches!(bucket.attr(OWNERSHIP), Some("ObjectWriter" | "BucketOwnerPreferred"))
}

pub(crate) fn public_access_block(bucket: &BucketRow) -> PublicAccessBlock {
    bucket.attr(PUBLIC_ACCESS_BLOCK).and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default()
}

impl ObjectService {
    /// The access decision for one request on `bucket` (see the module
    /// comment): `action` and `resource` as a policy names them, `context`
    /// the request's condition keys (lower-case names), `acl_allows`
    /// whether an ACL grants the request (asked only when needed).
    pub fn authorize(
        &self,
        caller: &Caller,
        bucket: &BucketRow,
        action: &str,
        resource: &str,
        context: &HashMap<String, Vec<String>>,
        acl_allows: bool,
    ) -> Verdict {
        let policy = if caller.is_root { None } else { self.inner.policies.policy_of(bucket) };
        verdict(policy.as_deref(), bucket, caller, action, resource, context, acl_allows)
    }

    /// Whether the bucket has a policy (else the access check needs no
    /// action, resource or condition keys).
    pub fn has_policy(&self, bucket: &BucketRow) -> bool {
        bucket.attr(POLICY).is_some()
    }

    /// Whether the bucket's policy names `key` in a condition on existing
    /// object tags (then the access check reads the object's tags first).
    pub fn policy_reads_object_tags(&self, bucket: &BucketRow) -> bool {
        bucket.attr(POLICY).is_some_and(|json| json.to_ascii_lowercase().contains("s3:existingobjecttag"))
    }

    /// PutBucketPolicy (`None`: DeleteBucketPolicy).
    pub async fn set_policy(&self, caller: &Caller, name: &str, json: Option<String>) -> ObjectResult<()> {
        let bucket = self.owned_bucket(caller, name).await?;
        if let Some(json) = &json {
            let policy =
                Policy::parse(json, name).map_err(|e| ObjectError::MalformedPolicy(e.to_string()))?;
            if policy.is_public() && public_access_block(&bucket).block_public_policy {
                return Err(ObjectError::AccessDeniedBecause(
                    "The bucket's public access block forbids public policies".into(),
                ));
            }
        }
        self.set_bucket_attr(caller, name, POLICY, json).await
    }

    /// GetBucketPolicy: the document as it was put.
    pub async fn policy(&self, caller: &Caller, name: &str) -> ObjectResult<String> {
        let bucket = self.owned_bucket(caller, name).await?;
        bucket.attr(POLICY).map(str::to_owned).ok_or(ObjectError::NoSuchBucketPolicy)
    }

    /// GetBucketPolicyStatus: whether the policy makes the bucket public.
    pub async fn policy_is_public(&self, caller: &Caller, name: &str) -> ObjectResult<bool> {
        let bucket = self.owned_bucket(caller, name).await?;
        let policy = self.inner.policies.policy_of(&bucket).ok_or(ObjectError::NoSuchBucketPolicy)?;
        Ok(policy.is_public())
    }

    /// PutPublicAccessBlock (`None`: DeletePublicAccessBlock).
    pub async fn set_public_access_block(
        &self,
        caller: &Caller,
        name: &str,
        block: Option<PublicAccessBlock>,
    ) -> ObjectResult<()> {
        let json = block
            .map(|b| serde_json::to_string(&b))
            .transpose()
            .map_err(|e| ObjectError::Internal(e.to_string()))?;
        self.set_bucket_attr(caller, name, PUBLIC_ACCESS_BLOCK, json).await
    }

    /// GetPublicAccessBlock.
    pub async fn public_access_block(&self, caller: &Caller, name: &str) -> ObjectResult<PublicAccessBlock> {
        let bucket = self.owned_bucket(caller, name).await?;
        bucket.attr(PUBLIC_ACCESS_BLOCK).ok_or(ObjectError::NoSuchPublicAccessBlockConfiguration)?;
        Ok(public_access_block(&bucket))
    }

    /// PutBucketOwnershipControls (`None`: Delete...).
    pub async fn set_ownership(
        &self,
        caller: &Caller,
        name: &str,
        setting: Option<String>,
    ) -> ObjectResult<()> {
        if let Some(s) = &setting
            && !OWNERSHIP_SETTINGS.contains(&s.as_str())
        {
            return Err(ObjectError::MalformedXml);
        }
        self.set_bucket_attr(caller, name, OWNERSHIP, setting).await
    }

    /// GetBucketOwnershipControls.
    pub async fn ownership(&self, caller: &Caller, name: &str) -> ObjectResult<String> {
        let bucket = self.owned_bucket(caller, name).await?;
        bucket.attr(OWNERSHIP).map(str::to_owned).ok_or(ObjectError::OwnershipControlsNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_meta::Versioning;
    use arca_types::{ObjectId, Timestamp};

    fn bucket(policy: Option<&str>, block: Option<PublicAccessBlock>) -> BucketRow {
        let mut row = BucketRow {
            name: "b".into(),
            id: ObjectId([1; 16]),
            owner: "OWNER".into(),
            created: Timestamp::ZERO,
            region: "r".into(),
            grants: vec!["GRANTED".into()],
            ts: Timestamp::new(1, 0),
            deleted: false,
            versioning: Versioning::Unversioned,
            tags: vec![],
            object_lock: None,
            attrs: vec![],
        };
        row.set_attr(POLICY, policy.map(str::to_owned));
        row.set_attr(PUBLIC_ACCESS_BLOCK, block.map(|b| serde_json::to_string(&b).unwrap()));
        row
    }

    fn caller(key: &str) -> Caller {
        Caller::key(key.into(), false)
    }

    fn decide(cache: &PolicyCache, who: &Caller, b: &BucketRow, action: &str) -> Verdict {
        let policy = cache.policy_of(b);
        verdict(policy.as_deref(), b, who, action, "arn:aws:s3:::b/k", &HashMap::new(), false)
    }

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
        {"Effect":"Deny","Principal":{"AWS":"GRANTED"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn deny_beats_grants_and_allow_admits_strangers() {
        let cache = PolicyCache::default();
        let b = bucket(Some(PUBLIC_READ), None);
        let anonymous = Caller::anonymous();
        assert_eq!(decide(&cache, &anonymous, &b, "s3:GetObject"), Verdict::Allowed);
        assert!(matches!(decide(&cache, &anonymous, &b, "s3:PutObject"), Verdict::Denied(_)));
        assert!(matches!(decide(&cache, &caller("GRANTED"), &b, "s3:DeleteObject"), Verdict::Denied(_)));
        assert_eq!(decide(&cache, &caller("GRANTED"), &b, "s3:PutObject"), Verdict::Proceed);
        assert_eq!(decide(&cache, &caller("STRANGER"), &b, "s3:GetObject"), Verdict::Allowed);
        let blocked = bucket(
            Some(PUBLIC_READ),
            Some(PublicAccessBlock { restrict_public_buckets: true, ..Default::default() }),
        );
        assert!(matches!(decide(&cache, &anonymous, &blocked, "s3:GetObject"), Verdict::Denied(_)));
        assert!(matches!(
            decide(&cache, &anonymous, &bucket(None, None), "s3:GetObject"),
            Verdict::Denied(_)
        ));
        let root = Caller { is_root: true, ..caller("ROOT") };
        assert_eq!(decide(&cache, &root, &b, "s3:DeleteObject"), Verdict::Proceed);
        // An ACL's grant admits a stranger, but never past a Deny.
        let ctx = HashMap::new();
        let stranger = caller("STRANGER");
        let open = bucket(None, None);
        assert_eq!(
            verdict(None, &open, &stranger, "s3:PutObject", "arn:aws:s3:::b/k", &ctx, true),
            Verdict::Allowed
        );
        assert_eq!(
            verdict(None, &open, &anonymous, "s3:GetObject", "arn:aws:s3:::b/k", &ctx, true),
            Verdict::Allowed
        );
        let policy = cache.policy_of(&b);
        let denied = verdict(
            policy.as_deref(),
            &b,
            &caller("GRANTED"),
            "s3:DeleteObject",
            "arn:aws:s3:::b/k",
            &ctx,
            true,
        );
        assert!(matches!(denied, Verdict::Denied(_)));
    }

    #[test]
    fn a_policy_allows_only_its_own_bucket() {
        let b = bucket(None, None);
        let allowed = Caller { policy_bucket: Some("b".into()), ..caller("STRANGER") };
        assert!(allowed.may_use(&b));
        let other = BucketRow { name: "other".into(), ..b.clone() };
        assert!(!allowed.may_use(&other));
    }
}
