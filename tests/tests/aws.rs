//! The engine's AWS KMS provider (real `aws-sdk-kms` + `aws-config` AssumeRole with ExternalId)
//! against the mock KMS: the shared suite, plus AWS-only behaviours (aliases, ExternalId).

use ekm_engine::config::Config;
use ekm_engine::registration::Cloud;
use ekm_tests::suite::{self, CloudCase, Revocation};

const AWS: CloudCase = CloudCase {
    cloud: Cloud::Aws,
    provider: "aws",
    demo_key: "aws-demo",
    spec: "SYMMETRIC_DEFAULT",
    wrap_op: "Encrypt",
    unwrap_op: "Decrypt",
    throttled_outcome: "ThrottlingException",
    hinted_version: None,
    register_key: register_key_arn,
};

fn register_key_arn(config: &mut Config, created: &serde_json::Value) {
    let aws = config.aws.as_mut().expect("the demo registers AWS");
    aws.key_arn = created["id"].as_str().expect("key ARN").to_owned();
}

#[tokio::test]
async fn round_trip() {
    suite::round_trip(AWS).await;
}

#[tokio::test]
async fn rotation_keeps_old_data_readable() {
    suite::rotation_keeps_old_data_readable(AWS).await;
}

#[tokio::test]
async fn disable_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AWS, Revocation::Disable, "KeyDisabled").await;
}

#[tokio::test]
async fn schedule_deletion_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(
        AWS,
        Revocation::ScheduleDeletion,
        "KeyDestroyed",
    )
    .await;
}

#[tokio::test]
async fn destroy_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AWS, Revocation::Destroy, "KeyDestroyed").await;
}

#[tokio::test]
async fn revoke_access_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AWS, Revocation::RevokeAccess, "AccessDenied")
        .await;
}

#[tokio::test]
async fn revoke_trust_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AWS, Revocation::RevokeTrust, "Authentication")
        .await;
}

#[tokio::test]
async fn alias_swap_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AWS, Revocation::AliasSwap, "InvalidCiphertext")
        .await;
}

#[tokio::test]
async fn switch_key_revokes_old_data() {
    suite::switch_key_revokes_old_data(AWS).await;
}

#[tokio::test]
async fn outage_is_served_from_cache_until_the_ttl() {
    suite::outage_is_served_from_cache_until_the_ttl(AWS).await;
}

#[tokio::test]
async fn throttling_is_retried() {
    suite::throttling_is_retried(AWS).await;
}

#[tokio::test]
async fn a_day_of_traffic() {
    let traffic = suite::a_day_of_traffic(AWS).await;
    eprintln!("aws: {traffic:?}");
}
