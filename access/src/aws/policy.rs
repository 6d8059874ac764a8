//! The IAM policy language as AWS reads it, for the three kinds of document EKM meets: a role's
//! trust policy, a KMS key policy, and an identity (role) policy. Parsing checks what AWS checks
//! when the document is put (`MalformedPolicyDocument`): the version, effects, that a trust or key
//! policy names a `Principal` and an identity policy does not, and every condition operator.

use crate::aws::condition::Condition;
use crate::document::{At, DocumentError, each, with_field};

/// Which kind of document a policy is; it decides which elements it may and must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A role's trust policy (`AssumeRolePolicyDocument`): who may assume the role.
    Trust,
    /// A KMS key policy: the key's resource-based policy.
    Key,
    /// An identity-based policy attached to a role (inline or managed).
    Identity,
}

impl PolicyKind {
    /// The document's name in AWS's denial messages.
    pub fn wording(self) -> &'static str {
        match self {
            PolicyKind::Trust => "role trust policy",
            PolicyKind::Key => "resource-based policy",
            PolicyKind::Identity => "identity-based policy",
        }
    }
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What kind of document it is.
    pub kind: PolicyKind,
    /// Its statements in document order.
    pub statements: Vec<Statement>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants what the statement matches.
    Allow,
    /// Denies what the statement matches, over every Allow.
    Deny,
}

/// A `Principal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: anyone (usually narrowed by conditions).
    Anyone,
    /// Named principals.
    Named(Vec<PrincipalName>),
}

/// One named principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalName {
    /// An account (`111122223333` or `arn:aws:iam::111122223333:root`): for a resource policy,
    /// delegation to that account's IAM policies.
    Account(String),
    /// An IAM ARN: a role, a user or an assumed-role session.
    Arn(String),
    /// A service principal (`kms.amazonaws.com`) or federated principal; never an EKM caller.
    Other(String),
}

/// A list of patterns in `Action`/`NotAction` or `Resource`/`NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    /// `NotAction`/`NotResource`: the statement matches what is *not* listed.
    pub negated: bool,
    /// The patterns, with IAM's `*` and `?` wildcards.
    pub patterns: Vec<String>,
}

impl Patterns {
    /// Whether `value` is matched (case-insensitively for actions).
    pub fn matches(&self, value: &str, ignore_case: bool) -> bool {
        let hit = self.patterns.iter().any(|p| {
            if ignore_case {
                crate::document::wildcard_match_ignore_case(p, value)
            } else {
                crate::document::wildcard_match(p, value)
            }
        });
        hit != self.negated
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its position and Sid, as the trace names it (`Statement[1] (Sid AllowEkm)`).
    pub label: String,
    /// Its `Sid`, if any.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// Who it is about (trust and key policies only).
    pub principal: Option<Principal>,
    /// Which actions.
    pub actions: Patterns,
    /// Which resources (`None` in trust policies, where the role itself is the resource).
    pub resources: Option<Patterns>,
    /// All must hold for the statement to apply.
    pub conditions: Vec<Condition>,
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Parses a policy document of `kind` from its JSON text.
    pub fn parse(kind: PolicyKind, text: &str) -> Result<Policy, DocumentError> {
        Self::from_value(kind, &crate::document::parse_json(text)?)
    }

    /// Parses a policy document of `kind` from JSON.
    pub fn from_value(
        kind: PolicyKind,
        value: &serde_json::Value,
    ) -> Result<Policy, DocumentError> {
        let root = At::root(value);
        root.only_fields(&["Version", "Id", "Statement"])?;
        with_field(root, "Version", |v| match v.string()? {
            "2012-10-17" | "2008-10-17" => Ok(()),
            other => Err(v.error(format!(
                "unsupported policy version `{other}`; use \"2012-10-17\""
            ))),
        })?;
        let statements = with_field(root, "Statement", |list| {
            let mut index = 0;
            each(list, |st| {
                let parsed = Statement::parse(kind, st, index);
                index += 1;
                parsed
            })
        })?
        .ok_or_else(|| root.error("a policy needs a `Statement`"))?;
        Ok(Policy { kind, statements })
    }
    /// Whether a statement has a condition: only then does a decision read the request context.
    pub fn has_conditions(&self) -> bool {
        self.statements.iter().any(|st| !st.conditions.is_empty())
    }
}

/// The policy document inside what the AWS CLI prints for it, and where it sits there:
/// `aws iam get-role` (`$.Role.AssumeRolePolicyDocument`), `aws iam get-role-policy`
/// (`$.PolicyDocument`), `aws kms get-key-policy` (`$.Policy`, the policy's JSON text), or the
/// policy itself (`$`). A refusal of the policy names its path in the printed output
/// ([`DocumentError::within`]).
pub fn from_cli_output(
    value: &serde_json::Value,
) -> Result<(serde_json::Value, &'static str), DocumentError> {
    use serde_json::Value;
    let inner = |at: &'static str, doc: &Value| match doc {
        Value::String(text) => crate::document::parse_json(text)
            .map(|json| (json, at))
            .map_err(|e| e.within(at)),
        other => Ok((other.clone(), at)),
    };
    match value {
        Value::Object(o) if o.contains_key("Role") => {
            match value.pointer("/Role/AssumeRolePolicyDocument") {
                Some(doc) => inner("$.Role.AssumeRolePolicyDocument", doc),
                None => Err(DocumentError {
                    path: "$.Role".into(),
                    reason: "an `aws iam get-role` output needs `AssumeRolePolicyDocument`".into(),
                }),
            }
        }
        Value::Object(o) if o.contains_key("PolicyDocument") => {
            inner("$.PolicyDocument", &o["PolicyDocument"])
        }
        Value::Object(o) if o.contains_key("Policy") => match &o["Policy"] {
            Value::String(_) => inner("$.Policy", &o["Policy"]),
            _ => Err(DocumentError {
                path: "$.Policy".into(),
                reason: "`aws kms get-key-policy` prints the policy as its JSON text".into(),
            }),
        },
        other => Ok((other.clone(), "$")),
    }
}

impl Statement {
    fn parse(kind: PolicyKind, at: At<'_>, index: usize) -> Result<Statement, DocumentError> {
        at.only_fields(STATEMENT_FIELDS)?;
        let sid = with_field(at, "Sid", |s| s.string().map(str::to_owned))?;
        let effect = with_field(at, "Effect", |e| match e.string()? {
            "Allow" => Ok(Effect::Allow),
            "Deny" => Ok(Effect::Deny),
            other => Err(e.error(format!("`{other}` is not an effect; use Allow or Deny"))),
        })?
        .ok_or_else(|| at.error("a statement needs an `Effect`"))?;
        if at.object()?.contains_key("NotPrincipal") {
            return Err(DocumentError {
                path: at.field_path("NotPrincipal"),
                reason: "NotPrincipal is not supported by the lab; name the principals".into(),
            });
        }
        let principal = with_field(at, "Principal", parse_principal)?;
        match (kind, &principal) {
            (PolicyKind::Identity, Some(_)) => {
                return Err(DocumentError {
                    path: at.field_path("Principal"),
                    reason: "an identity-based policy cannot name a Principal".into(),
                });
            }
            (PolicyKind::Trust | PolicyKind::Key, None) => {
                return Err(at.error("a resource-based policy statement needs a `Principal`"));
            }
            _ => {}
        }
        let actions = patterns(at, "Action", "NotAction")?
            .ok_or_else(|| at.error("a statement needs an `Action` or `NotAction`"))?;
        let resources = patterns(at, "Resource", "NotResource")?;
        if resources.is_none() && kind != PolicyKind::Trust {
            return Err(at.error("a statement needs a `Resource` or `NotResource`"));
        }
        let conditions = with_field(at, "Condition", Condition::parse_block)?.unwrap_or_default();
        let label = match &sid {
            Some(sid) => format!("Statement[{index}] (Sid {sid})"),
            None => format!("Statement[{index}]"),
        };
        Ok(Statement {
            label,
            sid,
            effect,
            principal,
            actions,
            resources,
            conditions,
        })
    }
}

/// Reads `plain` or its negated twin (never both).
fn patterns(at: At<'_>, plain: &str, negated: &str) -> Result<Option<Patterns>, DocumentError> {
    let yes = with_field(at, plain, |a| a.strings())?;
    let no = with_field(at, negated, |a| a.strings())?;
    match (yes, no) {
        (Some(_), Some(_)) => Err(at.error(format!(
            "a statement cannot have both {plain} and {negated}"
        ))),
        (Some(patterns), None) => Ok(Some(Patterns {
            negated: false,
            patterns,
        })),
        (None, Some(patterns)) => Ok(Some(Patterns {
            negated: true,
            patterns,
        })),
        (None, None) => Ok(None),
    }
}

fn parse_principal(at: At<'_>) -> Result<Principal, DocumentError> {
    if at.value().as_str() == Some("*") {
        return Ok(Principal::Anyone);
    }
    at.only_fields(&["AWS", "Service", "Federated", "CanonicalUser"])?;
    let mut names = Vec::new();
    for (kind, value) in at.object()? {
        let path = at.field_path(kind);
        let values = At::new(&path, value).strings()?;
        for v in values {
            if kind != "AWS" {
                names.push(PrincipalName::Other(v));
            } else if v == "*" {
                return Ok(Principal::Anyone);
            } else if let Some(account) = account_principal(&v) {
                names.push(PrincipalName::Account(account));
            } else if v.starts_with("arn:aws:iam::") || v.starts_with("arn:aws:sts::") {
                if v.contains('*') || v.contains('?') {
                    return Err(DocumentError {
                        path,
                        reason: format!(
                            "Invalid principal in policy: `{v}` (no wildcards in ARNs)"
                        ),
                    });
                }
                names.push(PrincipalName::Arn(v));
            } else {
                return Err(DocumentError {
                    path,
                    reason: format!("Invalid principal in policy: `{v}`"),
                });
            }
        }
    }
    Ok(Principal::Named(names))
}

/// `111122223333` or `arn:aws:iam::111122223333:root` → the account id.
fn account_principal(value: &str) -> Option<String> {
    let id = value
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(value);
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_cli_outputs_hold_the_policy_and_refusals_name_its_path_there() {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "sts:AssumeRole"}]});
        let get_role = json!({"Role": {"RoleName": "r", "AssumeRolePolicyDocument": policy}});
        let get_role_policy = json!({"RoleName": "r", "PolicyName": "p", "PolicyDocument": policy});
        let get_key_policy = json!({"PolicyName": "default", "Policy": policy.to_string()});
        for (output, at) in [
            (&get_role, "$.Role.AssumeRolePolicyDocument"),
            (&get_role_policy, "$.PolicyDocument"),
            (&get_key_policy, "$.Policy"),
            (&policy, "$"),
        ] {
            assert_eq!(from_cli_output(output).unwrap(), (policy.clone(), at));
        }
        let mut bad = get_role.clone();
        bad["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Effect"] = json!("Maybe");
        let (inner, at) = from_cli_output(&bad).unwrap();
        let error = Policy::from_value(PolicyKind::Trust, &inner)
            .unwrap_err()
            .within(at);
        assert_eq!(
            error.path,
            "$.Role.AssumeRolePolicyDocument.Statement[0].Effect"
        );
        let text = json!({"PolicyName": "default", "Policy": "{not json"});
        assert_eq!(from_cli_output(&text).unwrap_err().path, "$.Policy");
        let no_doc = json!({"Role": {"RoleName": "r"}});
        assert_eq!(from_cli_output(&no_doc).unwrap_err().path, "$.Role");
        let object = json!({"PolicyName": "default", "Policy": {"Statement": []}});
        assert_eq!(from_cli_output(&object).unwrap_err().path, "$.Policy");
    }
}
