//! `ekm check` verdicts, one test case per failure the mock can produce: each must fail the
//! right condition, with a hint naming the exact thing to change, and never pass step 1 without
//! a real sign-in.

use std::sync::Arc;

use ekm_console::check::{CloudCheck, Verdict, check_registration};
use ekm_engine::clock::SystemClock;
use ekm_engine::config::Config;
use ekm_engine::registration::Cloud;
use ekm_lab::{EmbeddedLab, LabOptions};
use ekm_vocab::KeyAction;

async fn lab() -> EmbeddedLab {
    EmbeddedLab::start(LabOptions::new(Arc::new(SystemClock::new())))
        .await
        .expect("the lab starts")
}

/// The check of `cloud` under `config`.
async fn check(config: &Config, cloud: Cloud) -> CloudCheck {
    check_registration(config)
        .await
        .into_iter()
        .find(|c| c.cloud == cloud)
        .expect("the cloud is configured")
}

/// Asserts step `n` (1-based) failed with `what` and `hint` fragments, and later steps were not
/// verified.
fn assert_fails(check: &CloudCheck, n: usize, what: &str, hint: &str) {
    let shown = check.to_string();
    match &check.steps[n - 1] {
        Verdict::Failed { what: w, hint: h } => {
            assert!(w.contains(what), "`{what}` not in `{w}`\n{shown}");
            assert!(h.contains(hint), "`{hint}` not in `{h}`\n{shown}");
        }
        other => panic!("step {n} is {other:?}\n{shown}"),
    }
    for step in &check.steps[..n - 1] {
        assert!(step.passed(), "{shown}");
    }
    for step in &check.steps[n..] {
        assert!(matches!(step, Verdict::Unverified(_)), "{shown}");
    }
    assert!(shown.lines().all(|l| l.len() < 400), "{shown}");
    assert!(!shown.contains("SdkBody"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_passes_on_the_demo_tenant() {
    let lab = lab().await;
    for check in check_registration(lab.config()).await {
        assert!(check.steps.iter().all(Verdict::passed), "{check}");
        assert!(check.to_string().contains("signed in"), "{check}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_that_is_down_is_unreachable_not_trusted() {
    let lab = lab().await;
    let config = lab.config().clone();
    lab.shutdown().await;
    for cloud in Cloud::ALL {
        let check = check(&config, cloud).await;
        assert_fails(&check, 1, "cannot reach", "start the KMS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_are_named() {
    let lab = lab().await;
    let mut config = lab.config().clone();
    if let Some(aws) = config.service.aws.as_mut() {
        aws.secret_access_key = "wrong-secret".into();
    }
    if let Some(azure) = config.service.azure.as_mut() {
        azure.client_secret = "wrong-secret".into();
    }
    assert_fails(
        &check(&config, Cloud::Aws).await,
        1,
        "sign-in refused",
        "service.aws.access_key_id / secret_access_key",
    );
    assert_fails(
        &check(&config, Cloud::Azure).await,
        1,
        "sign-in refused",
        "service.azure.client_secret",
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_external_id_or_audience_names_both_values() {
    let lab = lab().await;
    let mut config = lab.config().clone();
    if let Some(aws) = config.aws.as_mut() {
        aws.external_id = Some("proj_wrong".into());
    }
    if let Some(gcp) = config.gcp.as_mut() {
        gcp.allowed_audience = Some("proj_wrong".into());
    }
    assert_fails(
        &check(&config, Cloud::Aws).await,
        1,
        "sign-in refused",
        "the role's trust policy must require sts:ExternalId = proj_demo; the call sent proj_wrong",
    );
    assert_fails(
        &check(&config, Cloud::Gcp).await,
        1,
        "sign-in refused",
        "must allow the audience proj_demo; the token carried proj_wrong",
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_trust_and_a_missing_service_principal_fail_the_sign_in() {
    let lab = lab().await;
    for key in ["aws-demo", "gcp-demo", "azure-demo"] {
        lab.apply(key, KeyAction::RevokeTrust).unwrap();
    }
    let config = lab.config();
    assert_fails(
        &check(config, Cloud::Aws).await,
        1,
        "sign-in refused",
        "sts:ExternalId = proj_demo",
    );
    assert_fails(
        &check(config, Cloud::Gcp).await,
        1,
        "sign-in refused",
        "workload identity provider",
    );
    assert_fails(
        &check(config, Cloud::Azure).await,
        1,
        "sign-in refused",
        "has no service principal for app 11111111-2222-4333-8444-555555555555",
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_key_is_its_own_verdict_after_a_real_sign_in() {
    let lab = lab().await;
    for key in ["aws-demo", "gcp-demo", "azure-demo"] {
        lab.apply(key, KeyAction::Disable).unwrap();
    }
    for cloud in Cloud::ALL {
        let check = check(lab.config(), cloud).await;
        assert_fails(
            &check,
            2,
            "refused: key disabled",
            "the key is disabled: enable it",
        );
        assert!(check.to_string().contains("signed in"), "{check}");
    }
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pending_deletion_says_so() {
    let lab = lab().await;
    for key in ["aws-demo", "gcp-demo", "azure-demo"] {
        lab.apply(key, KeyAction::ScheduleDeletion).unwrap();
    }
    for cloud in Cloud::ALL {
        let check = check(lab.config(), cloud).await;
        // Azure soft-deletes: a deleted key is not found (read while connecting).
        let (what, hint) = match cloud {
            Cloud::Azure => ("Reading the key refused: key not found", "is deleted"),
            _ => ("Encrypt refused", "pending deletion"),
        };
        assert_fails(&check, 2, what, hint);
    }
    lab.shutdown().await;
}

/// The mock models the policy and its assignment as one `access` switch: `revoke-access`
/// stands for both "policy missing" and "policy not assigned".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unassigned_policy_names_the_permission() {
    let lab = lab().await;
    for key in ["aws-demo", "gcp-demo", "azure-demo"] {
        lab.apply(key, KeyAction::RevokeAccess).unwrap();
    }
    let config = lab.config();
    assert_fails(
        &check(config, Cloud::Aws).await,
        2,
        "Encrypt refused",
        "must allow kms:Encrypt for the role",
    );
    assert_fails(
        &check(config, Cloud::Gcp).await,
        2,
        "Encrypt refused",
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    );
    assert_fails(
        &check(config, Cloud::Azure).await,
        2,
        "refused: access denied",
        "Key Vault Crypto User",
    );
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_what_decided_each_condition_and_agrees_with_the_calls() {
    let lab = lab().await;
    lab.apply("gcp-demo", KeyAction::RevokeAccess).unwrap();
    let documents = ekm_console::explain::Documents::find(lab.config(), Some(&lab))
        .await
        .expect("the embedded lab's documents");
    for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
        let verdicts = check(lab.config(), cloud).await;
        let explained = documents.explain(lab.config(), cloud).await.unwrap();
        for (verdict, decision) in verdicts.steps.iter().zip(explained.decisions()) {
            if verdict.passed() {
                assert!(decision.allowed(), "{cloud}: {verdicts}\n{decision:?}");
            }
        }
        let shown = ekm_console::explain::render(&explained);
        assert!(shown.contains("1. sign-in: allowed by "), "{shown}");
        if cloud == Cloud::Gcp {
            assert!(!verdicts.steps[1].passed(), "{verdicts}");
            assert!(shown.contains("2+3. Encrypt: denied"), "{shown}");
            assert!(shown.contains("looked at IAM policy"), "{shown}");
        } else {
            assert!(shown.contains("2+3. Decrypt: allowed by "), "{shown}");
        }
        assert!(shown.lines().all(|l| l.len() < 400), "{shown}");
    }
    lab.shutdown().await;
}
