//! CORS: a bucket's rules (Put/Get/DeleteBucketCors) and how a browser's
//! request is matched against them.
//!
//! The rules are stored as JSON in the bucket's `cors` attribute. A
//! preflight (OPTIONS) and the CORS headers of an actual request are both
//! answered from the first rule that allows the request's origin, method
//! and (for a preflight) every header it announces, as S3 does.

use serde::{Deserialize, Serialize};

use crate::error::{ObjectError, ObjectResult};
use crate::{Caller, ObjectService};

/// The `cors` attribute of a bucket row.
const ATTR: &str = "cors";
/// S3 allows at most 100 rules per bucket.
pub const MAX_CORS_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// One CORSRule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// What a matching rule lets the response say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsGrant {
    /// `*` when the rule allows every origin, else the request's origin.
    pub allow_origin: String,
    pub allow_methods: Vec<String>,
    /// The announced headers (a preflight), as the browser spelled them.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// `pattern` with at most one `*` matching any run of characters.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
    }
}

fn check_rules(rules: &[CorsRule]) -> ObjectResult<()> {
    if rules.is_empty() || rules.len() > MAX_CORS_RULES {
        return Err(ObjectError::MalformedXml);
    }
    for rule in rules {
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(ObjectError::MalformedXml);
        }
        if let Some(m) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(ObjectError::InvalidRequest(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for value in rule.allowed_origins.iter().chain(&rule.allowed_headers) {
            if value.matches('*').count() > 1 {
                return Err(ObjectError::InvalidRequest(format!(
                    "AllowedOrigin or AllowedHeader \"{value}\" can not have more than one wildcard."
                )));
            }
        }
    }
    Ok(())
}

/// The first rule allowing `origin` to send `method` with `headers`
/// (lower-cased by the caller or not: headers match case-insensitively).
pub fn match_rule(rules: &[CorsRule], origin: &str, method: &str, headers: &[String]) -> Option<CorsGrant> {
    let rule = rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard_match(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                let h = h.to_ascii_lowercase();
                r.allowed_headers.iter().any(|a| wildcard_match(&a.to_ascii_lowercase(), &h))
            })
    })?;
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    Some(CorsGrant {
        allow_origin: if any_origin { "*".to_owned() } else { origin.to_owned() },
        allow_methods: rule.allowed_methods.clone(),
        allow_headers: headers.to_vec(),
        expose_headers: rule.expose_headers.clone(),
        max_age_seconds: rule.max_age_seconds,
    })
}

impl ObjectService {
    /// PutBucketCors (`None`: DeleteBucketCors). Only the owner (or root).
    pub async fn set_cors(
        &self,
        caller: &Caller,
        name: &str,
        rules: Option<Vec<CorsRule>>,
    ) -> ObjectResult<()> {
        let document = match rules {
            Some(rules) => {
                check_rules(&rules)?;
                Some(serde_json::to_string(&rules).map_err(|e| ObjectError::Internal(e.to_string()))?)
            }
            None => None,
        };
        self.set_bucket_attr(caller, name, ATTR, document).await
    }

    /// GetBucketCors: `NoSuchCORSConfiguration` when the bucket has none.
    pub async fn cors(&self, caller: &Caller, name: &str) -> ObjectResult<Vec<CorsRule>> {
        let bucket = self.bucket(caller, name).await?;
        self.cors_of(&bucket)?.ok_or(ObjectError::NoSuchCorsConfiguration)
    }

    /// The CORS rules of bucket `name` for a browser's request, whoever
    /// sends it (a preflight carries no credentials); `None` if the bucket
    /// does not exist or has no rules.
    pub async fn cors_for_browser(&self, name: &str) -> ObjectResult<Option<Vec<CorsRule>>> {
        match self.cluster().bucket(name).await? {
            Some(bucket) => self.cors_of(&bucket),
            None => Ok(None),
        }
    }

    fn cors_of(&self, bucket: &arca_meta::BucketRow) -> ObjectResult<Option<Vec<CorsRule>>> {
        bucket
            .attr(ATTR)
            .map(|json| {
                serde_json::from_str(json).map_err(|e| {
                    ObjectError::Corrupt(format!("bucket {} has unreadable CORS rules: {e}", bucket.name))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_wins() {
        let rules =
            vec![rule(&["https://*.example.com"], &["PUT"], &["content-*"]), rule(&["*"], &["GET"], &[])];
        let put = match_rule(&rules, "https://app.example.com", "PUT", &["Content-Type".into()]).unwrap();
        assert_eq!(put.allow_origin, "https://app.example.com");
        assert!(match_rule(&rules, "https://app.example.com", "PUT", &["x-amz-acl".into()]).is_none());
        assert!(match_rule(&rules, "https://evil.com", "PUT", &[]).is_none());
        assert_eq!(match_rule(&rules, "https://evil.com", "GET", &[]).unwrap().allow_origin, "*");
        assert!(match_rule(&rules, "https://evil.com", "DELETE", &[]).is_none());
    }

    #[test]
    fn rules_are_checked_as_s3_does() {
        assert!(check_rules(&[rule(&["*"], &["GET"], &[])]).is_ok());
        assert!(check_rules(&[]).is_err());
        assert!(check_rules(&[rule(&["*"], &["PATCH"], &[])]).is_err());
        assert!(check_rules(&[rule(&["http://*.*.com"], &["GET"], &[])]).is_err());
        assert!(check_rules(&vec![rule(&["*"], &["GET"], &[]); 101]).is_err());
    }
}
