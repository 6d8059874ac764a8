//! Workload identity federation: the customer's pool provider (OIDC issuer, allowed audiences,
//! attribute mapping, attribute condition) and STS's decision on a token exchange — DESIGN.md
//! §9.2 and the IAM documentation ("Workload identity federation with other providers").
//!
//! The exchange answers with the OAuth errors STS uses: `invalid_request` for an `audience`
//! parameter that is not a provider's resource name, `invalid_target` for a provider that does not
//! exist or is disabled, `invalid_grant` for a token from another issuer or for another audience,
//! `unauthorized_client` when the attribute condition rejects it. The first, second and fourth
//! texts are seen in public logs; the issuer-mismatch text is the lab's own wording (GCP's is
//! undocumented).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::decision::{Decision, Tracer, Verdict};
use crate::document::{At, DocumentError, with_field};
use crate::gcp::cel::Expr;

/// A workload-identity pool provider (OIDC).
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// `projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
    pub name: String,
    /// Whether the provider is disabled (exchanges fail as if it did not exist).
    pub disabled: bool,
    /// The OIDC issuer the subject token must come from.
    pub issuer_uri: String,
    /// The audiences a token may carry; empty means the provider's own resource URL.
    pub allowed_audiences: Vec<String>,
    /// Target attribute (`google.subject`, `attribute.repo`) → expression over `assertion`.
    pub attribute_mapping: BTreeMap<String, Expr>,
    /// Must be true for a token to be accepted; unset accepts every token of the issuer.
    pub attribute_condition: Option<Expr>,
    /// The condition's text as written (for traces and the lint).
    pub attribute_condition_text: Option<String>,
}

/// The most audiences a provider may list.
pub const MAX_AUDIENCES: usize = 10;

impl Provider {
    /// Reads a provider as `gcloud iam workload-identity-pools providers describe --format=json`
    /// prints it.
    pub fn from_value(value: &Value) -> Result<Provider, DocumentError> {
        let root = At::root(value);
        root.only_fields(&[
            "name",
            "displayName",
            "description",
            "disabled",
            "state",
            "attributeMapping",
            "attributeCondition",
            "oidc",
        ])?;
        let name = with_field(root, "name", |n| n.string().map(str::to_owned))?
            .ok_or_else(|| root.error("a provider needs its `name`"))?;
        if pool_of(&name).is_none() {
            return Err(DocumentError {
                path: "$.name".into(),
                reason: "must be projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER".into(),
            });
        }
        let disabled = with_field(root, "disabled", |d| {
            d.value()
                .as_bool()
                .ok_or_else(|| d.error("must be a boolean"))
        })?
        .unwrap_or(false)
            || with_field(root, "state", |s| s.string().map(|s| s == "DELETED"))?.unwrap_or(false);
        let (issuer_uri, allowed_audiences) = with_field(root, "oidc", |oidc| {
            oidc.only_fields(&["issuerUri", "allowedAudiences", "jwksJson"])?;
            let issuer = with_field(oidc, "issuerUri", |i| i.string().map(str::to_owned))?
                .ok_or_else(|| oidc.error("an OIDC provider needs `issuerUri`"))?;
            let audiences =
                with_field(oidc, "allowedAudiences", |a| a.strings())?.unwrap_or_default();
            if audiences.len() > MAX_AUDIENCES {
                return Err(DocumentError {
                    path: oidc.field_path("allowedAudiences"),
                    reason: format!("at most {MAX_AUDIENCES} audiences"),
                });
            }
            Ok((issuer, audiences))
        })?
        .ok_or_else(|| root.error("the lab models OIDC providers: `oidc` is required"))?;
        let attribute_mapping = with_field(root, "attributeMapping", |m| {
            m.object()?
                .iter()
                .map(|(target, expr)| {
                    let path = m.field_path(target);
                    let at = At::new(&path, expr);
                    let parsed =
                        Expr::parse(at.string()?, &["assertion"]).map_err(|why| at.error(why))?;
                    Ok((target.clone(), parsed))
                })
                .collect::<Result<BTreeMap<_, _>, DocumentError>>()
        })?
        .unwrap_or_default();
        if !attribute_mapping.contains_key("google.subject") {
            return Err(DocumentError {
                path: "$.attributeMapping".into(),
                reason: "must map `google.subject`".into(),
            });
        }
        let text = with_field(root, "attributeCondition", |c| {
            c.string().map(str::to_owned)
        })?;
        let attribute_condition = match &text {
            Some(t) => Some(
                Expr::parse(t, &["assertion", "google", "attribute"]).map_err(|why| {
                    DocumentError {
                        path: "$.attributeCondition".into(),
                        reason: why,
                    }
                })?,
            ),
            None => None,
        };
        Ok(Provider {
            name,
            disabled,
            issuer_uri,
            allowed_audiences,
            attribute_mapping,
            attribute_condition,
            attribute_condition_text: text,
        })
    }

    /// The audience STS expects when `allowedAudiences` is empty.
    pub fn default_audience(&self) -> String {
        format!("//iam.googleapis.com/{}", self.name)
    }
}

/// `projects/N/locations/global/workloadIdentityPools/POOL/providers/P` → the pool's name.
pub fn pool_of(provider: &str) -> Option<&str> {
    let (pool, id) = provider.rsplit_once("/providers/")?;
    let parts: Vec<&str> = pool.split('/').collect();
    let shape = matches!(
        parts.as_slice(),
        [
            "projects",
            _,
            "locations",
            "global",
            "workloadIdentityPools",
            _
        ]
    );
    (shape && !id.is_empty() && !id.contains('/')).then_some(pool)
}

/// A federated identity STS issued a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federated {
    /// `principal://iam.googleapis.com/POOL/subject/SUBJECT`.
    pub principal: String,
    /// The `principalSet://` identifiers it belongs to (the whole pool, each mapped attribute).
    pub principal_sets: Vec<String>,
}

impl From<&Federated> for crate::gcp::Identity {
    /// Who a federated token calls Cloud KMS as: its principal and its principal sets.
    fn from(federated: &Federated) -> Self {
        let mut names = vec![crate::gcp::Member::Principal(federated.principal.clone())];
        names.extend(
            federated
                .principal_sets
                .iter()
                .cloned()
                .map(crate::gcp::Member::PrincipalSet),
        );
        Self {
            shown: federated.principal.clone(),
            names,
        }
    }
}

/// STS's answer to an exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Allowed or denied, with the trace; a denial's `message` is the `error_description`.
    pub decision: Decision,
    /// On a denial, the OAuth `error` code.
    pub error: Option<&'static str>,
    /// On success, who the token stands for.
    pub federated: Option<Federated>,
}

fn denied(tracer: Tracer, error: &'static str, description: String) -> Exchange {
    Exchange {
        decision: tracer.deny(Verdict::ImplicitDeny, None, description),
        error: Some(error),
        federated: None,
    }
}

/// Decides a token exchange: `audience` is the request's `audience` parameter, `providers` every
/// provider the customer has, `claims` the subject token's verified claims.
pub fn exchange(audience: &str, providers: &[Provider], claims: &Map<String, Value>) -> Exchange {
    let mut tracer = Tracer::default();
    let name = audience
        .strip_prefix("https:")
        .unwrap_or(audience)
        .strip_prefix("//iam.googleapis.com/")
        .filter(|n| pool_of(n).is_some());
    let Some(name) = name else {
        tracer.note(
            "STS request",
            "audience",
            format!("`{audience}` is not a provider's resource name"),
        );
        return denied(tracer, "invalid_request", "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.".into());
    };
    let doc = format!("provider {name}");
    let Some(provider) = providers.iter().find(|p| p.name == name && !p.disabled) else {
        tracer.note(&doc, "state", "does not exist or is disabled");
        return denied(tracer, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.".into());
    };
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != provider.issuer_uri {
        tracer.note(
            &doc,
            "oidc.issuerUri",
            format!(
                "wants `{}`, the token's iss is `{iss}`",
                provider.issuer_uri
            ),
        );
        return denied(
            tracer,
            "invalid_grant",
            format!(
                "The issuer in ID Token {iss} does not match the expected ones: {}.",
                provider.issuer_uri
            ),
        );
    }
    let token_audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let allowed = if provider.allowed_audiences.is_empty() {
        let own = provider.default_audience();
        vec![format!("https:{own}"), own]
    } else {
        provider.allowed_audiences.clone()
    };
    if !token_audiences
        .iter()
        .any(|a| allowed.iter().any(|x| x == a))
    {
        tracer.note(
            &doc,
            "oidc.allowedAudiences",
            format!("allows {allowed:?}; the token's aud is {token_audiences:?}"),
        );
        return denied(
            tracer,
            "invalid_grant",
            format!(
                "The audience in ID Token [{}] does not match the expected audience.",
                token_audiences.join(", ")
            ),
        );
    }
    let assertion = Value::Object(claims.clone());
    let mut google = Map::new();
    let mut attribute = Map::new();
    for (target, expr) in &provider.attribute_mapping {
        let value = match expr.evaluate(&[("assertion", &assertion)]) {
            Ok(v) => v,
            Err(why) => {
                tracer.note(&doc, &format!("attributeMapping[{target}]"), why.clone());
                return denied(
                    tracer,
                    "invalid_grant",
                    format!("The attribute mapping for {target} could not be evaluated: {why}."),
                );
            }
        };
        match target.split_once('.') {
            Some(("google", field)) => google.insert(field.to_owned(), value),
            Some(("attribute", field)) => attribute.insert(field.to_owned(), value),
            _ => None,
        };
    }
    let (google, attribute) = (Value::Object(google), Value::Object(attribute));
    if let Some(condition) = &provider.attribute_condition {
        let text = provider
            .attribute_condition_text
            .as_deref()
            .unwrap_or_default();
        match condition.holds(&[
            ("assertion", &assertion),
            ("google", &google),
            ("attribute", &attribute),
        ]) {
            Ok(true) => {
                tracer.note(&doc, "attributeCondition", format!("`{text}` holds"));
            }
            outcome => {
                let why = match outcome {
                    Err(e) => e,
                    _ => "is false".into(),
                };
                tracer.note(
                    &doc,
                    "attributeCondition",
                    format!("`{text}` rejects the token: {why}"),
                );
                return denied(
                    tracer,
                    "unauthorized_client",
                    "The given credential is rejected by the attribute condition.".into(),
                );
            }
        }
    }
    let Some(subject) = google.get("subject").and_then(Value::as_str) else {
        tracer.note(
            &doc,
            "attributeMapping[google.subject]",
            "does not map to a string",
        );
        return denied(
            tracer,
            "invalid_grant",
            "The mapped google.subject is not a string.".into(),
        );
    };
    let pool = pool_of(&provider.name).unwrap_or_default();
    let mut principal_sets = vec![format!("principalSet://iam.googleapis.com/{pool}/*")];
    if let Value::Object(attrs) = &attribute {
        for (name, value) in attrs {
            if let Some(v) = value.as_str() {
                principal_sets.push(format!(
                    "principalSet://iam.googleapis.com/{pool}/attribute.{name}/{v}"
                ));
            }
        }
    }
    if let Some(groups) = google.get("groups").and_then(Value::as_array) {
        for g in groups.iter().filter_map(Value::as_str) {
            principal_sets.push(format!(
                "principalSet://iam.googleapis.com/{pool}/group/{g}"
            ));
        }
    }
    let principal = format!("principal://iam.googleapis.com/{pool}/subject/{subject}");
    let step = tracer.note(
        &doc,
        "exchange",
        format!("issues a federated token for {principal}"),
    );
    Exchange {
        decision: tracer.allow(step),
        error: None,
        federated: Some(Federated {
            principal,
            principal_sets,
        }),
    }
}

#[cfg(test)]
mod tests;
