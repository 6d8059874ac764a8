//! IAM `Condition` blocks: the operators, the `ForAnyValue:`/`ForAllValues:` set qualifiers and
//! the `…IfExists` suffix, evaluated as IAM documents them (IAM User Guide, "Condition
//! operators"): values listed for one key are ORed (ANDed for negated operators), keys and
//! operators are ANDed; a key absent from the request fails a condition, except that negated
//! operators, `…IfExists` and `Null` test the absence itself.
//!
//! The lab fills the request context with the keys EKM's calls carry ([`Context`]). A condition
//! on any other key, or with an operator the lab does not evaluate (`IpAddress`, `BinaryEquals`),
//! is **unknown**: it never makes an Allow statement apply, and it makes a Deny statement apply —
//! the lab refuses what it cannot prove rather than guessing. An operator that IAM itself does
//! not know is a malformed document.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::document::{At, DocumentError, wildcard_match};

/// The condition keys the lab puts in a request context when they apply; any other key is
/// unknown to the lab. A trailing `*` stands for any suffix (`kms:encryptioncontext:purpose`).
const KNOWN_KEYS: &[&str] = &[
    "aws:currenttime",
    "aws:epochtime",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principaltype",
    "aws:securetransport",
    "aws:tokenissuetime",
    "aws:userid",
    "aws:requestedregion",
    "kms:callerAccount",
    "kms:encryptionalgorithm",
    "kms:encryptioncontext:*",
    "kms:encryptioncontextkeys",
    "kms:viaservice",
    "sts:externalid",
    "sts:rolesessionname",
];

/// The request context of one call: condition key (any case) → its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key (`kms:EncryptionContextKeys`).
    pub fn with_all(mut self, key: &str, values: Vec<String>) -> Self {
        self.values.insert(key.to_ascii_lowercase(), values);
        self
    }

    /// Adds `kms:EncryptionContext:<k>` for each pair and `kms:EncryptionContextKeys`.
    pub fn with_encryption_context<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut keys = Vec::new();
        for (k, v) in pairs {
            self.values.insert(
                format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()),
                vec![v.into()],
            );
            keys.push(k.to_owned());
        }
        self.with_all("kms:EncryptionContextKeys", keys)
    }

    /// The values of `key`, if the request carries it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    fn knows(key: &str) -> bool {
        KNOWN_KEYS
            .iter()
            .any(|known| match known.strip_suffix('*') {
                Some(prefix) => key
                    .get(..prefix.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(prefix)),
                None => key.eq_ignore_ascii_case(known),
            })
    }
}

/// A condition operator, without qualifier or suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Null,
    /// An IAM operator the lab does not evaluate (`IpAddress`, `NotIpAddress`, `BinaryEquals`).
    NotEvaluated,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "ArnEquals" => ArnEquals,
            "ArnNotEquals" => ArnNotEquals,
            "ArnLike" => ArnLike,
            "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            "IpAddress" | "NotIpAddress" | "BinaryEquals" => NotEvaluated,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Whether one request value satisfies the positive form of the operator for one policy
    /// value. `None` when the request value is not of the operator's type.
    fn positive_match(self, request: &str, policy: &str) -> Option<bool> {
        use Operator::*;
        Some(match self {
            StringEquals | StringNotEquals => request == policy,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                request.eq_ignore_ascii_case(policy)
            }
            StringLike | StringNotLike | ArnEquals | ArnNotEquals | ArnLike | ArnNotLike => {
                wildcard_match(policy, request)
            }
            Bool => request.eq_ignore_ascii_case(policy),
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => {
                let (r, p) = (request.parse::<f64>().ok()?, policy.parse::<f64>().ok()?);
                match self {
                    NumericLessThan => r < p,
                    NumericLessThanEquals => r <= p,
                    NumericGreaterThan => r > p,
                    NumericGreaterThanEquals => r >= p,
                    _ => r == p,
                }
            }
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => {
                let (r, p) = (parse_date(request)?, parse_date(policy)?);
                match self {
                    DateLessThan => r < p,
                    DateLessThanEquals => r <= p,
                    DateGreaterThan => r > p,
                    DateGreaterThanEquals => r >= p,
                    _ => r == p,
                }
            }
            Null | NotEvaluated => return None,
        })
    }
}

/// A date as IAM reads it: ISO 8601 (RFC 3339) or epoch seconds.
fn parse_date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::from_unix_timestamp(text.parse().ok()?).ok())
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// At least one request value must satisfy the operator (an empty set fails).
    ForAnyValue,
    /// Every request value must satisfy the operator (an empty set passes).
    ForAllValues,
}

/// One key's test inside a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator name as written (`ForAnyValue:StringLikeIfExists`).
    pub written: String,
    /// The operator.
    pub operator: Operator,
    /// The set qualifier, if any.
    pub qualifier: Option<SetQualifier>,
    /// Whether the operator has the `IfExists` suffix.
    pub if_exists: bool,
    /// The condition key as written.
    pub key: String,
    /// The policy's values for the key.
    pub values: Vec<String>,
}

/// What a condition says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The condition holds.
    Holds,
    /// The condition fails; why, with the value the request carried.
    Fails(String),
    /// The lab cannot evaluate it; why.
    Unknown(String),
}

impl Condition {
    /// Reads a statement's `Condition` block.
    pub fn parse_block(at: At<'_>) -> Result<Vec<Condition>, DocumentError> {
        let mut conditions = Vec::new();
        for (written, keys) in at.object()? {
            let op_path = at.field_path(written);
            let op_at = At::new(&op_path, keys);
            let (qualifier, rest) = match written.split_once(':') {
                Some(("ForAnyValue", rest)) => (Some(SetQualifier::ForAnyValue), rest),
                Some(("ForAllValues", rest)) => (Some(SetQualifier::ForAllValues), rest),
                Some(_) => return Err(op_at.error(format!("unknown set qualifier in `{written}`"))),
                None => (None, written.as_str()),
            };
            let (base, if_exists) = match rest.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (rest, false),
            };
            let operator = Operator::parse(base)
                .ok_or_else(|| op_at.error(format!("unknown condition operator `{written}`")))?;
            if operator == Operator::Null && (qualifier.is_some() || if_exists) {
                return Err(op_at.error("`Null` takes no set qualifier and no IfExists"));
            }
            for (key, value) in op_at.object()? {
                let key_path = op_at.field_path(key);
                let key_at = At::new(&key_path, value);
                let values = condition_values(value).map_err(|reason| key_at.error(reason))?;
                check_values(operator, &values).map_err(|reason| key_at.error(reason))?;
                conditions.push(Condition {
                    written: written.clone(),
                    operator,
                    qualifier,
                    if_exists,
                    key: key.clone(),
                    values,
                });
            }
        }
        Ok(conditions)
    }

    /// Evaluates the condition against a request context.
    pub fn evaluate(&self, context: &Context) -> Outcome {
        let shown = || format!("{} {{{}: {:?}}}", self.written, self.key, self.values);
        if self.operator == Operator::NotEvaluated {
            return Outcome::Unknown(format!(
                "{}: the lab does not evaluate this operator",
                shown()
            ));
        }
        if !Context::knows(&self.key) {
            return Outcome::Unknown(format!(
                "{}: the lab does not model the condition key `{}`",
                shown(),
                self.key
            ));
        }
        let present = context.get(&self.key).filter(|v| !v.is_empty());
        let verdict = match (self.operator, present) {
            (Operator::Null, present) => {
                let wants_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
                present.is_none() == wants_absent
            }
            (_, None) => match self.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => self.if_exists || self.operator.negated(),
            },
            (_, Some(request)) => {
                let each = |r: &String| self.one_value(r.as_str());
                match self.qualifier {
                    Some(SetQualifier::ForAllValues) => request.iter().all(each),
                    Some(SetQualifier::ForAnyValue) | None => request.iter().any(each),
                }
            }
        };
        if verdict {
            Outcome::Holds
        } else {
            let sent = match present {
                Some(values) => format!("the request has {values:?}"),
                None => format!("the request has no `{}`", self.key),
            };
            Outcome::Fails(format!("{} fails: {sent}", shown()))
        }
    }

    /// Whether one request value satisfies the condition's values: any of them for a positive
    /// operator, none of them for a negated one.
    fn one_value(&self, request: &str) -> bool {
        let matches = |p: &String| self.operator.positive_match(request, p).unwrap_or(false);
        if self.operator.negated() {
            !self.values.iter().any(matches)
        } else {
            self.values.iter().any(matches)
        }
    }
}

/// A condition key's values: a string, number or boolean, or a list of them.
fn condition_values(value: &serde_json::Value) -> Result<Vec<String>, String> {
    use serde_json::Value;
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("condition values must be strings, numbers or booleans".to_owned()),
    };
    match value {
        Value::Array(items) if items.is_empty() => Err("must not be an empty list".into()),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// Refuses policy values the operator cannot compare (IAM refuses them when the policy is put).
fn check_values(operator: Operator, values: &[String]) -> Result<(), String> {
    use Operator::*;
    let bad = |what: &str, v: &String| Err(format!("`{v}` is not a valid {what}"));
    for v in values {
        match operator {
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals
                if v.parse::<f64>().is_err() =>
            {
                return bad("number", v);
            }
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals
                if parse_date(v).is_none() =>
            {
                return bad("date (ISO 8601 or epoch seconds)", v);
            }
            Bool | Null if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => {
                return bad("boolean", v);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
