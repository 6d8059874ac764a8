//! The customer's AWS documents decide EKM's calls end to end, through the real AWS SDK: an
//! ExternalId mismatch is refused at AssumeRole, an explicit Deny in a key policy wins, a policy
//! put with `PutKeyPolicy` survives a restart, and a garbage document in `--state` stops the
//! start naming its field and JSON path. Denials carry the decision's trace in the call log.

mod common;

use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use common::{DEMO_ARN, ROLE, TestLab, code, owner_kms, service_kms, service_kms_with};
use ekm_clock::ManualClock;
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

    let policy = policy_with_deny(&key_policy(&owner).await);
    owner
        .put_key_policy()
        .key_id(DEMO_ARN)
        .policy(&policy)
        .send()
        .await
        .unwrap();
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
