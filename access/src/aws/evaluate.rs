//! AWS's decision for the two kinds of call EKM makes (IAM User Guide, "Policy evaluation
//! logic"; KMS Developer Guide, "Key policies"):
//! - **`sts:AssumeRole`**: the role's trust policy must allow the caller, with its conditions
//!   (`sts:ExternalId`); an explicit Deny wins. The caller's own IAM allowance is the operator's
//!   side and is taken as given.
//! - **`kms:Encrypt` / `kms:Decrypt`** by a role session: an explicit Deny in the key policy or
//!   the role's policies wins; otherwise the key policy must allow the role (or session) itself,
//!   or allow the account — which only delegates to IAM, so a role policy must then allow too.
//!
//! Denials carry AWS's message (`User: ARN is not authorized to perform: ACTION on resource: ARN
//! because no … policy allows the ACTION action` / `with an explicit deny in a … policy`).

use crate::aws::condition::{Context, Outcome};
use crate::aws::policy::{Effect, Policy, PolicyKind, Principal, PrincipalName, Statement};
use crate::decision::{Decision, Step, Tracer, Verdict};

/// Who makes a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's account id.
    pub account: String,
    /// The role or user ARN (`arn:aws:iam::ACCT:role/NAME`).
    pub arn: String,
    /// For a role session, the session ARN (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`).
    pub session: Option<String>,
}

impl Caller {
    /// The ARN AWS names in denials: the session's, else the role's or user's.
    pub fn shown(&self) -> &str {
        self.session.as_deref().unwrap_or(&self.arn)
    }
}

/// One call to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The action (`kms:Decrypt`, `sts:AssumeRole`).
    pub action: &'a str,
    /// The resource ARN (the key's, or the role's).
    pub resource: &'a str,
    /// Who calls.
    pub caller: &'a Caller,
    /// The request context (condition keys).
    pub context: &'a Context,
}

/// A named document for the trace (`trust policy of role/ekm`, `role policy EkmKms`).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// How the trace names the document.
    pub name: &'a str,
    /// The document.
    pub policy: &'a Policy,
}

/// How a statement's principal names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grantee {
    /// The caller itself (its role, session or user ARN), or anyone.
    Caller,
    /// The caller's account: delegation to the account's IAM policies.
    Account,
}

/// Whether a statement applies to a request, and through whom.
enum Applies {
    Yes(Grantee),
    No,
}

fn principal_match(principal: &Option<Principal>, caller: &Caller) -> Option<Grantee> {
    match principal {
        None | Some(Principal::Anyone) => Some(Grantee::Caller),
        Some(Principal::Named(names)) => {
            let direct = names.iter().any(|n| match n {
                PrincipalName::Arn(arn) => {
                    *arn == caller.arn || Some(arn) == caller.session.as_ref()
                }
                _ => false,
            });
            let account = names
                .iter()
                .any(|n| matches!(n, PrincipalName::Account(a) if *a == caller.account));
            if direct {
                Some(Grantee::Caller)
            } else if account {
                Some(Grantee::Account)
            } else {
                None
            }
        }
    }
}

/// Decides whether `st` applies to `req`, noting why in the trace.
fn applies(doc: &str, st: &Statement, req: &Request<'_>, tracer: &mut Tracer) -> (Applies, Step) {
    let skip = |tracer: &mut Tracer, why: &dyn Fn() -> String| {
        (Applies::No, tracer.note_with(doc, &st.label, why))
    };
    if !st.actions.matches(req.action, true) {
        return skip(tracer, &|| {
            format!("does not apply: its actions do not cover {}", req.action)
        });
    }
    if let Some(resources) = &st.resources
        && !resources.matches(req.resource, false)
    {
        return skip(tracer, &|| {
            format!(
                "does not apply: its resources do not cover {}",
                req.resource
            )
        });
    }
    let Some(grantee) = principal_match(&st.principal, req.caller) else {
        return skip(tracer, &|| {
            format!(
                "does not apply: its principal does not name {}",
                req.caller.shown()
            )
        });
    };
    for condition in &st.conditions {
        match condition.evaluate(req.context) {
            Outcome::Holds => {}
            Outcome::Fails(why) => return skip(tracer, &|| format!("does not apply: {why}")),
            Outcome::Unknown(why) if st.effect == Effect::Allow => {
                return skip(tracer, &|| {
                    format!("grants nothing the lab can prove: {why}")
                });
            }
            Outcome::Unknown(why) => {
                let step =
                    tracer.note_with(doc, &st.label, || format!("denies, taken to apply: {why}"));
                return (Applies::Yes(grantee), step);
            }
        }
    }
    let step = tracer.note_with(doc, &st.label, || {
        let verb = if st.effect == Effect::Allow {
            "allows"
        } else {
            "denies"
        };
        let whom = match grantee {
            Grantee::Caller => req.caller.shown().to_owned(),
            Grantee::Account => format!(
                "account {} (delegated to its IAM policies)",
                req.caller.account
            ),
        };
        format!("{verb} {} for {whom}", req.action)
    });
    (Applies::Yes(grantee), step)
}

/// What the statements of several documents said, in one pass.
#[derive(Default)]
struct Tally {
    deny: Option<(PolicyKind, Step)>,
    allow_caller: Option<Step>,
    allow_account: Option<Step>,
    allow_identity: Option<Step>,
}

impl Tally {
    fn add(&mut self, doc: Named<'_>, req: &Request<'_>, tracer: &mut Tracer) {
        for st in &doc.policy.statements {
            let (Applies::Yes(grantee), step) = applies(doc.name, st, req, tracer) else {
                continue;
            };
            match (st.effect, doc.policy.kind, grantee) {
                (Effect::Deny, kind, _) => {
                    self.deny.get_or_insert((kind, step));
                }
                (Effect::Allow, PolicyKind::Identity, _) => {
                    self.allow_identity.get_or_insert(step);
                }
                (Effect::Allow, _, Grantee::Caller) => {
                    self.allow_caller.get_or_insert(step);
                }
                (Effect::Allow, _, Grantee::Account) => {
                    self.allow_account.get_or_insert(step);
                }
            }
        }
    }
}

/// AWS's denial: `User: ARN is not authorized to perform: ACTION on resource: ARN …`, with an
/// explicit deny in `kind`'s document (when `by` is the denying statement) or because no document
/// of `kind` allows the action.
fn deny(tracer: Tracer, req: &Request<'_>, kind: PolicyKind, by: Option<Step>) -> Decision {
    let head = format!(
        "User: {} is not authorized to perform: {} on resource: {}",
        req.caller.shown(),
        req.action,
        req.resource
    );
    match by {
        Some(step) => {
            let document = match kind {
                PolicyKind::Trust => "the role trust policy",
                PolicyKind::Key => "a resource-based policy",
                PolicyKind::Identity => "an identity-based policy",
            };
            let message = format!("{head} with an explicit deny in {document}");
            tracer.deny(Verdict::ExplicitDeny, Some(step), message)
        }
        None => {
            let message = format!(
                "{head} because no {} allows the {} action",
                kind.wording(),
                req.action
            );
            tracer.deny(Verdict::ImplicitDeny, None, message)
        }
    }
}

/// Decides an `sts:AssumeRole` of the role whose ARN is `req.resource` under its trust policy.
pub fn assume_role(trust: Named<'_>, req: &Request<'_>) -> Decision {
    let mut tracer = Tracer::default();
    let mut tally = Tally::default();
    tally.add(trust, req, &mut tracer);
    if let Some((kind, step)) = tally.deny {
        return deny(tracer, req, kind, Some(step));
    }
    match tally.allow_caller.or(tally.allow_account) {
        Some(step) => tracer.allow(step),
        None => deny(tracer, req, PolicyKind::Trust, None),
    }
}

/// Decides a KMS call on the key whose ARN is `req.resource`, under its key policy and the
/// calling role's identity policies, with the whole trace.
pub fn kms_call(key_policy: Named<'_>, identity: &[Named<'_>], req: &Request<'_>) -> Decision {
    decide_kms(key_policy, identity, req, Tracer::default())
}

/// Whether [`kms_call`] allows the call, without building its trace or messages: the hot path
/// of a server deciding every call (ask [`kms_call`] for the trace of a denial).
pub fn kms_allows(key_policy: Named<'_>, identity: &[Named<'_>], req: &Request<'_>) -> bool {
    decide_kms(key_policy, identity, req, Tracer::quiet()).allowed()
}

fn decide_kms(
    key_policy: Named<'_>,
    identity: &[Named<'_>],
    req: &Request<'_>,
    mut tracer: Tracer,
) -> Decision {
    let mut tally = Tally::default();
    tally.add(key_policy, req, &mut tracer);
    for doc in identity {
        tally.add(*doc, req, &mut tracer);
    }
    if let Some((kind, step)) = tally.deny {
        return deny(tracer, req, kind, Some(step));
    }
    if let Some(step) = tally.allow_caller {
        return tracer.allow(step);
    }
    match (tally.allow_account, tally.allow_identity) {
        (Some(_), Some(identity_step)) => tracer.allow(identity_step),
        (Some(_), None) => deny(tracer, req, PolicyKind::Identity, None),
        (None, _) => deny(tracer, req, PolicyKind::Key, None),
    }
}

#[cfg(test)]
mod tests;
