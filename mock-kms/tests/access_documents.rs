//! The customer's AWS documents decide EKM's calls end to end, through the real AWS SDK: an
//! ExternalId mismatch is refused at AssumeRole, an explicit Deny in a key policy wins, a policy
//! put with `PutKeyPolicy` survives a restart, and a garbage document in `--state` stops the
//! start naming its field and JSON path. Denials carry the decision's trace in the call log.

mod common;

use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use common::{DEMO_ARN, ROLE, TestLab, code, owner_kms, service_kms, service_kms_with};
use ekm_clock::ManualClock;
use ekm_mock_kms::config::LabConfig;
use ekm_mock_kms::server::{MockKms, Options, ServerError};
use serde_json::{Value, json};

fn with_state(clock: &Arc<ManualClock>, state: &std::path::Path) -> Options {
    Options {
        state_file: Some(state.to_owned()),
        ..Options::ephemeral_with_clock(clock.clone())
    }
}

/// The demo key policy with a Deny of `kms:Decrypt` outside the customer's project.
fn policy_with_deny(current: &str) -> String {
    let mut policy: Value = serde_json::from_str(current).unwrap();
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "OnlyOurProject", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:EncryptionContext:ekm:project": "proj_demo"}}}));
    policy.to_string()
}

/// Puts [`policy_with_deny`] on the demo key with `PutKeyPolicy`, as its owner; returns it.
async fn put_policy_with_deny(owner: &aws_sdk_kms::Client) -> String {
    let policy = policy_with_deny(&key_policy(owner).await);
    owner
        .put_key_policy()
        .key_id(DEMO_ARN)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    policy
}

async fn key_policy(owner: &aws_sdk_kms::Client) -> String {
    let reply = owner
        .get_key_policy()
        .key_id(DEMO_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.policy_name(), Some("default"));
    reply.policy.unwrap()
}

#[tokio::test]
async fn an_external_id_mismatch_is_refused_with_the_trace_in_the_log() {
    let lab = TestLab::start().await;
    let wrong = service_kms_with(&lab.url(), ROLE, "proj_other").await;
    let refused = wrong
        .encrypt()
        .key_id(DEMO_ARN)
        .plaintext(Blob::new(b"x"))
        .send()
        .await;
    assert!(refused.is_err());
    let calls = lab.calls(0).await;
    let assume = calls
        .iter()
        .find(|c| c["operation"] == "AssumeRole")
        .expect("the AssumeRole call is logged");
    assert_eq!(assume["outcome"], "AccessDenied");
    let trace = assume["trace"].as_str().expect("a denial has a trace");
    assert!(
        trace.contains("sts:ExternalId") && trace.contains("proj_other"),
        "{trace}"
    );
    let ok = service_kms(&lab.url()).await;
    ok.encrypt()
        .key_id(DEMO_ARN)
        .plaintext(Blob::new(b"x"))
        .send()
        .await
        .unwrap();
    let allowed: Vec<_> = lab
        .calls(0)
        .await
        .into_iter()
        .filter(|c| c["outcome"] == "ok")
        .collect();
    assert!(
        allowed.iter().all(|c| c.get("trace").is_none()),
        "{allowed:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn an_explicit_deny_put_with_put_key_policy_wins_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    let owner = owner_kms(&lab.url()).await;
    let service = service_kms(&lab.url()).await;
    let seal = |project: &'static str| {
        let service = service.clone();
        async move {
            service
                .encrypt()
                .key_id(DEMO_ARN)
                .plaintext(Blob::new(b"secret"))
                .encryption_context("ekm:project", project)
                .send()
                .await
                .unwrap()
                .ciphertext_blob
                .unwrap()
        }
    };
    let (ours, theirs) = (seal("proj_demo").await, seal("proj_other").await);

    let policy = put_policy_with_deny(&owner).await;
    let open = |blob: Blob, project: &'static str| {
        let service = service.clone();
        async move {
            service
                .decrypt()
                .ciphertext_blob(blob)
                .encryption_context("ekm:project", project)
                .send()
                .await
        }
    };
    assert!(open(ours.clone(), "proj_demo").await.is_ok());
    let denied = open(theirs.clone(), "proj_other").await;
    let message = format!("{:?}", denied.as_ref().err());
    assert_eq!(code(denied), "AccessDeniedException");
    assert!(
        message.contains("explicit deny in a resource-based policy"),
        "{message}"
    );
    let logged = lab.calls(0).await;
    let refusal = logged
        .iter()
        .rev()
        .find(|c| c["operation"] == "Decrypt")
        .unwrap();
    assert!(
        refusal["trace"]
            .as_str()
            .unwrap()
            .contains("OnlyOurProject"),
        "{refusal}"
    );
    lab.shutdown().await;

    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    let owner = owner_kms(&lab.url()).await;
    let service = service_kms(&lab.url()).await;
    assert_eq!(
        serde_json::from_str::<Value>(&key_policy(&owner).await).unwrap(),
        serde_json::from_str::<Value>(&policy).unwrap()
    );
    let denied = service
        .decrypt()
        .ciphertext_blob(theirs)
        .encryption_context("ekm:project", "proj_other")
        .send()
        .await;
    assert_eq!(code(denied), "AccessDeniedException");
    lab.shutdown().await;
}

#[tokio::test]
async fn put_key_policy_refuses_garbage_and_the_service() {
    let lab = TestLab::start().await;
    let owner = owner_kms(&lab.url()).await;
    let before = key_policy(&owner).await;
    for garbage in [
        "{not json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps","Action":"kms:*","Resource":"*","Principal":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Principal":"*","Condition":{"StringLooksLike":{"aws:PrincipalArn":"x"}}}]}"#,
    ] {
        let refused = owner
            .put_key_policy()
            .key_id(DEMO_ARN)
            .policy(garbage)
            .send()
            .await;
        assert_eq!(
            code(refused),
            "MalformedPolicyDocumentException",
            "{garbage}"
        );
    }
    assert_eq!(
        key_policy(&owner).await,
        before,
        "a refused policy changes nothing"
    );
    let service = service_kms(&lab.url()).await;
    let refused = service.get_key_policy().key_id(DEMO_ARN).send().await;
    assert_eq!(code(refused), "AccessDeniedException");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_garbage_document_in_the_state_file_is_refused_at_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    lab.shutdown().await;
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    saved["access"]["aws"]["key_policies"]["aws-demo"]["Statement"][0]["Effect"] = json!("Perhaps");
    std::fs::write(&state, saved.to_string()).unwrap();
    let error = MockKms::start(with_state(&clock, &state))
        .await
        .expect_err("a garbage document stops the start");
    let text = error.to_string();
    assert!(matches!(error, ServerError::State(_)), "{text}");
    assert!(
        text.contains("access.aws.key_policies.aws-demo") && text.contains("$.Statement[0]"),
        "{text}"
    );
}

#[tokio::test]
async fn the_control_api_reads_and_replaces_each_clouds_documents() {
    let lab = TestLab::start().await;
    let switches = |name: &str| {
        let info = lab.mock.lab().key_info(name).unwrap();
        (info.access, info.trust)
    };
    for cloud in ["aws", "gcp", "azure"] {
        let (status, documents) = lab
            .control("GET", &format!("/_mock/v1/access/{cloud}"), None)
            .await;
        assert_eq!(status, 200, "{documents}");
        let (status, again) = lab
            .control(
                "PUT",
                &format!("/_mock/v1/access/{cloud}"),
                Some(documents.clone()),
            )
            .await;
        assert_eq!(
            (status, &again["error"]),
            (200, &Value::Null),
            "{cloud}: {again}"
        );
    }

    // GCP: a provider that admits another subject only; the service's exchange is refused.
    let (_, mut gcp) = lab.control("GET", "/_mock/v1/access/gcp", None).await;
    let provider = gcp["providers"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    gcp["providers"][&provider]["attributeCondition"] = json!("assertion.sub == 'someone-else'");
    assert_eq!(
        lab.control("PUT", "/_mock/v1/access/gcp", Some(gcp.clone()))
            .await
            .0,
        200
    );
    assert_eq!(switches("gcp-demo"), (true, false));

    // Azure: the wrap/unwrap-only role instead of Crypto User: no encrypt/decrypt.
    let (_, mut azure) = lab.control("GET", "/_mock/v1/access/azure", None).await;
    let role =
        "/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6";
    azure["role_assignments"][0]["roleDefinitionId"] = json!(role);
    assert_eq!(
        lab.control("PUT", "/_mock/v1/access/azure", Some(azure.clone()))
            .await
            .0,
        200
    );
    assert_eq!(switches("azure-demo"), (false, true));

    // Bad documents: 400 naming the field and the JSON path, and nothing changes.
    let mut bad_gcp = gcp.clone();
    bad_gcp["providers"][&provider]["attributeCondition"] = json!("request.time > 0");
    let mut bad_azure = azure.clone();
    bad_azure["role_assignments"][0]["scope"] = json!("subscriptions/no-slash");
    let mut bad_aws = lab.control("GET", "/_mock/v1/access/aws", None).await.1;
    bad_aws["role_policies"]["Everything"] = json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEqualsMaybe": {"aws:PrincipalArn": "x"}}}]});
    let cases = [
        ("gcp", bad_gcp, "$.attributeCondition"),
        (
            "azure",
            bad_azure,
            "access.azure.role_assignments[0]: $.scope",
        ),
        (
            "aws",
            bad_aws,
            "access.aws.role_policies.Everything: $.Statement[0].Condition",
        ),
        (
            "aws",
            json!({"trust_policy": {}, "colour": "red"}),
            "unknown field `colour`",
        ),
        ("ibm", json!({}), "ibm"),
    ];
    for (cloud, body, expected) in cases {
        let (status, reply) = lab
            .control("PUT", &format!("/_mock/v1/access/{cloud}"), Some(body))
            .await;
        let error = reply["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{cloud}: {reply}");
        assert!(error.contains(expected), "{cloud}: {error}");
    }
    assert_eq!(switches("gcp-demo"), (true, false));
    assert_eq!(switches("azure-demo"), (false, true));
    lab.shutdown().await;
}

#[tokio::test]
async fn azure_documents_come_from_config_survive_a_restart_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = ekm_mock_kms::tenant::Tenant::default();
    let oid = &tenant.azure.service_object_id;
    let vault = ekm_mock_kms::access::azure::vault_id(&tenant);
    // A vault on the legacy access-policy model: RBAC assignments are ignored there.
    let policies = json!({"id": vault, "properties": {"enableRbacAuthorization": false,
        "accessPolicies": [{"tenantId": tenant.azure.tenant_id, "objectId": oid,
            "permissions": {"keys": ["get", "encrypt", "decrypt"]}}]}});
    std::fs::write(dir.path().join("vault.json"), policies.to_string()).unwrap();
    let yaml = "keys:\n  - { name: azure-main, provider: azure }\naccess:\n  azure:\n    vault: vault.json\n    role_assignments: []\n";
    std::fs::write(dir.path().join("lab.yaml"), yaml).unwrap();
    let config = LabConfig::from_file(&dir.path().join("lab.yaml")).unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let options = Options {
        config: Some(config),
        ..with_state(&clock, &state)
    };
    let lab = TestLab::start_with(options, clock.clone()).await;
    let switches = |lab: &TestLab| {
        let info = lab.mock.lab().key_info("azure-main").unwrap();
        (info.access, info.trust)
    };
    assert_eq!(
        switches(&lab),
        (true, true),
        "the access policy grants encrypt and decrypt"
    );
    lab.mock
        .lab()
        .apply("azure-main", ekm_vocab::KeyAction::RevokeTrust)
        .unwrap();
    lab.shutdown().await;

    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    let (_, azure) = lab.control("GET", "/_mock/v1/access/azure", None).await;
    assert_eq!(
        azure["vault"]["properties"]["enableRbacAuthorization"], false,
        "{azure}"
    );
    assert_eq!(
        switches(&lab),
        (true, false),
        "the service principal stays deleted"
    );
    lab.shutdown().await;

    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    saved["access"]["azure"]["vault"]["properties"]["enableRbacAuthorization"] = json!("yes");
    std::fs::write(&state, saved.to_string()).unwrap();
    let text = common::refusal(with_state(&clock, &state)).await;
    assert!(
        text.contains("access.azure.vault: $.properties.enableRbacAuthorization"),
        "{text}"
    );

    let bad =
        LabConfig::parse("access:\n  azure:\n    service_principals: [ { appId: x } ]\n").unwrap();
    let options = Options {
        config: Some(bad),
        ..Options::ephemeral_with_clock(clock)
    };
    let text = common::refusal(options).await;
    assert!(
        text.contains("access.azure.service_principals[0]") && text.contains("id"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_names_the_deciding_statement_of_each_condition() {
    let lab = TestLab::start().await;
    let owner = owner_kms(&lab.url()).await;
    put_policy_with_deny(&owner).await;
    let explain = |query: String| {
        let lab = &lab;
        async move {
            lab.control("GET", &format!("/_mock/v1/access/{query}"), None)
                .await
        }
    };
    let (status, ours) = explain(format!("aws/explain?key={DEMO_ARN}")).await;
    assert_eq!(status, 200, "{ours}");
    for condition in ["sign_in", "encrypt", "decrypt"] {
        assert_eq!(ours[condition]["verdict"], "allow", "{condition}: {ours}");
    }
    assert!(
        ours["encrypt"]["decided_by"]["part"]
            .as_str()
            .is_some_and(|p| p.contains("AllowEkmService")),
        "{ours}"
    );
    let (_, theirs) = explain(format!(
        "aws/explain?key={DEMO_ARN}&project=proj_other&external_id=proj_other"
    ))
    .await;
    assert_eq!(theirs["decrypt"]["verdict"], "explicit-deny", "{theirs}");
    assert!(
        theirs["decrypt"]["decided_by"]["part"]
            .as_str()
            .is_some_and(|p| p.contains("OnlyOurProject")),
        "{theirs}"
    );
    assert_eq!(
        theirs["encrypt"]["verdict"], "allow",
        "only Decrypt is denied"
    );
    assert_ne!(theirs["sign_in"]["verdict"], "allow", "{theirs}");
    // The lint sees the customer's documents: the default key policy's delegation to IAM.
    assert!(
        ours["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["document"] == "key policy of aws-demo")),
        "{ours}"
    );

    let (status, gcp) = explain("gcp/explain?key=gcp-demo&audience=someone-else".into()).await;
    assert_eq!(status, 200, "{gcp}");
    assert_eq!(gcp["sign_in"]["verdict"], "implicit-deny", "{gcp}");
    let (status, azure) = explain("azure/explain?key=azure-demo".into()).await;
    assert_eq!(
        (status, &azure["decrypt"]["verdict"]),
        (200, &json!("allow")),
        "{azure}"
    );

    for (query, expected) in [
        ("aws/explain", 400),
        ("aws/explain?key=aws-demo&colour=red", 400),
        ("aws/explain?key=gcp-demo", 404),
        ("awz/explain?key=aws-demo", 400),
    ] {
        let (status, reply) = explain(query.into()).await;
        assert_eq!(status, expected, "{query}: {reply}");
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{reply}"
        );
    }
    lab.shutdown().await;
}
