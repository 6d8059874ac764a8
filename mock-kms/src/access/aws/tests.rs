//! The AWS documents of the demo tenant and the switches as edits of them.

use super::*;
use crate::access::short_trace;
use crate::keys::KeySpec;

fn key(tenant: &Tenant) -> Key {
    let arn = tenant.aws.key_arn(&tenant.aws.demo_key_id);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    Key::generate("aws-demo", Cloud::Aws, arn, KeySpec::SymmetricDefault, now).unwrap()
}

fn demo() -> (Tenant, Key, AwsAccess) {
    let tenant = Tenant::default();
    let key = key(&tenant);
    let access = AwsAccess::from_switches(&tenant, [&key]);
    (tenant, key, access)
}

fn session_call<'a>(
    key: &'a Key,
    caller: &'a Caller,
    context: &'a BTreeMap<String, String>,
) -> KmsCall<'a> {
    KmsCall {
        name: &key.name,
        key_arn: &key.id,
        action: "kms:Decrypt",
        caller,
        encryption_context: context,
        token_issued: None,
    }
}

#[test]
fn the_demo_documents_let_ekm_in_and_the_switches_edit_them() {
    let (tenant, key, mut access) = demo();
    assert_eq!(access.service_allowed(&tenant, &key), (true, true));

    access.set_access(&tenant, &key.name, true);
    assert_eq!(access.service_allowed(&tenant, &key), (false, true));
    access.set_access(&tenant, &key.name, true);
    access.set_access(&tenant, &key.name, false);
    assert_eq!(access.service_allowed(&tenant, &key), (true, true));

    access.set_trust(&tenant, true);
    assert_eq!(access.service_allowed(&tenant, &key), (true, false));
    let service = service_caller(&tenant);
    let role = &tenant.aws.role_arn;
    let project = Some(tenant.project_id.as_str());
    assert!(!access.assume_role(role, &service, project).allowed());
    access.set_trust(&tenant, false);
    assert_eq!(access.service_allowed(&tenant, &key), (true, true));
    assert_eq!(access, demo().2, "restoring gives back the documents");
}

#[test]
fn trust_belongs_to_the_role_not_to_a_key() {
    let (tenant, key, mut access) = demo();
    let mut other = key.clone();
    other.name = "aws-other".into();
    access
        .key_policies
        .insert(other.name.clone(), AwsAccess::demo_key_policy(&tenant));
    access.set_trust(&tenant, true);
    let service = service_caller(&tenant);
    let project = Some(tenant.project_id.as_str());
    let decision = access.assume_role(&tenant.aws.role_arn, &service, project);
    assert_eq!(decision.verdict, ekm_access::Verdict::ExplicitDeny);
    assert!(
        short_trace(&decision).contains(TRUST_REVOKED_SID),
        "{decision:?}"
    );
    for key in [&key, &other] {
        assert_eq!(
            access.service_allowed(&tenant, key),
            (true, false),
            "{}",
            key.name
        );
    }
    let key_policies = access.key_policies.clone();
    access.set_trust(&tenant, false);
    assert_eq!(
        access.key_policies, key_policies,
        "key policies are not trust"
    );
    assert_eq!(access.service_allowed(&tenant, &other), (true, true));
}

#[test]
fn an_external_id_mismatch_is_refused_and_the_trace_says_so() {
    let (tenant, _, access) = demo();
    let service = service_caller(&tenant);
    let role = &tenant.aws.role_arn;
    assert!(
        access
            .assume_role(role, &service, Some(&tenant.project_id))
            .allowed()
    );
    for external_id in [Some("proj_other"), None] {
        let decision = access.assume_role(role, &service, external_id);
        assert!(!decision.allowed());
        assert!(
            short_trace(&decision).contains("sts:ExternalId"),
            "{decision:?}"
        );
        let message = decision.message.unwrap();
        assert!(
            message.contains("because no role trust policy allows the sts:AssumeRole action"),
            "{message}"
        );
    }
    let stranger = Caller {
        arn: "arn:aws:iam::999900000001:role/Other".into(),
        ..service
    };
    assert!(
        !access
            .assume_role(role, &stranger, Some(&tenant.project_id))
            .allowed()
    );
}

#[test]
fn an_explicit_deny_wins_over_the_grant_and_a_role_policy() {
    let (tenant, key, mut access) = demo();
    let allow_all = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]});
    access.role_policies.insert(
        "Everything".into(),
        PolicyDocument::new(PolicyKind::Identity, allow_all).unwrap(),
    );
    let mut policy = access.key_policies[&key.name].json().clone();
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "NoDecryptOutsideTheProject", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:EncryptionContext:ekm:project": "proj_demo"}}}));
    access.key_policies.insert(
        key.name.clone(),
        PolicyDocument::new(PolicyKind::Key, policy).unwrap(),
    );
    let role = role_caller(
        &tenant,
        Some("arn:aws:sts::111122223333:assumed-role/ekm-demo/s"),
    );
    let ours = BTreeMap::from([("ekm:project".to_owned(), "proj_demo".to_owned())]);
    assert_eq!(
        access.kms_call(&tenant, &session_call(&key, &role, &ours)),
        Ok(())
    );
    let theirs = BTreeMap::from([("ekm:project".to_owned(), "proj_other".to_owned())]);
    let denied = access
        .kms_call(&tenant, &session_call(&key, &role, &theirs))
        .unwrap_err();
    assert_eq!(denied.verdict, ekm_access::Verdict::ExplicitDeny);
    assert!(short_trace(&denied).contains("NoDecryptOutsideTheProject"));
    assert!(
        denied
            .message
            .unwrap()
            .ends_with("with an explicit deny in a resource-based policy")
    );
}

#[test]
fn older_switches_become_documents() {
    let tenant = Tenant::default();
    let mut revoked = key(&tenant);
    revoked.access = false;
    revoked.trust = false;
    let access = AwsAccess::from_switches(&tenant, [&revoked]);
    assert_eq!(access.service_allowed(&tenant, &revoked), (false, false));
    let none = AwsAccess::from_switches(&tenant, []);
    assert!(none.key_policies.is_empty());
    // A key without a policy has KMS's default one: it only delegates to IAM, and the role has
    // no IAM policy.
    assert_eq!(none.service_allowed(&tenant, &revoked), (false, true));
}

#[test]
fn a_malformed_document_names_its_path() {
    let bad = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps",
        "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]});
    let error = PolicyDocument::new(PolicyKind::Key, bad).unwrap_err();
    assert!(error.path.starts_with("$.Statement[0]"), "{error}");
}

/// The trace-free `kms_call` answers what the traced `kms_decision` answers — a denial with the
/// very same decision — for documents with and without conditions on each request key, with
/// and without role policies, for both actions, with and without a session issue time.
#[test]
fn kms_call_decides_as_the_traced_decision() {
    use ekm_access::Verdict::{Allow, ExplicitDeny};
    let (tenant, key, demo) = demo();
    let session = "arn:aws:sts::111122223333:assumed-role/ekm-demo/s";
    let role = role_caller(&tenant, Some(session));
    let issued = time::macros::datetime!(2026-06-01 12:00 UTC);
    let deny_when = |condition: Value| {
        json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*",
            "Condition": condition})
    };
    let key_statements = [
        ("demo", None),
        (
            "other project",
            Some(deny_when(
                json!({"StringNotEquals": {"kms:EncryptionContext:ekm:project": "proj_demo"}}),
            )),
        ),
        (
            "other account",
            Some(deny_when(
                json!({"StringNotEquals": {"kms:CallerAccount": "111122223333"}}),
            )),
        ),
        (
            "not the role",
            Some(deny_when(
                json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ekm-*"}}),
            )),
        ),
        (
            "older sessions",
            Some(deny_when(
                json!({"DateLessThan": {"aws:TokenIssueTime": "2026-07-01T00:00:00Z"}}),
            )),
        ),
        (
            "unknown key",
            Some(deny_when(json!({"Bool": {"aws:ViaAWSService": "true"}}))),
        ),
    ];
    let role_policies = [
        ("none", None),
        (
            "decrypt denied",
            Some(json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]})),
        ),
    ];
    let ours = BTreeMap::from([("ekm:project".to_owned(), "proj_demo".to_owned())]);
    let theirs = BTreeMap::from([("ekm:project".to_owned(), "proj_other".to_owned())]);
    let mut verdicts = Vec::new();
    for (statement_name, statement) in &key_statements {
        for (role_name, role_policy) in &role_policies {
            let mut access = demo.clone();
            if let Some(statement) = statement {
                let mut policy = access.key_policies[&key.name].json().clone();
                policy["Statement"]
                    .as_array_mut()
                    .unwrap()
                    .push(statement.clone());
                let policy = PolicyDocument::new(PolicyKind::Key, policy).unwrap();
                access.key_policies.insert(key.name.clone(), policy);
            }
            if let Some(policy) = role_policy {
                let policy = PolicyDocument::new(PolicyKind::Identity, policy.clone()).unwrap();
                access.role_policies.insert("EkmLab".into(), policy);
            }
            for action in ["kms:Encrypt", "kms:Decrypt"] {
                for context in [&ours, &theirs] {
                    for token_issued in [None, Some(issued)] {
                        let call = KmsCall {
                            action,
                            token_issued,
                            ..session_call(&key, &role, context)
                        };
                        let traced = access.kms_decision(&tenant, &call);
                        let case = format!(
                            "{statement_name} / {role_name} / {action} / {context:?} / {token_issued:?}"
                        );
                        match access.kms_call(&tenant, &call) {
                            Ok(()) => assert!(traced.allowed(), "{case}: {traced:?}"),
                            Err(denied) => assert_eq!(*denied, traced, "{case}"),
                        }
                        verdicts.push((case, traced.verdict));
                    }
                }
            }
        }
    }
    let verdict = |case: &str| verdicts.iter().find(|(c, _)| c == case).unwrap().1;
    let ours_text = format!("{ours:?}");
    let theirs_text = format!("{theirs:?}");
    let at = Some(issued);
    for (case, expected) in [
        (
            format!("demo / none / kms:Encrypt / {ours_text} / None"),
            Allow,
        ),
        (
            format!("demo / decrypt denied / kms:Decrypt / {ours_text} / None"),
            ExplicitDeny,
        ),
        (
            format!("other project / none / kms:Encrypt / {theirs_text} / None"),
            ExplicitDeny,
        ),
        (
            format!("other project / none / kms:Encrypt / {ours_text} / None"),
            Allow,
        ),
        (
            format!("other account / none / kms:Decrypt / {ours_text} / None"),
            Allow,
        ),
        (
            format!("not the role / none / kms:Decrypt / {ours_text} / None"),
            Allow,
        ),
        (
            format!("older sessions / none / kms:Encrypt / {ours_text} / {at:?}"),
            ExplicitDeny,
        ),
        (
            format!("older sessions / none / kms:Encrypt / {ours_text} / None"),
            Allow,
        ),
        (
            format!("unknown key / none / kms:Encrypt / {ours_text} / None"),
            ExplicitDeny,
        ),
    ] {
        assert_eq!(verdict(&case), expected, "{case}");
    }
    assert_eq!(verdicts.len(), 96);
}
