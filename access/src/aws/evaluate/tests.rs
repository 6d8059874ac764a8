//! AWS decisions over the documented evaluation rules: allow, implicit deny, explicit deny,
//! delegation to IAM, ExternalId, encryption-context conditions and revoked sessions.

use super::*;
use crate::aws::default_key_policy;

const ACCOUNT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/ekm-customer";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EKM: &str = "arn:aws:iam::999988887777:role/ekm-service";

fn trust(condition: &str) -> Policy {
    Policy::parse(
        PolicyKind::Trust,
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"EkmAssume","Effect":"Allow","Principal":{{"AWS":"{EKM}"}},"Action":"sts:AssumeRole"{condition}}}]}}"#),
    )
    .unwrap()
}

fn ekm() -> Caller {
    Caller {
        account: "999988887777".into(),
        arn: EKM.into(),
        session: None,
    }
}

fn session() -> Caller {
    Caller {
        account: ACCOUNT.into(),
        arn: ROLE.into(),
        session: Some("arn:aws:sts::111122223333:assumed-role/ekm-customer/ekm".into()),
    }
}

fn assume(policy: &Policy, external_id: Option<&str>) -> Decision {
    let mut context = Context::new();
    if let Some(id) = external_id {
        context = context.with("sts:ExternalId", id);
    }
    let req = Request {
        action: "sts:AssumeRole",
        resource: ROLE,
        caller: &ekm(),
        context: &context,
    };
    assume_role(
        Named {
            name: "trust policy of role/ekm-customer",
            policy,
        },
        &req,
    )
}

#[test]
fn external_id_decides_assume_role() {
    let with = trust(r#","Condition":{"StringEquals":{"sts:ExternalId":"proj_demo"}}"#);
    assert!(assume(&with, Some("proj_demo")).allowed());
    let wrong = assume(&with, Some("proj_wrong"));
    assert_eq!(wrong.verdict, Verdict::ImplicitDeny);
    assert_eq!(
        wrong.message.as_deref(),
        Some(
            "User: arn:aws:iam::999988887777:role/ekm-service is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/ekm-customer because no role trust policy allows the sts:AssumeRole action"
        )
    );
    assert!(
        wrong.explain().contains("proj_wrong"),
        "{}",
        wrong.explain()
    );
    assert_eq!(assume(&with, None).verdict, Verdict::ImplicitDeny);
    // without the condition (the confused deputy), any ExternalId gets in
    let without = trust("");
    assert!(assume(&without, Some("someone_else")).allowed());
}

#[test]
fn a_deny_in_the_trust_policy_wins() {
    let policy = Policy::parse(
        PolicyKind::Trust,
        &format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{EKM}"}},"Action":"sts:AssumeRole"}},{{"Sid":"Cut","Effect":"Deny","Principal":"*","Action":"sts:*"}}]}}"#),
    )
    .unwrap();
    let d = assume(&policy, Some("proj_demo"));
    assert_eq!(d.verdict, Verdict::ExplicitDeny);
    assert!(
        d.message
            .unwrap()
            .ends_with("with an explicit deny in the role trust policy")
    );
    assert_eq!(d.decided_by.unwrap().part, "Statement[1] (Sid Cut)");
}

#[test]
fn a_trust_naming_another_principal_or_account_does_not_let_ekm_in() {
    let other = Policy::parse(PolicyKind::Trust, r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}}"#).unwrap();
    assert_eq!(
        assume(&other, Some("proj_demo")).verdict,
        Verdict::ImplicitDeny
    );
    let account = Policy::parse(PolicyKind::Trust, r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"sts:AssumeRole"}}"#).unwrap();
    assert!(assume(&account, None).allowed());
}

fn kms(key_policy: &Policy, identity: &[&Policy], action: &str, context: &Context) -> Decision {
    let names: Vec<Named<'_>> = identity
        .iter()
        .map(|p| Named {
            name: "role policy",
            policy: p,
        })
        .collect();
    let caller = session();
    let req = Request {
        action,
        resource: KEY,
        caller: &caller,
        context,
    };
    kms_call(
        Named {
            name: "key policy",
            policy: key_policy,
        },
        &names,
        &req,
    )
}

fn identity(statements: &str) -> Policy {
    Policy::parse(
        PolicyKind::Identity,
        &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
    )
    .unwrap()
}

#[test]
fn the_default_key_policy_delegates_to_the_role_policy() {
    let key = default_key_policy(ACCOUNT);
    let limited = identity(&format!(
        r#"{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"{KEY}"}}"#
    ));
    let none = Context::new();
    assert!(kms(&key, &[&limited], "kms:Decrypt", &none).allowed());
    let denied = kms(&key, &[], "kms:Decrypt", &none);
    assert_eq!(denied.verdict, Verdict::ImplicitDeny);
    assert!(
        denied
            .message
            .unwrap()
            .ends_with("because no identity-based policy allows the kms:Decrypt action")
    );
    // the role policy names another key
    let elsewhere = identity(
        r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}"#,
    );
    assert_eq!(
        kms(&key, &[&elsewhere], "kms:Decrypt", &none).verdict,
        Verdict::ImplicitDeny
    );
    // encrypt-only policy cannot decrypt
    let encrypt_only = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:Encrypt","Resource":"{KEY}"}}"#
    ));
    assert!(kms(&key, &[&encrypt_only], "kms:Encrypt", &none).allowed());
    assert!(!kms(&key, &[&encrypt_only], "kms:Decrypt", &none).allowed());
}

#[test]
fn without_delegation_an_iam_allow_is_not_enough() {
    let key = Policy::parse(PolicyKind::Key, r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"}}"#).unwrap();
    let allow = identity(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#);
    let d = kms(&key, &[&allow], "kms:Encrypt", &Context::new());
    assert_eq!(d.verdict, Verdict::ImplicitDeny);
    assert!(
        d.message
            .unwrap()
            .ends_with("because no resource-based policy allows the kms:Encrypt action")
    );
    // naming the role in the key policy is enough by itself
    let direct = Policy::parse(PolicyKind::Key, &format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}}}"#)).unwrap();
    assert!(kms(&direct, &[], "kms:Encrypt", &Context::new()).allowed());
}

#[test]
fn an_explicit_deny_anywhere_wins() {
    let key = default_key_policy(ACCOUNT);
    let allow = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:*","Resource":"{KEY}"}}"#
    ));
    let deny =
        identity(r#"{"Sid":"Revoke","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#);
    let d = kms(&key, &[&allow, &deny], "kms:Decrypt", &Context::new());
    assert_eq!(d.verdict, Verdict::ExplicitDeny);
    assert!(
        d.message
            .unwrap()
            .ends_with("with an explicit deny in an identity-based policy")
    );
    assert!(kms(&key, &[&allow, &deny], "kms:Encrypt", &Context::new()).allowed());
}

#[test]
fn encryption_context_conditions_bind_a_grant_to_a_project() {
    let key = default_key_policy(ACCOUNT);
    let bound = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{KEY}","Condition":{{"StringEquals":{{"kms:EncryptionContext:project":"proj_demo"}}}}}}"#
    ));
    let ours = Context::new().with_encryption_context([("project", "proj_demo")]);
    let theirs = Context::new().with_encryption_context([("project", "proj_other")]);
    assert!(kms(&key, &[&bound], "kms:Decrypt", &ours).allowed());
    let d = kms(&key, &[&bound], "kms:Decrypt", &theirs);
    assert!(!d.allowed());
    assert!(d.explain().contains("proj_other"), "{}", d.explain());
}

#[test]
fn revoking_older_sessions_denies_sessions_issued_before() {
    let key = default_key_policy(ACCOUNT);
    let allow = identity(&format!(
        r#"{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"{KEY}"}}"#
    ));
    let revoke = identity(
        r#"{"Sid":"AWSRevokeOlderSessions","Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-12-02T12:00:00Z"}}}"#,
    );
    let old = Context::new().with("aws:TokenIssueTime", "2026-12-02T11:00:00Z");
    let new = Context::new().with("aws:TokenIssueTime", "2026-12-02T12:00:01Z");
    assert_eq!(
        kms(&key, &[&allow, &revoke], "kms:Decrypt", &old).verdict,
        Verdict::ExplicitDeny
    );
    assert!(kms(&key, &[&allow, &revoke], "kms:Decrypt", &new).allowed());
}

#[test]
fn what_the_lab_cannot_evaluate_never_allows_and_a_deny_on_it_applies() {
    let key = default_key_policy(ACCOUNT);
    let vpce = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{KEY}","Condition":{{"StringEquals":{{"aws:SourceVpce":"vpce-1"}}}}}}"#
    ));
    let d = kms(&key, &[&vpce], "kms:Decrypt", &Context::new());
    assert_eq!(d.verdict, Verdict::ImplicitDeny);
    assert!(d.explain().contains("aws:SourceVpce"));
    let allow = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{KEY}"}}"#
    ));
    let deny_ip = identity(
        r#"{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
    );
    assert_eq!(
        kms(&key, &[&allow, &deny_ip], "kms:Decrypt", &Context::new()).verdict,
        Verdict::ExplicitDeny
    );
}

#[test]
fn malformed_documents_are_refused_with_the_path() {
    let cases = [
        (
            PolicyKind::Trust,
            r#"{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
            "$.Statement[0]",
            "Principal",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
            "$.Statement[0].Principal",
            "cannot name",
        ),
        (
            PolicyKind::Key,
            r#"{"Statement":[{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
            "$.Statement[0].Effect",
            "not an effect",
        ),
        (
            PolicyKind::Key,
            r#"{"Version":"2020-01-01","Statement":[]}"#,
            "$.Version",
            "unsupported policy version",
        ),
        (
            PolicyKind::Key,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:role/*"},"Action":"kms:*","Resource":"*"}]}"#,
            "$.Statement[0].Principal.AWS",
            "Invalid principal",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*"}]}"#,
            "$.Statement[0]",
            "Resource",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","NotAction":"kms:X","Resource":"*"}]}"#,
            "$.Statement[0]",
            "both",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":"v"}},"Extra":1}]}"#,
            "$.Statement[0].Extra",
            "unknown field",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statements":[]}"#,
            "$.Statements",
            "unknown field",
        ),
        (PolicyKind::Identity, r#"[1]"#, "$", "object"),
    ];
    for (kind, text, path, why) in cases {
        let err = Policy::parse(kind, text).unwrap_err();
        assert_eq!(err.path, path, "{text}: {err}");
        assert!(err.reason.contains(why), "{text}: {err}");
    }
}
