//! S3 bucket policies: the IAM policy JSON a bucket owner stores with
//! PutBucketPolicy, its validation, and its evaluation against one request.
//!
//! This crate owns the policy language and nothing else: it does no I/O,
//! knows no keys or buckets beyond the names it is given, and decides only
//! what the policy says (Allow, Deny or nothing). Combining that with
//! ownership and grants is the gateway's business.
//!
//! Validation happens once, in [`Policy::parse`], and refuses with S3's
//! MalformedPolicy whatever could not be evaluated as written (shape, effect,
//! principals, actions, resources outside the bucket, condition operators
//! and values), so evaluation itself never fails. It checks the shape of
//! action names and condition keys but not that S3 defines them: a
//! misspelt action or key is accepted and simply never matches. Policy
//! variables such as `${aws:username}` are not substituted; they match as
//! literal text.
//!
//! Principals name Arca access keys: a bare access key id,
//! `arn:aws:iam::<account>:user/<id>`, or a `CanonicalUser` id (Arca's
//! canonical user id is the access key id).

mod condition;

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::condition::Condition;

/// S3 refuses bucket policies longer than this many bytes.
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Every S3 resource ARN starts with this (no region, no account).
const S3_ARN_PREFIX: &str = "arn:aws:s3:::";

/// Condition keys that tie a grant to a network or to known callers; an Allow
/// to everyone restricted by one of them is not public (GetBucketPolicyStatus).
const RESTRICTING_KEYS: [&str; 6] =
    ["aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:principalaccount", "aws:userid", "aws:username"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// S3's MalformedPolicy: the message says what is wrong, e.g. "Policy has
    /// invalid action", "Invalid principal in policy", "Policy has invalid
    /// resource", "Missing required field Statement", "Unknown condition
    /// operator: Foo".
    #[error("{0}")]
    Malformed(String),
}

pub(crate) fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(message.into())
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// At least one Allow statement matches and no Deny statement does.
    Allow,
    /// At least one Deny statement matches.
    Deny,
    /// No statement matches: the policy neither grants nor refuses.
    Neutral,
}

/// The facts about a request that a policy can test.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller's access key id; None for an anonymous request.
    pub principal: Option<&'a str>,
    /// e.g. "s3:GetObject", "s3:ListBucket", "s3:PutObject".
    pub action: &'a str,
    /// "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key".
    pub resource: &'a str,
    /// Condition context keys, names in lower case (e.g. "aws:sourceip",
    /// "aws:securetransport", "aws:referer", "aws:currenttime" (ISO 8601),
    /// "aws:epochtime", "aws:useragent", "aws:username", "s3:prefix",
    /// "s3:delimiter", "s3:max-keys", "s3:x-amz-acl", "s3:versionid",
    /// `"s3:existingobjecttag/<tag key>"`, `"s3:requestobjecttag/<tag key>"`,
    /// "s3:requestobjecttagkeys"). A key absent from the map is absent from
    /// the request. Multi-valued keys have several values.
    pub context: &'a HashMap<String, Vec<String>>,
}

/// A parsed, validated bucket policy with the JSON it was parsed from.
#[derive(Debug, Clone)]
pub struct Policy {
    json: String,
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principals: Principals,
    /// Lower-case action patterns (actions compare case-insensitively).
    actions: Patterns,
    resources: Patterns,
    condition: Condition,
}

/// A `Principal` or (with `negated`) `NotPrincipal` element.
#[derive(Debug, Clone, Default)]
struct Principals {
    /// `"*"` was listed: every caller, anonymous included.
    everyone: bool,
    /// Access key ids, matched exactly.
    keys: Vec<String>,
    negated: bool,
}

impl Principals {
    fn matches(&self, principal: Option<&str>) -> bool {
        let listed = self.everyone || principal.is_some_and(|key| self.keys.iter().any(|k| k == key));
        listed != self.negated
    }

    /// Whether the element takes in anonymous callers: `"*"`, or a
    /// NotPrincipal that does not list `"*"` (everyone but a few).
    fn includes_everyone(&self) -> bool {
        self.everyone != self.negated
    }
}

/// An `Action`/`Resource` element or (with `negated`) its `Not...` form.
#[derive(Debug, Clone)]
struct Patterns {
    patterns: Vec<String>,
    negated: bool,
}

impl Patterns {
    fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, text)) != self.negated
    }
}

impl Policy {
    /// Parses and validates a policy for bucket `bucket` (S3 refuses policies over 20 KB and
    /// resources outside the bucket: `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/...` patterns; a
    /// resource pattern like `arn:aws:s3:::*` or `arn:aws:s3:::buck*` that can match the bucket is fine).
    pub fn parse(json: &str, bucket: &str) -> Result<Policy, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(malformed("Policies must be at most 20 KB"));
        }
        let document: Value = serde_json::from_str(json)
            .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        let Value::Object(document) = document else {
            return Err(malformed("Policies must be valid JSON and the first byte must be '{'"));
        };
        check_fields(&document, &["Version", "Id", "Statement"])?;
        match document.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(malformed("The policy must contain a valid version string")),
        }
        if document.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(malformed("Policy Id must be a string"));
        }
        let statements = match document.get("Statement") {
            None => return Err(malformed("Missing required field Statement")),
            Some(Value::Array(statements)) => statements.iter().collect(),
            Some(statement) => vec![statement],
        };
        if statements.is_empty() {
            return Err(malformed("Missing required field Statement"));
        }
        let mut sids = HashSet::new();
        let statements = statements
            .into_iter()
            .map(|statement| {
                let Value::Object(statement) = statement else {
                    return Err(malformed("Statement must be an object"));
                };
                let sid = match statement.get("Sid") {
                    None => None,
                    Some(Value::String(sid)) => Some(sid.as_str()),
                    Some(_) => return Err(malformed("Statement Sid must be a string")),
                };
                if sid.is_some_and(|sid| !sids.insert(sid)) {
                    return Err(malformed("Statement IDs (SID) in a single policy must be unique"));
                }
                parse_statement(statement, bucket)
            })
            .collect::<Result<_, _>>()?;
        Ok(Policy { json: json.to_owned(), statements })
    }

    /// The policy exactly as it was given to [`Policy::parse`], for GetBucketPolicy.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// Deny wins: Deny if any matching Deny statement, else Allow if any matching Allow, else Neutral.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let action = request.action.to_ascii_lowercase();
        let mut allowed = false;
        for statement in &self.statements {
            // Once allowed, only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.applies(request, &action) {
                match statement.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed { Decision::Allow } else { Decision::Neutral }
    }

    /// For GetBucketPolicyStatus: whether the policy grants anything to everyone — an Allow statement
    /// whose principal is "*" (or {"AWS": "*"}) and which has no Condition restricting it by
    /// aws:SourceIp, aws:SourceVpc, aws:SourceVpce, aws:PrincipalAccount, aws:userid, aws:username (a
    /// statement with any other condition or none is public).
    ///
    /// An Allow with a `NotPrincipal` that does not list `"*"` grants to everyone else, anonymous
    /// callers included, so it counts as public too. A `Null` test on one of those keys only asks
    /// whether the key is there and does not restrict.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|statement| {
            statement.effect == Effect::Allow
                && statement.principals.includes_everyone()
                && !statement.condition.tests_any_key(&RESTRICTING_KEYS)
        })
    }
}

impl Statement {
    /// `action` is the request's action in lower case.
    fn applies(&self, request: &Request<'_>, action: &str) -> bool {
        self.principals.matches(request.principal)
            && self.actions.matches(action)
            && self.resources.matches(request.resource)
            && self.condition.holds(request.context)
    }
}

fn check_fields(object: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match object.keys().find(|field| !known.contains(&field.as_str())) {
        Some(field) => Err(malformed(format!("Unknown field {field}"))),
        None => Ok(()),
    }
}

fn parse_statement(statement: &Map<String, Value>, bucket: &str) -> Result<Statement, PolicyError> {
    check_fields(
        statement,
        &[
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ],
    )?;
    let effect = match statement.get("Effect") {
        None => return Err(malformed("Missing required field Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return Err(malformed(format!("Invalid effect: {}", display(other)))),
    };
    let (principal, negated) = one_of(statement, "Principal", "NotPrincipal")?;
    let principals = Principals { negated, ..parse_principal(principal)? };
    let (action, negated) = one_of(statement, "Action", "NotAction")?;
    let actions = Patterns { patterns: parse_actions(action)?, negated };
    let (resource, negated) = one_of(statement, "Resource", "NotResource")?;
    let resources = Patterns { patterns: parse_resources(resource, bucket)?, negated };
    let condition = match statement.get("Condition") {
        Some(condition) => Condition::parse(condition)?,
        None => Condition::default(),
    };
    Ok(Statement { effect, principals, actions, resources, condition })
}

/// A string value as itself, anything else as JSON, for error messages.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value of exactly one of `field` and `not_field`, and whether it was
/// the negated one.
fn one_of<'v>(
    statement: &'v Map<String, Value>,
    field: &str,
    not_field: &str,
) -> Result<(&'v Value, bool), PolicyError> {
    match (statement.get(field), statement.get(not_field)) {
        (Some(value), None) => Ok((value, false)),
        (None, Some(value)) => Ok((value, true)),
        (None, None) => Err(malformed(format!("Missing required field {field}"))),
        (Some(_), Some(_)) => {
            Err(malformed(format!("Statement cannot contain both {field} and {not_field}")))
        }
    }
}

/// A string or a non-empty array of strings.
fn string_list(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn parse_principal(value: &Value) -> Result<Principals, PolicyError> {
    let invalid = || malformed("Invalid principal in policy");
    let mut principals = Principals::default();
    match value {
        // A bare string principal other than "*" is not allowed: named
        // principals go under "AWS" or "CanonicalUser".
        Value::String(s) if s == "*" => principals.everyone = true,
        Value::Object(kinds) if !kinds.is_empty() => {
            for (kind, names) in kinds {
                for name in string_list(names).ok_or_else(invalid)? {
                    match (kind.as_str(), name) {
                        ("AWS", "*") => principals.everyone = true,
                        ("AWS", name) => {
                            if let Some(key) = aws_principal_key(name).ok_or_else(invalid)? {
                                principals.keys.push(key.to_owned());
                            }
                        }
                        // "*" means everyone only under "AWS"; as a canonical
                        // id it would quietly name a key called "*".
                        ("CanonicalUser", name) if name != "*" && is_access_key_id(name) => {
                            principals.keys.push(name.to_owned())
                        }
                        _ => return Err(invalid()),
                    }
                }
            }
        }
        _ => return Err(invalid()),
    }
    Ok(principals)
}

/// The access key an `AWS` principal names: Some(Some(key)) for a bare id or
/// `arn:aws:iam::<account>:user/<id>`, Some(None) for an account's `root`
/// (valid, but no single key), None if the value is not a principal.
fn aws_principal_key(name: &str) -> Option<Option<&str>> {
    if !name.starts_with("arn:") {
        return is_access_key_id(name).then_some(Some(name));
    }
    let (account, resource) = name.strip_prefix("arn:aws:iam::")?.split_once(':')?;
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if resource == "root" {
        return Some(None);
    }
    let key = resource.strip_prefix("user/")?;
    is_access_key_id(key).then_some(Some(key))
}

/// Arca access key ids are printable ASCII without spaces. Wildcards are
/// not special in a principal: only the whole value `"*"` means everyone.
fn is_access_key_id(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
}

/// `s3:` actions with `*`/`?` wildcards, lower-cased; a bare `"*"` (every
/// action, which for a bucket policy means every S3 action) is kept as is.
fn parse_actions(value: &Value) -> Result<Vec<String>, PolicyError> {
    let invalid = || malformed("Policy has invalid action");
    let actions = string_list(value).ok_or_else(invalid)?;
    actions
        .into_iter()
        .map(|action| {
            let action = action.to_ascii_lowercase();
            let valid = action == "*"
                || action.strip_prefix("s3:").is_some_and(|name| {
                    !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
                });
            if valid { Ok(action) } else { Err(invalid()) }
        })
        .collect()
}

/// `arn:aws:s3:::` patterns that can match `bucket` or something inside it.
fn parse_resources(value: &Value, bucket: &str) -> Result<Vec<String>, PolicyError> {
    let invalid = || malformed("Policy has invalid resource");
    let resources = string_list(value).ok_or_else(invalid)?;
    resources
        .into_iter()
        .map(|resource| {
            let path = resource.strip_prefix(S3_ARN_PREFIX).ok_or_else(invalid)?;
            if can_match_in_bucket(path, bucket) { Ok(resource.to_owned()) } else { Err(invalid()) }
        })
        .collect()
}

/// Whether the glob `pattern` matches `bucket` itself or some text that
/// starts with `bucket/`.
///
/// Runs the pattern as a set of positions (a Thompson simulation) over
/// `bucket` and then `/`: after the prefix, any surviving position can be
/// completed, since whatever is left of a pattern matches some text.
fn can_match_in_bucket(pattern: &str, bucket: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let end = pattern.len();
    // Following a `*` may also skip it, as it can match the empty string.
    // One forward pass suffices because a skip only moves forward.
    let close = |states: &mut Vec<bool>| {
        for i in 0..end {
            if states[i] && pattern[i] == '*' {
                states[i + 1] = true;
            }
        }
    };
    let step = |states: &Vec<bool>, c: char| {
        let mut next = vec![false; end + 1];
        for i in (0..end).filter(|&i| states[i]) {
            match pattern[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                p if p == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        next
    };
    let mut states = vec![false; end + 1];
    states[0] = true;
    close(&mut states);
    for c in bucket.chars() {
        states = step(&states, c);
    }
    states[end] || step(&states, '/').contains(&true)
}

/// Glob matching as IAM does it: `*` matches any run of characters (`/` and
/// the empty run included), `?` exactly one character, anything else itself.
///
/// The classic two-pointer algorithm: on a mismatch only the most recent `*`
/// is retried, one character further on, because any match that an earlier
/// `*` could reach by taking more text the later one can reach as well. That
/// keeps the worst case at O(pattern × text) instead of exponential.
///
/// Works on bytes, stepping over whole UTF-8 characters where a wildcard
/// consumes text: `*` and `?` are ASCII and never occur inside a multi-byte
/// character, so a literal compares byte by byte exactly as it would by
/// characters.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let char_len = |lead: u8| match lead {
        0x00..=0x7f => 1,
        0x80..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen: the pattern position after it and where in the text
    // its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(t[ti]);
                continue;
            }
            Some(&literal) if literal == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        let Some((after_star, matched_to)) = star else {
            return false;
        };
        let retry = matched_to + char_len(t[matched_to]);
        star = Some((after_star, retry));
        pi = after_star;
        ti = retry;
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Context = HashMap<String, Vec<String>>;

    fn context(pairs: &[(&str, &[&str])]) -> Context {
        pairs.iter().map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
    }

    fn parse(json: &str) -> Policy {
        Policy::parse(json, "b").unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    fn error(json: &str) -> String {
        match Policy::parse(json, "b") {
            Ok(_) => panic!("accepted: {json}"),
            Err(PolicyError::Malformed(message)) => message,
        }
    }

    /// A policy of the given statements (JSON objects, comma-separated).
    fn statements(statements: &str) -> Policy {
        parse(&format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#))
    }

    /// A one-statement policy, whose statement is the given fields.
    fn statement(fields: &str) -> Policy {
        statements(&format!("{{{fields}}}"))
    }

    fn error_in_statement(fields: &str) -> String {
        error(&format!(r#"{{"Statement": {{{fields}}}}}"#))
    }

    fn decide(
        policy: &Policy,
        principal: Option<&str>,
        action: &str,
        resource: &str,
        cx: &Context,
    ) -> Decision {
        policy.evaluate(&Request { principal, action, resource, context: cx })
    }

    const EMPTY: &[(&str, &[&str])] = &[];

    /// The decision for an anonymous GetObject on b/x with no context keys.
    fn anonymous_get(policy: &Policy, resource: &str) -> Decision {
        decide(policy, None, "s3:GetObject", resource, &context(EMPTY))
    }

    fn key_get(policy: &Policy, key: Option<&str>) -> Decision {
        decide(policy, key, "s3:GetObject", "arn:aws:s3:::b/x", &context(EMPTY))
    }

    /// An Allow-everyone GetObject statement guarded by `condition`.
    fn conditional(condition: &str) -> Policy {
        statement(&format!(
            r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {condition}"#
        ))
    }

    /// Whether `condition` holds for a request with the given context keys.
    fn holds(condition: &str, pairs: &[(&str, &[&str])]) -> bool {
        let policy = conditional(condition);
        match decide(&policy, None, "s3:GetObject", "arn:aws:s3:::b/x", &context(pairs)) {
            Decision::Allow => true,
            Decision::Neutral => false,
            Decision::Deny => unreachable!("no Deny statement"),
        }
    }

    const PUBLIC_READ: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*"
        }]
    }"#;

    // ---- parsing ----

    #[test]
    fn size_limit_is_20_kb() {
        let padded = |len: usize| {
            let mut json = PUBLIC_READ.to_owned();
            json.push_str(&" ".repeat(len - json.len()));
            json
        };
        assert!(Policy::parse(&padded(20 * 1024), "b").is_ok());
        assert_eq!(error(&padded(20 * 1024 + 1)), "Policies must be at most 20 KB");
    }

    #[test]
    fn document_shape_errors() {
        let not_json = "Policies must be valid JSON and the first byte must be '{'";
        assert_eq!(error(""), not_json);
        assert_eq!(error("{"), not_json);
        assert_eq!(error("[]"), not_json);
        assert_eq!(error(r#""Statement""#), not_json);
        assert_eq!(error("{}"), "Missing required field Statement");
        assert_eq!(error(r#"{"Version": "2012-10-17"}"#), "Missing required field Statement");
        assert_eq!(error(r#"{"Statement": []}"#), "Missing required field Statement");
        assert_eq!(error(r#"{"Statement": ["x"]}"#), "Statement must be an object");
        let version = "The policy must contain a valid version string";
        assert_eq!(error(r#"{"Version": "2012-10-18", "Statement": {}}"#), version);
        assert_eq!(error(r#"{"Version": 2012, "Statement": {}}"#), version);
        assert_eq!(error(r#"{"Id": 5, "Statement": {}}"#), "Policy Id must be a string");
        assert_eq!(error(r#"{"Statement": {}, "Extra": 1}"#), "Unknown field Extra");
        assert_eq!(error(r#"{"statement": {}}"#), "Unknown field statement");
    }

    #[test]
    fn versions_and_ids_are_optional() {
        let body = r#""Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}"#;
        parse(&format!("{{{body}}}"));
        parse(&format!(r#"{{"Version": "2008-10-17", "Id": "p1", {body}}}"#));
        parse(&format!(r#"{{"Version": "2012-10-17", {body}}}"#));
    }

    #[test]
    fn statement_field_errors() {
        let p = r#""Principal": "*""#;
        let a = r#""Action": "s3:GetObject""#;
        let r = r#""Resource": "arn:aws:s3:::b/*""#;
        let e = r#""Effect": "Allow""#;
        assert_eq!(error_in_statement(&format!("{p}, {a}, {r}")), "Missing required field Effect");
        assert_eq!(
            error_in_statement(&format!(r#""Effect": "allow", {p}, {a}, {r}"#)),
            "Invalid effect: allow"
        );
        assert_eq!(error_in_statement(&format!(r#""Effect": true, {p}, {a}, {r}"#)), "Invalid effect: true");
        assert_eq!(error_in_statement(&format!("{e}, {a}, {r}")), "Missing required field Principal");
        assert_eq!(error_in_statement(&format!("{e}, {p}, {r}")), "Missing required field Action");
        assert_eq!(error_in_statement(&format!("{e}, {p}, {a}")), "Missing required field Resource");
        assert_eq!(
            error_in_statement(&format!(r#"{e}, {p}, "NotPrincipal": "*", {a}, {r}"#)),
            "Statement cannot contain both Principal and NotPrincipal"
        );
        assert_eq!(
            error_in_statement(&format!(r#"{e}, {p}, {a}, "NotAction": "s3:*", {r}"#)),
            "Statement cannot contain both Action and NotAction"
        );
        assert_eq!(
            error_in_statement(&format!(r#"{e}, {p}, {a}, {r}, "NotResource": "arn:aws:s3:::b""#)),
            "Statement cannot contain both Resource and NotResource"
        );
        assert_eq!(
            error_in_statement(&format!(r#"{e}, {p}, {a}, {r}, "Principals": "*""#)),
            "Unknown field Principals"
        );
        assert_eq!(
            error_in_statement(&format!(r#""Sid": 1, {e}, {p}, {a}, {r}"#)),
            "Statement Sid must be a string"
        );
        let one = format!(r#"{{"Sid": "s", {e}, {p}, {a}, {r}}}"#);
        assert_eq!(
            error(&format!(r#"{{"Statement": [{one}, {one}]}}"#)),
            "Statement IDs (SID) in a single policy must be unique"
        );
        // Two statements without a Sid do not clash.
        statements(&format!("{{{e}, {p}, {a}, {r}}}, {{{e}, {p}, {a}, {r}}}"));
    }

    #[test]
    fn invalid_principals() {
        let rest = r#""Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#;
        for principal in [
            r#""AKIDEXAMPLE""#,
            r#""arn:aws:iam::123456789012:user/AK""#,
            r#"{}"#,
            r#"{"AWS": []}"#,
            r#"{"AWS": 5}"#,
            r#"{"AWS": [""]}"#,
            r#"{"AWS": "has space"}"#,
            r#"{"AWS": "arn:aws:iam::123456789012:role/admin"}"#,
            r#"{"AWS": "arn:aws:iam::*:user/AK"}"#,
            r#"{"AWS": "arn:aws:iam::123456789012:user/"}"#,
            r#"{"AWS": "arn:aws:s3:::b"}"#,
            r#"{"Service": "s3.amazonaws.com"}"#,
            r#"{"CanonicalUser": "*"}"#,
            r#"["*"]"#,
            "null",
        ] {
            assert_eq!(
                error_in_statement(&format!(r#""Principal": {principal}, {rest}"#)),
                "Invalid principal in policy",
                "{principal}"
            );
            assert_eq!(
                error_in_statement(&format!(r#""NotPrincipal": {principal}, {rest}"#)),
                "Invalid principal in policy",
                "{principal}"
            );
        }
    }

    #[test]
    fn invalid_actions() {
        let rest = r#""Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::b/*""#;
        for action in [
            r#""GetObject""#,
            r#""iam:GetUser""#,
            r#""s3:""#,
            r#""s3:Get Object""#,
            r#""s3*""#,
            r#"[]"#,
            r#"["s3:GetObject", "ec2:*"]"#,
            r#"["s3:GetObject", 5]"#,
            "5",
        ] {
            assert_eq!(
                error_in_statement(&format!(r#""Action": {action}, {rest}"#)),
                "Policy has invalid action",
                "{action}"
            );
            assert_eq!(
                error_in_statement(&format!(r#""NotAction": {action}, {rest}"#)),
                "Policy has invalid action",
                "{action}"
            );
        }
    }

    #[test]
    fn resources_must_be_in_the_bucket() {
        let rest = r#""Effect": "Allow", "Principal": "*", "Action": "s3:*""#;
        for resource in [
            r#""arn:aws:s3:::other/*""#,
            r#""arn:aws:s3:::bb/*""#,
            r#""arn:aws:s3:::B/*""#,
            r#""arn:aws:s3:::c*""#,
            r#""arn:aws:s3:::""#,
            r#""arn:aws:s3::b/*""#,
            r#""arn:aws:s3:us-east-1::b/*""#,
            r#""*""#,
            r#""b/*""#,
            r#"["arn:aws:s3:::b", "arn:aws:s3:::other"]"#,
            r#"[]"#,
            "{}",
        ] {
            assert_eq!(
                error_in_statement(&format!(r#""Resource": {resource}, {rest}"#)),
                "Policy has invalid resource",
                "{resource}"
            );
            assert_eq!(
                error_in_statement(&format!(r#""NotResource": {resource}, {rest}"#)),
                "Policy has invalid resource",
                "{resource}"
            );
        }
        for resource in [
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/photos/*.jpg",
            "arn:aws:s3:::*",
            "arn:aws:s3:::b*",
            "arn:aws:s3:::?",
            "arn:aws:s3:::*/x",
            "arn:aws:s3:::?/*",
            "arn:aws:s3:::**b**",
        ] {
            statement(&format!(r#"{rest}, "Resource": "{resource}""#));
        }
        // The bucket name is matched literally and in full.
        assert!(Policy::parse(PUBLIC_READ, "bucket").is_err());
        assert!(Policy::parse(&PUBLIC_READ.replace(":::b/*", ":::buck*"), "bucket").is_ok());
        assert!(Policy::parse(&PUBLIC_READ.replace(":::b/*", ":::buck?t"), "bucket").is_ok());
        assert!(Policy::parse(&PUBLIC_READ.replace(":::b/*", ":::buck?"), "bucket").is_err());
    }

    #[test]
    fn invalid_conditions() {
        let cases = [
            (r#"{"Foo": {"k": "v"}}"#, "Unknown condition operator: Foo"),
            (r#"{"stringequals": {"k": "v"}}"#, "Unknown condition operator: stringequals"),
            (r#"{"NullIfExists": {"k": "true"}}"#, "Unknown condition operator: NullIfExists"),
            (r#"{"ForAnyValue:Null": {"k": "true"}}"#, "Unknown condition operator: ForAnyValue:Null"),
            (
                r#"{"ForSomeValues:StringEquals": {"k": "v"}}"#,
                "Unknown condition operator: ForSomeValues:StringEquals",
            ),
            (r#"{"IfExists": {"k": "v"}}"#, "Unknown condition operator: IfExists"),
            (r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}"#, "Invalid value for IpAddress: 10.0.0.0/33"),
            (
                r#"{"NotIpAddressIfExists": {"aws:SourceIp": ["10.0.0.0/8", "x"]}}"#,
                "Invalid value for NotIpAddressIfExists: x",
            ),
            (
                r#"{"DateLessThan": {"aws:CurrentTime": "2026-13-01T00:00:00Z"}}"#,
                "Invalid value for DateLessThan: 2026-13-01T00:00:00Z",
            ),
            (r#"{"NumericLessThan": {"s3:max-keys": "ten"}}"#, "Invalid value for NumericLessThan: ten"),
            (r#"{"NumericLessThan": {"s3:max-keys": true}}"#, "Invalid value for NumericLessThan: true"),
            (r#"{"Bool": {"aws:SecureTransport": "yes"}}"#, "Invalid value for Bool: yes"),
            (r#"{"Null": {"s3:prefix": "maybe"}}"#, "Invalid value for Null: maybe"),
            (r#"{"ArnLike": {"aws:SourceArn": "arn:aws:s3"}}"#, "Invalid value for ArnLike: arn:aws:s3"),
            (r#"{"StringEquals": {"k": null}}"#, "Invalid value for StringEquals: null"),
            (r#"{"StringEquals": {"k": []}}"#, "Invalid value for StringEquals: []"),
            (r#"{"StringEquals": {"k": {"a": "b"}}}"#, r#"Invalid value for StringEquals: {"a":"b"}"#),
            (r#"{"StringEquals": {"k": [["v"]]}}"#, r#"Invalid value for StringEquals: [["v"]]"#),
            (r#"{"StringEquals": {"": "v"}}"#, "Invalid condition key for operator StringEquals"),
            (r#"{"StringEquals": "v"}"#, "Invalid condition for operator StringEquals"),
            (r#"["StringEquals"]"#, "Condition must be an object"),
        ];
        for (condition, message) in cases {
            let fields = format!(
                r#""Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b", "Condition": {condition}"#
            );
            assert_eq!(error_in_statement(&fields), message, "{condition}");
        }
    }

    #[test]
    fn as_json_returns_the_text_as_given() {
        let policy = parse(PUBLIC_READ);
        assert_eq!(policy.as_json(), PUBLIC_READ);
        let compact =
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b"}}"#;
        assert_eq!(parse(compact).as_json(), compact);
    }

    // ---- statements ----

    #[test]
    fn public_read_allows_anonymous_get_and_nothing_else() {
        let policy = parse(PUBLIC_READ);
        let cx = context(EMPTY);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::b/x"), Decision::Allow);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::b/dir/x"), Decision::Allow);
        assert_eq!(key_get(&policy, Some("AKANY")), Decision::Allow);
        assert_eq!(decide(&policy, None, "s3:PutObject", "arn:aws:s3:::b/x", &cx), Decision::Neutral);
        assert_eq!(decide(&policy, None, "s3:GetObjectAcl", "arn:aws:s3:::b/x", &cx), Decision::Neutral);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::other/x"), Decision::Neutral);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::bb/x"), Decision::Neutral);
        // The bucket itself is not b/*.
        assert_eq!(decide(&policy, None, "s3:ListBucket", "arn:aws:s3:::b", &cx), Decision::Neutral);
        assert!(policy.is_public());
    }

    #[test]
    fn deny_beats_allow_in_any_order() {
        let allow =
            r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}"#;
        let deny = r#"{"Effect": "Deny", "Principal": {"AWS": "AKBAD"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"}"#;
        for policy in [statements(&format!("{allow}, {deny}")), statements(&format!("{deny}, {allow}"))] {
            assert_eq!(
                decide(&policy, Some("AKBAD"), "s3:GetObject", "arn:aws:s3:::b/secret/x", &context(EMPTY)),
                Decision::Deny
            );
            assert_eq!(
                decide(&policy, Some("AKBAD"), "s3:GetObject", "arn:aws:s3:::b/public/x", &context(EMPTY)),
                Decision::Allow
            );
            assert_eq!(
                decide(&policy, Some("AKGOOD"), "s3:GetObject", "arn:aws:s3:::b/secret/x", &context(EMPTY)),
                Decision::Allow
            );
            assert_eq!(
                decide(&policy, Some("AKBAD"), "s3:PutObject", "arn:aws:s3:::b/secret/x", &context(EMPTY)),
                Decision::Allow
            );
        }
        let only_deny = statements(deny);
        assert_eq!(
            decide(&only_deny, Some("AKBAD"), "s3:GetObject", "arn:aws:s3:::b/secret/x", &context(EMPTY)),
            Decision::Deny
        );
        assert_eq!(
            decide(&only_deny, Some("AKGOOD"), "s3:GetObject", "arn:aws:s3:::b/secret/x", &context(EMPTY)),
            Decision::Neutral
        );
    }

    #[test]
    fn principal_forms() {
        let policy_for = |principal: &str| {
            statement(&format!(
                r#""Effect": "Allow", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#
            ))
        };
        let everyone = [r#""*""#, r#"{"AWS": "*"}"#, r#"{"AWS": ["AKONE", "*"]}"#];
        for principal in everyone {
            let policy = policy_for(principal);
            assert_eq!(key_get(&policy, None), Decision::Allow, "{principal}");
            assert_eq!(key_get(&policy, Some("AKONE")), Decision::Allow, "{principal}");
            assert_eq!(key_get(&policy, Some("AKTWO")), Decision::Allow, "{principal}");
        }
        let only_one = [
            r#"{"AWS": "AKONE"}"#,
            r#"{"AWS": ["AKONE"]}"#,
            r#"{"AWS": "arn:aws:iam::123456789012:user/AKONE"}"#,
            r#"{"AWS": "arn:aws:iam:::user/AKONE"}"#,
            r#"{"CanonicalUser": "AKONE"}"#,
            r#"{"AWS": ["arn:aws:iam::123456789012:root", "AKONE"]}"#,
            r#"{"AWS": "arn:aws:iam::1:root", "CanonicalUser": ["AKONE"]}"#,
        ];
        for principal in only_one {
            let policy = policy_for(principal);
            assert_eq!(key_get(&policy, Some("AKONE")), Decision::Allow, "{principal}");
            assert_eq!(key_get(&policy, Some("AKTWO")), Decision::Neutral, "{principal}");
            assert_eq!(key_get(&policy, Some("akone")), Decision::Neutral, "{principal}");
            assert_eq!(key_get(&policy, Some("AKONE2")), Decision::Neutral, "{principal}");
            assert_eq!(key_get(&policy, Some("AKON")), Decision::Neutral, "{principal}");
            assert_eq!(key_get(&policy, None), Decision::Neutral, "{principal}");
        }
        // An account's root names no single key.
        let root = policy_for(r#"{"AWS": "arn:aws:iam::123456789012:root"}"#);
        assert_eq!(key_get(&root, Some("AKONE")), Decision::Neutral);
        assert_eq!(key_get(&root, Some("root")), Decision::Neutral);
        assert_eq!(key_get(&root, None), Decision::Neutral);
        // A `*` inside a name is a literal character of the key id.
        let starred = policy_for(r#"{"AWS": "AK*"}"#);
        assert_eq!(key_get(&starred, Some("AKONE")), Decision::Neutral);
        assert_eq!(key_get(&starred, Some("AK*")), Decision::Allow);
        let two = policy_for(r#"{"AWS": ["AKONE", "arn:aws:iam::1:user/AKTWO"]}"#);
        assert_eq!(key_get(&two, Some("AKONE")), Decision::Allow);
        assert_eq!(key_get(&two, Some("AKTWO")), Decision::Allow);
        assert_eq!(key_get(&two, Some("AKTHREE")), Decision::Neutral);
    }

    #[test]
    fn not_principal_matches_everyone_not_listed() {
        let policy = statements(
            r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
               {"Effect": "Deny", "NotPrincipal": {"AWS": ["AKADMIN", "arn:aws:iam::1:user/AKOPS"]}, "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}"#,
        );
        let delete = |who| decide(&policy, who, "s3:DeleteObject", "arn:aws:s3:::b/x", &context(EMPTY));
        assert_eq!(delete(Some("AKADMIN")), Decision::Allow);
        assert_eq!(delete(Some("AKOPS")), Decision::Allow);
        assert_eq!(delete(Some("AKOTHER")), Decision::Deny);
        assert_eq!(delete(None), Decision::Deny);
        // NotPrincipal "*" excludes everyone, so the statement never applies.
        let nobody = statement(
            r#""Effect": "Deny", "NotPrincipal": {"AWS": "*"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*""#,
        );
        assert_eq!(key_get(&nobody, None), Decision::Neutral);
        assert_eq!(key_get(&nobody, Some("AKADMIN")), Decision::Neutral);
        // NotPrincipal of a root names no key, so it applies to every caller.
        let all = statement(
            r#""Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*""#,
        );
        assert_eq!(key_get(&all, Some("AKADMIN")), Decision::Deny);
        assert_eq!(key_get(&all, None), Decision::Deny);
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards() {
        let allows = |action_pattern: &str, action: &str| {
            let policy = statement(&format!(
                r#""Effect": "Allow", "Principal": "*", "Action": {action_pattern}, "Resource": "arn:aws:s3:::b/*""#
            ));
            decide(&policy, None, action, "arn:aws:s3:::b/x", &context(EMPTY)) == Decision::Allow
        };
        assert!(allows(r#""s3:GetObject""#, "s3:GetObject"));
        assert!(allows(r#""S3:getobject""#, "s3:GetObject"));
        assert!(allows(r#""s3:GetObject""#, "S3:GETOBJECT"));
        assert!(allows(r#""s3:Get*""#, "s3:GetObjectTagging"));
        assert!(!allows(r#""s3:Get*""#, "s3:PutObject"));
        assert!(allows(r#""s3:*""#, "s3:PutObject"));
        assert!(allows(r#""*""#, "s3:PutObject"));
        assert!(allows(r#""s3:?etObject""#, "s3:GetObject"));
        assert!(!allows(r#""s3:?etObject""#, "s3:GetObjectAcl"));
        assert!(allows(r#"["s3:PutObject", "s3:GetObject"]"#, "s3:GetObject"));
        assert!(!allows(r#""s3:GetObject""#, "s3:GetObjectAcl"));
    }

    #[test]
    fn resources_match_case_sensitively_with_wildcards() {
        let allows = |resource_pattern: &str, resource: &str| {
            let policy = statement(&format!(
                r#""Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": {resource_pattern}"#
            ));
            anonymous_get(&policy, resource) == Decision::Allow
        };
        assert!(allows(r#""arn:aws:s3:::b/photos/*""#, "arn:aws:s3:::b/photos/2026/a.jpg"));
        assert!(!allows(r#""arn:aws:s3:::b/photos/*""#, "arn:aws:s3:::b/Photos/a.jpg"));
        assert!(allows(r#""arn:aws:s3:::b/*.jpg""#, "arn:aws:s3:::b/x/y.jpg"));
        assert!(!allows(r#""arn:aws:s3:::b/*.jpg""#, "arn:aws:s3:::b/x/y.JPG"));
        assert!(allows(r#""arn:aws:s3:::b/?""#, "arn:aws:s3:::b/é"));
        assert!(!allows(r#""arn:aws:s3:::b/?""#, "arn:aws:s3:::b/ab"));
        assert!(allows(r#""arn:aws:s3:::b""#, "arn:aws:s3:::b"));
        assert!(!allows(r#""arn:aws:s3:::b""#, "arn:aws:s3:::b/x"));
        assert!(allows(r#""arn:aws:s3:::*""#, "arn:aws:s3:::other/x"));
        assert!(allows(r#"["arn:aws:s3:::b", "arn:aws:s3:::b/*"]"#, "arn:aws:s3:::b/x"));
    }

    #[test]
    fn not_action_and_not_resource_invert() {
        let policy = statement(
            r#""Effect": "Deny", "Principal": "*", "NotAction": ["s3:GetObject", "s3:List*"], "Resource": "arn:aws:s3:::b/*""#,
        );
        let cx = context(EMPTY);
        assert_eq!(decide(&policy, None, "s3:GetObject", "arn:aws:s3:::b/x", &cx), Decision::Neutral);
        assert_eq!(
            decide(&policy, None, "s3:ListMultipartUploadParts", "arn:aws:s3:::b/x", &cx),
            Decision::Neutral
        );
        assert_eq!(decide(&policy, None, "s3:PutObject", "arn:aws:s3:::b/x", &cx), Decision::Deny);

        let policy = statement(
            r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "NotResource": ["arn:aws:s3:::b/private/*", "arn:aws:s3:::b"]"#,
        );
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::b/public/x"), Decision::Allow);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::b/private/x"), Decision::Neutral);
        assert_eq!(anonymous_get(&policy, "arn:aws:s3:::b"), Decision::Neutral);
    }

    #[test]
    fn deny_insecure_transport() {
        let policy = statements(
            r#"{"Sid": "Read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
               {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#,
        );
        let get = |cx: &Context| decide(&policy, None, "s3:GetObject", "arn:aws:s3:::b/x", cx);
        assert_eq!(get(&context(&[("aws:securetransport", &["false"])])), Decision::Deny);
        assert_eq!(get(&context(&[("aws:securetransport", &["true"])])), Decision::Allow);
        // Bool is a positive operator: a missing key does not deny.
        assert_eq!(get(&context(EMPTY)), Decision::Allow);
    }

    // ---- conditions ----

    #[test]
    fn condition_keys_are_case_insensitive() {
        let condition = r#"{"StringEquals": {"AWS:Referer": "https://example.com/"}}"#;
        assert!(holds(condition, &[("aws:referer", &["https://example.com/"])]));
        assert!(!holds(condition, &[("aws:referer", &["https://EXAMPLE.com/"])]));
    }

    #[test]
    fn string_operators() {
        let eq = r#"{"StringEquals": {"s3:x-amz-acl": ["private", "bucket-owner-full-control"]}}"#;
        assert!(holds(eq, &[("s3:x-amz-acl", &["private"])]));
        assert!(holds(eq, &[("s3:x-amz-acl", &["bucket-owner-full-control"])]));
        assert!(!holds(eq, &[("s3:x-amz-acl", &["Private"])]));
        assert!(!holds(eq, &[("s3:x-amz-acl", &["public-read"])]));
        assert!(!holds(eq, EMPTY));
        assert!(!holds(eq, &[("s3:x-amz-acl", &[])]));

        let ne = r#"{"StringNotEquals": {"s3:x-amz-acl": ["public-read", "public-read-write"]}}"#;
        assert!(holds(ne, &[("s3:x-amz-acl", &["private"])]));
        assert!(!holds(ne, &[("s3:x-amz-acl", &["public-read"])]));
        assert!(!holds(ne, &[("s3:x-amz-acl", &["public-read-write"])]));
        assert!(holds(ne, EMPTY));

        let ic = r#"{"StringEqualsIgnoreCase": {"aws:UserAgent": "Restic/0.17"}}"#;
        assert!(holds(ic, &[("aws:useragent", &["RESTIC/0.17"])]));
        assert!(!holds(ic, &[("aws:useragent", &["restic/0.18"])]));
        assert!(!holds(ic, EMPTY));
        let nic = r#"{"StringNotEqualsIgnoreCase": {"aws:UserAgent": "Restic/0.17"}}"#;
        assert!(!holds(nic, &[("aws:useragent", &["RESTIC/0.17"])]));
        assert!(holds(nic, &[("aws:useragent", &["curl"])]));
        assert!(holds(nic, EMPTY));

        let like = r#"{"StringLike": {"s3:prefix": ["home/*", "shared/?/"]}}"#;
        assert!(holds(like, &[("s3:prefix", &["home/alice/"])]));
        assert!(holds(like, &[("s3:prefix", &["shared/a/"])]));
        assert!(!holds(like, &[("s3:prefix", &["shared/ab/"])]));
        assert!(!holds(like, &[("s3:prefix", &["Home/alice"])]));
        assert!(!holds(like, EMPTY));
        let not_like = r#"{"StringNotLike": {"aws:Referer": ["https://example.com/*"]}}"#;
        assert!(!holds(not_like, &[("aws:referer", &["https://example.com/page"])]));
        assert!(holds(not_like, &[("aws:referer", &["https://evil.example/"])]));
        assert!(holds(not_like, EMPTY));
    }

    #[test]
    fn if_exists_holds_for_missing_keys_only() {
        let eq = r#"{"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}"#;
        assert!(holds(eq, EMPTY));
        assert!(holds(eq, &[("s3:x-amz-acl", &["private"])]));
        assert!(!holds(eq, &[("s3:x-amz-acl", &["public-read"])]));
        let ne = r#"{"StringNotEqualsIfExists": {"s3:x-amz-acl": "public-read"}}"#;
        assert!(holds(ne, EMPTY));
        assert!(!holds(ne, &[("s3:x-amz-acl", &["public-read"])]));
        let num = r#"{"NumericLessThanIfExists": {"s3:max-keys": 100}}"#;
        assert!(holds(num, EMPTY));
        assert!(holds(num, &[("s3:max-keys", &["10"])]));
        assert!(!holds(num, &[("s3:max-keys", &["1000"])]));
        let ip = r#"{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}"#;
        assert!(holds(ip, EMPTY));
        assert!(!holds(ip, &[("aws:sourceip", &["192.0.2.1"])]));
        let any = r#"{"ForAnyValue:StringEqualsIfExists": {"s3:requestobjecttagkeys": "a"}}"#;
        assert!(holds(any, EMPTY));
        assert!(!holds(any, &[("s3:requestobjecttagkeys", &["b"])]));
    }

    #[test]
    fn numeric_operators() {
        let at = |op: &str, value: &str| {
            holds(&format!(r#"{{"{op}": {{"s3:max-keys": "100"}}}}"#), &[("s3:max-keys", &[value])])
        };
        assert!(at("NumericEquals", "100"));
        assert!(at("NumericEquals", "100.0"));
        assert!(!at("NumericEquals", "99"));
        assert!(at("NumericNotEquals", "99"));
        assert!(!at("NumericNotEquals", "100"));
        assert!(at("NumericLessThan", "99"));
        assert!(at("NumericLessThan", "-5"));
        assert!(!at("NumericLessThan", "100"));
        assert!(at("NumericLessThanEquals", "100"));
        assert!(!at("NumericLessThanEquals", "100.5"));
        assert!(at("NumericGreaterThan", "1000"));
        assert!(!at("NumericGreaterThan", "100"));
        assert!(at("NumericGreaterThanEquals", "100"));
        assert!(!at("NumericGreaterThanEquals", "99.9"));
        // A request value that is not a number satisfies nothing, negated or not.
        assert!(!at("NumericLessThan", "ten"));
        assert!(!at("NumericNotEquals", "ten"));
        // Missing keys: positive false, negated true.
        assert!(!holds(r#"{"NumericLessThan": {"s3:max-keys": 100}}"#, EMPTY));
        assert!(holds(r#"{"NumericNotEquals": {"s3:max-keys": 100}}"#, EMPTY));
        // JSON numbers work as values, and several values are ORed.
        let either = r#"{"NumericEquals": {"s3:max-keys": [10, 2.5]}}"#;
        assert!(holds(either, &[("s3:max-keys", &["2.5"])]));
        assert!(holds(either, &[("s3:max-keys", &["10"])]));
        assert!(!holds(either, &[("s3:max-keys", &["3"])]));
    }

    #[test]
    fn date_operators() {
        let at = |op: &str, now: &str| {
            holds(
                &format!(r#"{{"{op}": {{"aws:CurrentTime": "2026-12-01T00:00:00Z"}}}}"#),
                &[("aws:currenttime", &[now])],
            )
        };
        assert!(at("DateLessThan", "2026-11-30T23:59:59Z"));
        assert!(at("DateLessThan", "2026-11-30T23:59:59.999Z"));
        assert!(!at("DateLessThan", "2026-12-01T00:00:00Z"));
        assert!(at("DateLessThanEquals", "2026-12-01T00:00:00+00:00"));
        assert!(!at("DateLessThanEquals", "2026-12-01T00:00:00.001Z"));
        assert!(at("DateGreaterThan", "2027-01-01T00:00:00Z"));
        assert!(!at("DateGreaterThan", "2026-12-01T00:00:00Z"));
        assert!(at("DateGreaterThanEquals", "2026-12-01T00:00:00.000Z"));
        assert!(at("DateEquals", "2026-12-01T00:00:00Z"));
        assert!(at("DateEquals", "1796083200"));
        assert!(!at("DateEquals", "1796083201"));
        assert!(at("DateNotEquals", "2026-12-02T00:00:00Z"));
        assert!(!at("DateNotEquals", "2026-12-01T00:00:00Z"));
        assert!(!at("DateLessThan", "yesterday"));
        assert!(!at("DateNotEquals", "yesterday"));
        // Epoch seconds in the policy compare with ISO times in the request.
        let epoch = r#"{"DateGreaterThan": {"aws:EpochTime": 1796083200}}"#;
        assert!(holds(epoch, &[("aws:epochtime", &["1796083201"])]));
        assert!(!holds(epoch, &[("aws:epochtime", &["1796083200"])]));
        assert!(!holds(epoch, EMPTY));
        assert!(holds(r#"{"DateNotEquals": {"aws:CurrentTime": "2026-12-01"}}"#, EMPTY));
        assert!(holds(r#"{"DateLessThanIfExists": {"aws:CurrentTime": "2026-12-01"}}"#, EMPTY));
    }

    #[test]
    fn bool_operator() {
        let secure = r#"{"Bool": {"aws:SecureTransport": true}}"#;
        assert!(holds(secure, &[("aws:securetransport", &["true"])]));
        assert!(holds(secure, &[("aws:securetransport", &["TRUE"])]));
        assert!(!holds(secure, &[("aws:securetransport", &["false"])]));
        assert!(!holds(secure, &[("aws:securetransport", &["maybe"])]));
        assert!(!holds(secure, EMPTY));
        assert!(holds(r#"{"BoolIfExists": {"aws:SecureTransport": "true"}}"#, EMPTY));
    }

    #[test]
    fn ip_operators_with_v4_and_v6() {
        let inside = r#"{"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]}}"#;
        let from_ip = |condition: &str, ip: &str| holds(condition, &[("aws:sourceip", &[ip])]);
        assert!(from_ip(inside, "192.0.2.200"));
        assert!(!from_ip(inside, "192.0.3.1"));
        assert!(from_ip(inside, "198.51.100.7"));
        assert!(!from_ip(inside, "198.51.100.8"));
        assert!(from_ip(inside, "2001:db8:1::5"));
        assert!(!from_ip(inside, "2001:db9::5"));
        assert!(from_ip(inside, "::ffff:192.0.2.1"));
        assert!(!from_ip(inside, "not-an-ip"));
        assert!(!holds(inside, EMPTY));

        let outside = r#"{"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "fd00::/8"]}}"#;
        assert!(!from_ip(outside, "10.1.2.3"));
        assert!(!from_ip(outside, "fd12::1"));
        assert!(from_ip(outside, "192.0.2.1"));
        assert!(from_ip(outside, "2001:db8::1"));
        assert!(!from_ip(outside, "not-an-ip"));
        assert!(holds(outside, EMPTY));
    }

    #[test]
    fn arn_operators_match_component_by_component() {
        let like = r#"{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}"#;
        let from_arn = |condition: &str, a: &str| holds(condition, &[("aws:sourcearn", &[a])]);
        assert!(from_arn(like, "arn:aws:s3:::logs-2026"));
        assert!(!from_arn(like, "arn:aws:s3:::other"));
        assert!(!from_arn(like, "arn:aws:s3::x:logs-2026"));
        assert!(!from_arn(like, "logs-2026"));
        assert!(!holds(like, EMPTY));
        // A `*` stays within its component.
        let account = r#"{"ArnEquals": {"aws:SourceArn": "arn:aws:iam::*:user/AK"}}"#;
        assert!(from_arn(account, "arn:aws:iam::123:user/AK"));
        assert!(!from_arn(account, "arn:aws:iam::1:2:user/AK"));
        // The sixth component keeps its colons.
        let last = r#"{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:topic:*"}}"#;
        assert!(from_arn(last, "arn:aws:sns:eu-west-1:123:topic:sub"));
        let not_like = r#"{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}"#;
        assert!(!from_arn(not_like, "arn:aws:s3:::logs-1"));
        assert!(from_arn(not_like, "arn:aws:s3:::other"));
        assert!(holds(not_like, EMPTY));
        assert!(from_arn(r#"{"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::x"}}"#, "arn:aws:s3:::y"));
    }

    #[test]
    fn null_tests_presence() {
        let absent = r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#;
        assert!(holds(absent, EMPTY));
        assert!(holds(absent, &[("s3:x-amz-server-side-encryption", &[])]));
        assert!(!holds(absent, &[("s3:x-amz-server-side-encryption", &["AES256"])]));
        let present = r#"{"Null": {"s3:x-amz-server-side-encryption": false}}"#;
        assert!(!holds(present, EMPTY));
        assert!(holds(present, &[("s3:x-amz-server-side-encryption", &["AES256"])]));
    }

    #[test]
    fn operators_and_keys_are_anded_values_ored() {
        let condition = r#"{
            "StringEquals": {"s3:prefix": ["a/", "b/"], "s3:delimiter": "/"},
            "NumericLessThanEquals": {"s3:max-keys": "100"}
        }"#;
        let all = [("s3:prefix", &["b/"][..]), ("s3:delimiter", &["/"]), ("s3:max-keys", &["50"])];
        assert!(holds(condition, &all));
        for i in 0..all.len() {
            let mut missing_one = all.to_vec();
            missing_one.remove(i);
            assert!(!holds(condition, &missing_one), "without {}", all[i].0);
        }
        let mut wrong_prefix = all.to_vec();
        wrong_prefix[0] = ("s3:prefix", &["c/"]);
        assert!(!holds(condition, &wrong_prefix));
        let mut too_many = all.to_vec();
        too_many[2] = ("s3:max-keys", &["1000"]);
        assert!(!holds(condition, &too_many));
        assert!(holds("{}", EMPTY));
    }

    #[test]
    fn multi_valued_keys_without_a_set_prefix_need_one_value() {
        let eq = r#"{"StringEquals": {"s3:requestobjecttagkeys": "a"}}"#;
        assert!(holds(eq, &[("s3:requestobjecttagkeys", &["b", "a"])]));
        assert!(!holds(eq, &[("s3:requestobjecttagkeys", &["b", "c"])]));
        let ne = r#"{"StringNotEquals": {"s3:requestobjecttagkeys": "a"}}"#;
        assert!(holds(ne, &[("s3:requestobjecttagkeys", &["a", "b"])]));
        assert!(!holds(ne, &[("s3:requestobjecttagkeys", &["a", "a"])]));
    }

    #[test]
    fn set_prefixes() {
        let key = "s3:requestobjecttagkeys";
        let all = r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "owner"]}}"#;
        assert!(holds(all, &[(key, &["project"])]));
        assert!(holds(all, &[(key, &["owner", "project"])]));
        assert!(!holds(all, &[(key, &["project", "secret"])]));
        assert!(holds(all, EMPTY));
        assert!(holds(all, &[(key, &[])]));

        let any = r#"{"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["project", "owner"]}}"#;
        assert!(holds(any, &[(key, &["secret", "owner"])]));
        assert!(!holds(any, &[(key, &["secret"])]));
        assert!(!holds(any, EMPTY));
        assert!(!holds(any, &[(key, &[])]));

        // Negated operators with a prefix: per value, the value is in none of the policy's.
        let none = r#"{"ForAllValues:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret"]}}"#;
        assert!(holds(none, &[(key, &["a", "b"])]));
        assert!(!holds(none, &[(key, &["a", "secret"])]));
        assert!(holds(none, EMPTY));
        let some = r#"{"ForAnyValue:StringNotEquals": {"s3:RequestObjectTagKeys": ["secret"]}}"#;
        assert!(holds(some, &[(key, &["a", "secret"])]));
        assert!(!holds(some, &[(key, &["secret"])]));
        assert!(!holds(some, EMPTY));

        let like = r#"{"ForAllValues:StringLike": {"s3:RequestObjectTagKeys": "app-*"}}"#;
        assert!(holds(like, &[(key, &["app-a", "app-b"])]));
        assert!(!holds(like, &[(key, &["app-a", "b"])]));
        let ips = r#"{"ForAnyValue:IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#;
        assert!(holds(ips, &[("aws:sourceip", &["192.0.2.1", "10.0.0.1"])]));
    }

    // ---- is_public ----

    #[test]
    fn public_status() {
        let with = |effect: &str, principal: &str, condition: &str| {
            statement(&format!(
                r#""Effect": "{effect}", {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {condition}"#
            ))
            .is_public()
        };
        let star = r#""Principal": "*""#;
        assert!(with("Allow", star, "{}"));
        assert!(with("Allow", r#""Principal": {"AWS": "*"}"#, "{}"));
        assert!(with("Allow", r#""Principal": {"AWS": ["AKONE", "*"]}"#, "{}"));
        assert!(!with("Deny", star, "{}"));
        assert!(!with("Allow", r#""Principal": {"AWS": "AKONE"}"#, "{}"));
        assert!(!with("Allow", r#""Principal": {"AWS": "arn:aws:iam::1:root"}"#, "{}"));
        // Everyone but a few is still everyone.
        assert!(with("Allow", r#""NotPrincipal": {"AWS": "AKONE"}"#, "{}"));
        assert!(!with("Allow", r#""NotPrincipal": {"AWS": "*"}"#, "{}"));
        // Conditions that pin callers down make it non-public; others do not.
        for restricting in [
            r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            r#"{"StringEquals": {"aws:SourceVpc": "vpc-1"}}"#,
            r#"{"StringEquals": {"aws:SourceVpce": "vpce-1"}}"#,
            r#"{"StringEquals": {"aws:PrincipalAccount": "123"}}"#,
            r#"{"StringLike": {"aws:userid": "AK*"}}"#,
            r#"{"StringEqualsIfExists": {"aws:username": "alice"}}"#,
            r#"{"Bool": {"aws:SecureTransport": "true"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
        ] {
            assert!(!with("Allow", star, restricting), "{restricting}");
        }
        for open in [
            r#"{"Bool": {"aws:SecureTransport": "true"}}"#,
            r#"{"StringLike": {"aws:Referer": "https://example.com/*"}}"#,
            r#"{"Null": {"aws:SourceIp": "false"}}"#,
        ] {
            assert!(with("Allow", star, open), "{open}");
        }
        // One public statement among private ones is enough.
        let mixed = statements(
            r#"{"Effect": "Allow", "Principal": {"AWS": "AKONE"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
               {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}"#,
        );
        assert!(mixed.is_public());
    }

    // ---- glob matching ----

    #[test]
    fn glob_examples() {
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a/b/c"));
        assert!(!glob_match("?", ""));
        assert!(glob_match("?", "é"));
        assert!(glob_match("??", "日本"));
        assert!(!glob_match("?", "日本"));
        assert!(glob_match("a*b?d", "axxbyd"));
        assert!(glob_match("a*b?d", "abbbcd"));
        assert!(!glob_match("a*b?d", "abbbcde"));
        assert!(glob_match("*é*", "caféine"));
        assert!(glob_match("x/*/z", "x/y/y/z"));
        assert!(glob_match("**a**", "bab"));
        assert!(!glob_match("abc", "ABC"));
    }

    #[test]
    fn glob_worst_case_stays_fast() {
        // Exponential under naive backtracking; quadratic at worst here.
        let text = "a".repeat(20_000);
        let pattern = format!("{}b", "a*".repeat(40));
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&format!("{}a", "*a".repeat(40)), &text));
    }

    /// The definition, straight from the rules, on characters.
    fn reference_glob(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|i| reference_glob(rest, &text[i..])),
            Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
        }
    }

    /// Brute force for `can_match_in_bucket`: `bucket` itself, or `bucket/`
    /// followed by up to three characters from the pattern's alphabet.
    fn reference_in_bucket(pattern: &str, bucket: &str) -> bool {
        let alphabet = ['a', 'b', '/', 'é', 'x'];
        let mut texts = vec![bucket.to_owned(), format!("{bucket}/")];
        let mut frontier = vec![format!("{bucket}/")];
        for _ in 0..3 {
            frontier =
                frontier.iter().flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}"))).collect();
            texts.extend(frontier.iter().cloned());
        }
        texts.iter().any(|t| glob_match(pattern, t))
    }

    proptest! {
        #[test]
        fn glob_agrees_with_the_reference(pattern in "[ab/é日*?]{0,8}", text in "[ab/é日*?]{0,10}") {
            let p: Vec<char> = pattern.chars().collect();
            let t: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob_match(&pattern, &text), reference_glob(&p, &t));
        }

        #[test]
        fn bucket_reachability_agrees_with_brute_force(pattern in "[ab/é*?]{0,3}", bucket in "[abé]{1,3}") {
            // Patterns of at most three characters never need more than
            // three characters after `bucket/`, so the brute force is exact.
            prop_assert_eq!(can_match_in_bucket(&pattern, &bucket), reference_in_bucket(&pattern, &bucket));
        }
    }
}
