//! The `Condition` element of a policy statement: its operators, the parsing
//! of their values and their evaluation against a request's context keys.
//!
//! Every value is parsed when the policy is stored, so a bad CIDR, date or
//! number is a MalformedPolicy at PutBucketPolicy time instead of a statement
//! that silently never matches on later requests. Request values that cannot
//! be read for an operator (an IP operator given `not-an-ip`) satisfy nothing,
//! negated operators included: a value that cannot be compared is not known
//! to differ either.
//!
//! Logic, as in AWS's IAM reference:
//! - all operators of a block hold, and within an operator all keys hold;
//! - for one key, the policy's values are ORed; a negated operator (`...Not...`,
//!   `NotIpAddress`) holds for a request value only if it matches none of them;
//! - a key missing from the request (absent or with no values) makes positive
//!   operators false and negated ones true; `...IfExists` makes any operator
//!   true; `ForAnyValue:` is false and `ForAllValues:` true; `Null` tests
//!   exactly that absence.
//! - a multi-valued request key without a set prefix holds if any of its
//!   values satisfies the operator, the same as `ForAnyValue:` when the key is
//!   present. AWS leaves that case undefined and recommends the prefixes; "any"
//!   lets `s3:requestobjecttagkeys` and similar keys work without one.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::{PolicyError, glob_match, malformed};

/// A statement's whole Condition element: every clause must hold. An absent
/// Condition is the empty block, which always holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    clauses: Vec<Clause>,
}

/// One operator applied to one key.
#[derive(Debug, Clone)]
struct Clause {
    /// Lower case, as the request context stores names.
    key: String,
    qualifier: Qualifier,
    if_exists: bool,
    /// Inverts the per-value result: the value must match none of the policy's.
    negated: bool,
    test: Test,
}

/// The `ForAnyValue:` / `ForAllValues:` set prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// Whether `request <op> policy` holds, given the ordering of the request
    /// value relative to the policy value.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Cmp::Eq => ordering == Ordering::Equal,
            Cmp::Lt => ordering == Ordering::Less,
            Cmp::Le => ordering != Ordering::Greater,
            Cmp::Gt => ordering == Ordering::Greater,
            Cmp::Ge => ordering != Ordering::Less,
        }
    }
}

/// The operator family with the policy's values, already parsed. Negation
/// lives in [`Clause::negated`], so `StringNotEquals` is `StringEquals` here.
#[derive(Debug, Clone)]
enum Test {
    StringEquals(Vec<String>),
    /// Values stored lower-cased.
    StringEqualsIgnoreCase(Vec<String>),
    StringLike(Vec<String>),
    Numeric(Cmp, Vec<f64>),
    Date(Cmp, Vec<Instant>),
    Bool(Vec<bool>),
    Ip(Vec<Cidr>),
    /// The six colon-separated components of each ARN pattern.
    Arn(Vec<Vec<String>>),
    /// `true` means "the key is absent".
    Null(Vec<bool>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Ip,
    Arn,
    Null,
}

/// Maps an operator name without prefix or `IfExists` suffix to its family
/// and whether it is negated. Names are case-sensitive, as AWS spells them.
fn base_operator(name: &str) -> Option<(Family, bool)> {
    use Family::*;
    Some(match name {
        "StringEquals" => (String, false),
        "StringNotEquals" => (String, true),
        "StringEqualsIgnoreCase" => (StringIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (Numeric(Cmp::Eq), false),
        "NumericNotEquals" => (Numeric(Cmp::Eq), true),
        "NumericLessThan" => (Numeric(Cmp::Lt), false),
        "NumericLessThanEquals" => (Numeric(Cmp::Le), false),
        "NumericGreaterThan" => (Numeric(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Numeric(Cmp::Ge), false),
        "DateEquals" => (Date(Cmp::Eq), false),
        "DateNotEquals" => (Date(Cmp::Eq), true),
        "DateLessThan" => (Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Date(Cmp::Le), false),
        "DateGreaterThan" => (Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Date(Cmp::Ge), false),
        "Bool" => (Bool, false),
        "IpAddress" => (Ip, false),
        "NotIpAddress" => (Ip, true),
        // AWS gives ArnEquals the same component-wise wildcard matching as ArnLike.
        "ArnEquals" | "ArnLike" => (Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Arn, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

impl Condition {
    /// Parses a statement's `Condition` value.
    pub(crate) fn parse(value: &Value) -> Result<Condition, PolicyError> {
        let Value::Object(operators) = value else {
            return Err(malformed("Condition must be an object"));
        };
        let mut clauses = Vec::new();
        for (operator, keys) in operators {
            let unknown = || malformed(format!("Unknown condition operator: {operator}"));
            let (qualifier, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
                (Qualifier::ForAnyValue, rest)
            } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
                (Qualifier::ForAllValues, rest)
            } else {
                (Qualifier::Single, operator.as_str())
            };
            let (if_exists, base) = match rest.strip_suffix("IfExists") {
                Some(base) => (true, base),
                None => (false, rest),
            };
            let (family, negated) = base_operator(base).ok_or_else(unknown)?;
            // Null asks whether the key exists, so neither "if it exists" nor a
            // set of request values means anything for it.
            if family == Family::Null && (if_exists || qualifier != Qualifier::Single) {
                return Err(unknown());
            }
            let Value::Object(keys) = keys else {
                return Err(malformed(format!("Invalid condition for operator {operator}")));
            };
            for (key, values) in keys {
                if key.is_empty() {
                    return Err(malformed(format!("Invalid condition key for operator {operator}")));
                }
                let invalid = |value: &str| malformed(format!("Invalid value for {operator}: {value}"));
                let values = scalar_strings(values).ok_or_else(|| invalid(&values.to_string()))?;
                let test = parse_values(family, values).map_err(|value| invalid(&value))?;
                clauses.push(Clause { key: key.to_lowercase(), qualifier, if_exists, negated, test });
            }
        }
        Ok(Condition { clauses })
    }

    /// Whether every clause holds for the request's context keys.
    pub(crate) fn holds(&self, context: &HashMap<String, Vec<String>>) -> bool {
        self.clauses.iter().all(|clause| clause.holds(context))
    }

    /// Whether any clause other than `Null` tests one of `keys` (lower case).
    /// `Null` only asks whether a key is there, so it restricts nothing.
    pub(crate) fn tests_any_key(&self, keys: &[&str]) -> bool {
        self.clauses
            .iter()
            .any(|clause| !matches!(clause.test, Test::Null(_)) && keys.contains(&clause.key.as_str()))
    }
}

impl Clause {
    fn holds(&self, context: &HashMap<String, Vec<String>>) -> bool {
        // A key given with no values is treated as absent: there is nothing to
        // compare, and treating it as present would make positive operators
        // and ForAnyValue disagree with Null about the same request.
        let present = context.get(&self.key).filter(|values| !values.is_empty());
        if let Test::Null(expect_absent) = &self.test {
            return expect_absent.iter().any(|&absent| absent == present.is_none());
        }
        let Some(values) = present else {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::Single => self.negated,
                    Qualifier::ForAnyValue => false,
                    Qualifier::ForAllValues => true,
                };
        };
        let satisfied =
            |value: &String| self.test.matches(value).is_some_and(|matched| matched != self.negated);
        match self.qualifier {
            Qualifier::ForAllValues => values.iter().all(satisfied),
            Qualifier::Single | Qualifier::ForAnyValue => values.iter().any(satisfied),
        }
    }
}

impl Test {
    /// Whether the request value matches any of the policy's values; None if
    /// the value cannot be read for this family.
    fn matches(&self, value: &str) -> Option<bool> {
        Some(match self {
            Test::StringEquals(patterns) => patterns.iter().any(|p| p == value),
            Test::StringEqualsIgnoreCase(patterns) => {
                let value = value.to_lowercase();
                patterns.contains(&value)
            }
            Test::StringLike(patterns) => patterns.iter().any(|p| glob_match(p, value)),
            Test::Numeric(cmp, numbers) => {
                let value = parse_number(value)?;
                numbers.iter().any(|n| value.partial_cmp(n).is_some_and(|o| cmp.holds(o)))
            }
            Test::Date(cmp, dates) => {
                let value = parse_date(value)?;
                dates.iter().any(|d| cmp.holds(value.cmp(d)))
            }
            Test::Bool(bools) => {
                let value = parse_bool(value)?;
                bools.contains(&value)
            }
            Test::Ip(cidrs) => {
                let value: IpAddr = value.parse().ok()?;
                cidrs.iter().any(|cidr| cidr.contains(value))
            }
            Test::Arn(patterns) => patterns.iter().any(|parts| {
                let mut components = value.splitn(6, ':');
                parts.iter().all(|p| components.next().is_some_and(|c| glob_match(p, c)))
            }),
            // Null is decided on presence alone, in Clause::holds.
            Test::Null(_) => return None,
        })
    }
}

/// A condition's values as strings: one string, number or boolean, or a
/// non-empty array of them. Numbers and booleans take their JSON text, so
/// `5` and `"5"` or `true` and `"true"` are the same value.
fn scalar_strings(value: &Value) -> Option<Vec<String>> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => Some(vec![scalar(other)?]),
    }
}

/// Parses the policy's values for `family`; the error is the value at fault.
fn parse_values(family: Family, values: Vec<String>) -> Result<Test, String> {
    fn all<T>(values: Vec<String>, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
        values.into_iter().map(|v| parse(&v).ok_or(v)).collect()
    }
    Ok(match family {
        Family::String => Test::StringEquals(values),
        Family::StringIgnoreCase => {
            Test::StringEqualsIgnoreCase(values.into_iter().map(|v| v.to_lowercase()).collect())
        }
        Family::StringLike => Test::StringLike(values),
        Family::Numeric(cmp) => Test::Numeric(cmp, all(values, parse_number)?),
        Family::Date(cmp) => Test::Date(cmp, all(values, parse_date)?),
        Family::Bool => Test::Bool(all(values, parse_bool)?),
        Family::Ip => Test::Ip(all(values, Cidr::parse)?),
        Family::Arn => Test::Arn(all(values, |v| {
            let parts: Vec<String> = v.splitn(6, ':').map(str::to_owned).collect();
            (parts.len() == 6 && parts[0] == "arn").then_some(parts)
        })?),
        Family::Null => Test::Null(all(values, parse_bool)?),
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A decimal number: an optional `-`, digits and an optional fraction. The
/// shape is checked by hand because `f64::from_str` also takes `inf`, `NaN`
/// and exponents, none of which a policy number is.
fn parse_number(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A point in time, UTC. Field order makes the derived ordering chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Instant {
    secs: i64,
    nanos: u32,
}

/// Epoch seconds (`1764547200`, optionally negative) or ISO 8601 in UTC:
/// `2026-12-01`, `2026-12-01T00:00:00Z` or `...+00:00`, with up to nine
/// fractional digits. Other offsets are refused rather than converted: AWS's
/// own context values are UTC, and a policy with another zone is more likely
/// a mistake than a wish.
fn parse_date(s: &str) -> Option<Instant> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Instant { secs: s.parse().ok()?, nanos: 0 });
    }
    parse_iso8601(s)
}

fn parse_iso8601(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let field = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if b.len() == 10 {
        return Some(Instant { secs: days * 86_400, nanos: 0 });
    }
    if !matches!(b.get(10), Some(b'T' | b't')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Bytes 0..19 were all checked to be ASCII, so 19 is a char boundary.
    let mut rest = &s[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = fraction[..len].parse::<u32>().ok()? * 10u32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    if !matches!(rest, "Z" | "z" | "+00:00") {
        return None;
    }
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(Instant { secs, nanos })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`): years are counted from March so the leap day is last.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An IPv4 or IPv6 network; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            // Digits only: `u32::from_str` would also take a leading `+`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().filter(|&n| n <= width)?
            }
            Some(_) => return None,
        };
        Some(Cidr { network, prefix })
    }

    /// Host bits of the network are ignored (`10.1.2.3/8` is `10.0.0.0/8`),
    /// as AWS does. An IPv4-mapped IPv6 request address (`::ffff:10.0.0.1`,
    /// what a dual-stack listener reports for IPv4 clients) is compared as
    /// the IPv4 address it carries.
    fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let (network, address, width) = match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        // A /0 would shift a u128 by 128 below, which overflows.
        self.prefix == 0 || (network ^ address) >> (width - self.prefix) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> Option<Instant> {
        Some(Instant { secs, nanos })
    }

    #[test]
    fn dates_parse_as_iso8601_or_epoch_seconds() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), at(0, 0));
        assert_eq!(parse_date("2026-12-01T00:00:00Z"), at(1_796_083_200, 0));
        assert_eq!(parse_date("2026-12-01T00:00:00+00:00"), at(1_796_083_200, 0));
        assert_eq!(parse_date("2026-12-01"), at(1_796_083_200, 0));
        assert_eq!(parse_date("2000-02-29T23:59:59.5Z"), at(951_868_799, 500_000_000));
        assert_eq!(parse_date("2024-03-01T12:34:56.123456789Z"), at(1_709_296_496, 123_456_789));
        assert_eq!(parse_date("1796083200"), at(1_796_083_200, 0));
        assert_eq!(parse_date("-86400"), at(-86_400, 0));
        assert_eq!(parse_date("1969-12-31T00:00:00Z"), at(-86_400, 0));
    }

    #[test]
    fn bad_dates_are_refused() {
        for bad in [
            "",
            "-",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29",
            "2026-12-00",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:60:00Z",
            "2026-12-01T00:00:60Z",
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00+01:00",
            "2026-12-01T00:00:00.Z",
            "2026-12-01T00:00:00.1234567890Z",
            "2026-12-01 00:00:00Z",
            "26-12-01",
            "2026-1-01",
            "tomorrow",
            "2026-12-01T00:00:00Zé",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2000-02-29"), at(951_782_400, 0));
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(parse_number("5"), Some(5.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        for bad in ["", "-", "1e3", "inf", "NaN", "+1", "1.", ".5", "1.2.3", " 1", "0x10"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net = |s: &str| Cidr::parse(s).unwrap_or_else(|| panic!("{s}"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("10.1.2.3/8").contains(ip("10.9.9.9")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(net("::/0").contains(ip("2001:db9::1")));
        assert!(net("2001:db8::1").contains(ip("2001:db8::1")));
        assert!(!net("2001:db8::1/128").contains(ip("2001:db8::2")));
        assert!(!net("2001:db8::/32").contains(ip("10.0.0.1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "2001:db8::/129",
            "x/8",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
