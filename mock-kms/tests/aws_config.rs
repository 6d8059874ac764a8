//! AWS documents from a `--config` file decide EKM's calls end to end, through the real AWS SDK:
//! a role (as `aws iam get-role` prints it) whose trust policy lacks the ExternalId condition lets
//! a session with another project's ExternalId in, the same role with the condition refuses it,
//! and a key policy (as `aws kms get-key-policy` prints it) with a Deny on `kms:Decrypt` makes
//! Decrypt fail with `AccessDeniedException` while Encrypt works.

mod common;

use aws_sdk_kms::primitives::Blob;
use common::{ROLE, TestLab, code, service_kms_with};
use ekm_mock_kms::tenant::Tenant;
use serde_json::{Value, json};

/// The role EKM assumes as `aws iam get-role` prints it, trusting the service with `condition`.
fn get_role(tenant: &Tenant, condition: Option<Value>) -> Value {
    let mut statement = json!({"Effect": "Allow",
        "Principal": {"AWS": tenant.aws.service_principal_arn}, "Action": "sts:AssumeRole"});
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({"Role": {"Path": "/", "RoleName": "ekm-demo", "Arn": ROLE, "MaxSessionDuration": 3600,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}})
}

/// A mock seeded from a config file beside `role.json` and `key-policy.json`.
async fn lab_with(role: &Value, key_policy: &Value) -> TestLab {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("role.json"), role.to_string()).unwrap();
    std::fs::write(dir.path().join("key-policy.json"), key_policy.to_string()).unwrap();
    let yaml = "keys:\n  - { name: aws-main, provider: aws }\naccess:\n  aws:\n    roles: [ role.json ]\n    key_policies: { aws-main: key-policy.json }\n";
    std::fs::write(dir.path().join("lab.yaml"), yaml).unwrap();
    TestLab::from_config(&dir.path().join("lab.yaml")).await
}

#[tokio::test]
async fn a_configured_trust_without_external_id_lets_another_project_in_and_a_deny_stops_decrypt() {
    let tenant = Tenant::default();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "UseKey", "Effect": "Allow", "Principal": {"AWS": ROLE},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
        {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "kms:Decrypt", "Resource": "*"}]});
    let get_key_policy = json!({"Policy": policy.to_string(), "PolicyName": "default"});
    let with_external_id = json!({"StringEquals": {"sts:ExternalId": tenant.project_id.as_str()}});
    for (condition, let_in) in [(None, true), (Some(with_external_id), false)] {
        let lab = lab_with(&get_role(&tenant, condition), &get_key_policy).await;
        let key = lab.mock.lab().key_info("aws-main").unwrap().id;
        let other_project = service_kms_with(&lab.url(), ROLE, "proj_other").await;
        let sealed = other_project
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"secret"))
            .send()
            .await;
        let assume = lab.outcomes("AssumeRole").await;
        if !let_in {
            assert!(
                sealed.is_err(),
                "the ExternalId condition refuses proj_other"
            );
            assert_eq!(assume, [json!("AccessDenied")]);
            lab.shutdown().await;
            continue;
        }
        assert_eq!(assume, [json!("ok")], "no ExternalId condition: let in");
        let blob = sealed.expect("Encrypt is allowed").ciphertext_blob.unwrap();
        let opened = other_project.decrypt().ciphertext_blob(blob).send().await;
        assert_eq!(code(opened), "AccessDeniedException");
        let calls = lab.calls(0).await;
        let denied = calls
            .iter()
            .find(|c| c["operation"] == "Decrypt")
            .expect("the Decrypt call is logged");
        let trace = denied["trace"].as_str().unwrap_or_default();
        assert!(
            trace.contains("key policy of aws-main") && trace.contains("NoDecrypt"),
            "{denied}"
        );
        lab.shutdown().await;
    }
}
