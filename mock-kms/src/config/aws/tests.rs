//! `access.aws` parsed and seeded: the CLI outputs, keys by any of their names, files beside the
//! config, and every refusal naming its place and JSON path.

use std::sync::Arc;

use ekm_clock::ManualClock;
use serde_json::{Value, json};

use super::*;
use crate::access::service_caller;
use crate::config::LabConfig;
use crate::keys::KeySpec;

fn lab_of(tenant: Tenant) -> Kms {
    let clock = Arc::new(ManualClock::default());
    Kms::new(clock, tenant, "https://127.0.0.1:1".into())
}

fn lab() -> Kms {
    lab_of(Tenant::default())
}

/// A trust policy letting the EKM service assume the role with no ExternalId condition.
fn open_trust(tenant: &Tenant) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": tenant.aws.service_principal_arn}, "Action": "sts:AssumeRole"}]})
}

/// `aws iam get-role` output for role `name` with `trust`.
fn get_role(name: &str, trust: &Value) -> Value {
    json!({"Role": {"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLE",
        "Arn": format!("arn:aws:iam::111122223333:role/{name}"),
        "CreateDate": "2026-01-01T00:00:00+00:00", "AssumeRolePolicyDocument": trust,
        "MaxSessionDuration": 3600}})
}

/// A key policy granting the role Encrypt and denying it Decrypt.
fn deny_decrypt(tenant: &Tenant) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": tenant.aws.role_arn},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
        {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "kms:Decrypt", "Resource": "*"}]})
}

/// `aws kms get-key-policy` output: the policy as its JSON text.
fn get_key_policy(policy: &Value) -> Value {
    json!({"Policy": policy.to_string(), "PolicyName": "default"})
}

fn seed(lab: &Kms, yaml: &str) -> Result<(), String> {
    let config = LabConfig::parse(yaml).map_err(|e| e.to_string())?;
    config.seed(lab).map_err(|e| e.to_string())
}

/// Seeds a new lab of the config's own tenant, as the mock does at start.
fn seed_new(yaml: &str) -> Result<(), String> {
    let config = LabConfig::parse(yaml).map_err(|e| e.to_string())?;
    config
        .seed(&lab_of(config.tenant.clone()))
        .map_err(|e| e.to_string())
}

#[test]
fn roles_role_policies_and_key_policies_by_name_id_or_arn_replace_the_demo_ones() {
    let tenant = Tenant::default();
    let lab = lab();
    let b = lab
        .create_key("aws-b", Cloud::Aws, KeySpec::SymmetricDefault)
        .unwrap();
    let c = lab
        .create_key("aws-c", Cloud::Aws, KeySpec::SymmetricDefault)
        .unwrap();
    let uuid = c.id.rsplit('/').next().unwrap();
    let inline_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "kms:Encrypt", "Resource": "*"}]});
    let role_policy = json!({"RoleName": "ekm-demo", "PolicyName": "encrypt-only", "PolicyDocument": inline_policy});
    let yaml = format!(
        "keys:\n  - {{ name: aws-main, provider: aws }}\naccess:\n  aws:\n    roles: [ {} ]\n    role_policies: [ {role_policy} ]\n    key_policies:\n      aws-main: {}\n      {}: {}\n      {uuid}: {}\n",
        get_role("ekm-demo", &open_trust(&tenant)),
        get_key_policy(&deny_decrypt(&tenant)),
        b.id,
        deny_decrypt(&tenant),
        deny_decrypt(&tenant),
    );
    seed(&lab, &yaml).unwrap();
    lab.read(|state| {
        let aws = &state.aws_access;
        assert_eq!(aws.trust_policy.json(), &open_trust(&tenant));
        assert_eq!(aws.role_policies["encrypt-only"].json(), &inline_policy);
        for name in ["aws-main", "aws-b", "aws-c"] {
            assert_eq!(
                aws.key_policies[name].json(),
                &deny_decrypt(&tenant),
                "{name}"
            );
        }
        // No ExternalId condition: the service gets in with anyone's ExternalId.
        let service = service_caller(&tenant);
        let wrong = aws.assume_role(&tenant.aws.role_arn, &service, Some("proj_other"));
        assert!(wrong.allowed(), "{wrong:?}");
    });
    for name in ["aws-main", "aws-b", "aws-c"] {
        let info = lab.key_info(name).unwrap();
        assert_eq!(
            (info.access, info.trust),
            (false, true),
            "{name}: Decrypt denied"
        );
    }
}

#[test]
fn documents_from_files_are_read_beside_the_config() {
    let tenant = Tenant::default();
    let dir = tempfile::tempdir().unwrap();
    let trust = open_trust(&tenant);
    std::fs::write(
        dir.path().join("role.json"),
        get_role("ekm-demo", &trust).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("key-policy.json"),
        get_key_policy(&deny_decrypt(&tenant)).to_string(),
    )
    .unwrap();
    let yaml = "keys:\n  - { name: aws-main, provider: aws }\naccess:\n  aws:\n    roles: [ role.json ]\n    key_policies: { aws-main: key-policy.json }\n";
    std::fs::write(dir.path().join("lab.yaml"), yaml).unwrap();
    let config = LabConfig::from_file(&dir.path().join("lab.yaml")).unwrap();
    let lab = lab();
    config.seed(&lab).unwrap();
    lab.read(|state| {
        assert_eq!(state.aws_access.trust_policy.json(), &trust);
        assert_eq!(
            state.aws_access.key_policies["aws-main"].json(),
            &deny_decrypt(&tenant)
        );
    });

    let missing = "access:\n  aws:\n    roles: [ /no/such/role.json ]\n";
    let error = seed_new(missing).unwrap_err();
    assert!(
        error.contains("access.aws.roles[0]: cannot read /no/such/role.json"),
        "{error}"
    );
}

#[test]
fn bad_documents_are_refused_naming_their_place_and_json_path() {
    let tenant = Tenant::default();
    let trust = open_trust(&tenant);
    let keys =
        "keys:\n  - { name: aws-main, provider: aws }\n  - { name: gcp-main, provider: gcp }\n";
    let mut bad_effect = deny_decrypt(&tenant);
    bad_effect["Statement"][1]["Effect"] = json!("Maybe");
    let mut boundary = get_role("ekm-demo", &trust);
    boundary["Role"]["PermissionsBoundary"] = json!({"PermissionsBoundaryArn": "arn:x"});
    let mut other_arn = get_role("ekm-demo", &trust);
    other_arn["Role"]["Arn"] = json!("arn:aws:iam::999999999999:role/ekm-demo");
    let with_principal = json!({"RoleName": "ekm-demo", "PolicyName": "p", "PolicyDocument":
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
         "Action": "kms:Encrypt", "Resource": "*"}]}});
    let other_role = json!({"RoleName": "other", "PolicyName": "p", "PolicyDocument":
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt",
         "Resource": "*"}]}});
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "{keys}access:\n  aws:\n    key_policies:\n      aws-main: {}\n",
                get_key_policy(&bad_effect)
            ),
            "access.aws.key_policies.aws-main: $.Policy.Statement[1].Effect: `Maybe` is not an effect",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    key_policies:\n      aws-main: {}\n",
                json!({"Policy": "{not json"})
            ),
            "access.aws.key_policies.aws-main: $.Policy: not valid JSON",
        ),
        (
            format!("{keys}access:\n  aws:\n    key_policies:\n      aws-main: {other_role}\n"),
            "access.aws.key_policies.aws-main: $: a key policy is the policy document or what `aws kms get-key-policy` prints ({\"Policy\": \"…\"}); this holds a role's document at $.PolicyDocument",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    key_policies:\n      nope: {}\n",
                deny_decrypt(&tenant)
            ),
            "access.aws.key_policies.nope: there is no AWS key `nope` (give its lab name, key id or key ARN)",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    key_policies:\n      gcp-main: {}\n",
                deny_decrypt(&tenant)
            ),
            "access.aws.key_policies.gcp-main: key `gcp-main` is a gcp key, not an AWS key",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    roles: [ {} ]\n",
                get_role("other", &trust)
            ),
            "access.aws.roles[0]: $.Role.RoleName: there is no role named `other`; the lab's role is `ekm-demo`",
        ),
        (
            format!("{keys}access:\n  aws:\n    roles: [ {boundary} ]\n"),
            "access.aws.roles[0]: $.Role.PermissionsBoundary: permissions boundaries are not modelled",
        ),
        (
            format!("{keys}access:\n  aws:\n    roles: [ {other_arn} ]\n"),
            "access.aws.roles[0]: $.Role.Arn: `arn:aws:iam::999999999999:role/ekm-demo` is not the lab's role ARN",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    roles: [ {} ]\n",
                json!({"Role": {"RoleName": "ekm-demo", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}}})
            ),
            "access.aws.roles[0]: $.Role.AssumeRolePolicyDocument.Statement[0]",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    roles: [ {0}, {0} ]\n",
                get_role("ekm-demo", &trust)
            ),
            "access.aws.roles[1]: $.Role.RoleName: `ekm-demo` is also given at access.aws.roles[0]",
        ),
        (
            format!(
                "tenant:\n  sessions: {{ aws: 7200 }}\n{keys}access:\n  aws:\n    roles: [ {} ]\n",
                get_role("ekm-demo", &trust)
            ),
            "access.aws.roles[0]: $.Role.MaxSessionDuration: 3600 s is shorter than the sessions the engine asks for (tenant.sessions.aws: 7200 s)",
        ),
        (
            format!(
                "keys:\n  - {{ name: aws-main, provider: aws, trust: false }}\naccess:\n  aws:\n    roles: [ {} ]\n",
                get_role("ekm-demo", &trust)
            ),
            "access.aws.roles[0]: key `aws-main` says `trust: false`",
        ),
        (
            format!(
                "keys:\n  - {{ name: aws-main, provider: aws, access: false }}\naccess:\n  aws:\n    key_policies:\n      aws-main: {}\n",
                deny_decrypt(&tenant)
            ),
            "access.aws.key_policies.aws-main: key `aws-main` says `access: false`",
        ),
        (
            format!("{keys}access:\n  aws:\n    role_policies: [ {with_principal} ]\n"),
            "access.aws.role_policies[0]: $.PolicyDocument.Statement[0].Principal: an identity-based policy cannot name a Principal",
        ),
        (
            format!("{keys}access:\n  aws:\n    role_policies: [ {other_role} ]\n"),
            "access.aws.role_policies[0]: $.RoleName: there is no role named `other`",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    role_policies: [ {} ]\n",
                json!({"RoleName": "ekm-demo", "PolicyName": "p"})
            ),
            "access.aws.role_policies[0]: $: an `aws iam get-role-policy` output needs `PolicyDocument`",
        ),
        (
            format!(
                "{keys}access:\n  aws:\n    attached_policies: [ arn:aws:iam::aws:policy/x ]\n"
            ),
            "unknown field `attached_policies`, expected one of `roles`, `role_policies`, `key_policies`",
        ),
    ];
    for (yaml, expected) in cases {
        let Err(error) = seed_new(&yaml) else {
            panic!("accepted, expected {expected}:\n{yaml}");
        };
        assert!(error.contains(expected), "{expected}\n  got: {error}");
    }
}
