//! AWS KMS and STS end to end with the real `aws-sdk-kms` and `aws-config` (AssumeRole with
//! ExternalId): every operation, every denial path, trust revocation, rotation, alias swap and
//! each fault kind in AWS's dialect.

mod common;

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use common::{DEMO_ARN, ROLE, TestLab, code, owner_kms, service_kms, service_kms_with, static_kms};
use ekm_clock::{Clock, Stopwatch};
use serde_json::json;

async fn encrypt(client: &aws_sdk_kms::Client, key: &str, plaintext: &[u8]) -> Vec<u8> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext")
        .into_inner()
}

async fn decrypt(client: &aws_sdk_kms::Client, blob: &[u8]) -> Vec<u8> {
    client
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .send()
        .await
        .expect("decrypt")
        .plaintext
        .expect("plaintext")
        .into_inner()
}

#[tokio::test]
async fn service_encrypts_and_decrypts_with_every_key_id_form_and_context() {
    let lab = TestLab::start().await;
    let kms = service_kms(&lab.url()).await;
    let uuid = DEMO_ARN.rsplit('/').next().unwrap();
    for key_id in [
        "alias/ekm-demo",
        "arn:aws:kms:us-east-1:111122223333:alias/ekm-demo",
        DEMO_ARN,
        uuid,
    ] {
        let out = kms
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(b"dek bytes"))
            .encryption_context("project", "proj_demo")
            .send()
            .await
            .expect("encrypt");
        assert_eq!(
            out.key_id(),
            Some(DEMO_ARN),
            "reply KeyId is the ARN for {key_id}"
        );
        let blob = out.ciphertext_blob.unwrap();
        let plain = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("project", "proj_demo")
            .send()
            .await
            .expect("decrypt");
        assert_eq!(plain.plaintext.unwrap().as_ref(), b"dek bytes");
        assert_eq!(plain.key_id.as_deref(), Some(DEMO_ARN));
        let with_key = kms
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(blob.clone())
            .encryption_context("project", "proj_demo")
            .send()
            .await;
        assert!(with_key.is_ok(), "decrypt naming {key_id}");
        let wrong_context = kms
            .decrypt()
            .ciphertext_blob(blob)
            .encryption_context("project", "other")
            .send()
            .await;
        assert_eq!(code(wrong_context), "InvalidCiphertextException");
    }
    let too_big = kms
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await;
    assert_eq!(code(too_big), "ValidationException");
    lab.shutdown().await;
}

#[tokio::test]
async fn decrypt_honours_key_id() {
    let lab = TestLab::start().await;
    let owner = owner_kms(&lab.url()).await;
    let other = owner.create_key().send().await.expect("create key");
    let other_arn = other.key_metadata.unwrap().arn.unwrap();
    let blob = encrypt(&owner, "alias/ekm-demo", b"x").await;
    let incorrect = owner
        .decrypt()
        .key_id(&other_arn)
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await;
    assert_eq!(code(incorrect), "IncorrectKeyException");
    let missing = owner
        .decrypt()
        .key_id("11111111-2222-3333-4444-555555555555")
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await;
    assert_eq!(code(missing), "NotFoundException");
    let garbage = owner
        .decrypt()
        .ciphertext_blob(Blob::new(b"not a ciphertext".to_vec()))
        .send()
        .await;
    assert_eq!(code(garbage), "InvalidCiphertextException");
    lab.shutdown().await;
}

#[tokio::test]
async fn owner_manages_keys_rotations_and_aliases() {
    let lab = TestLab::start().await;
    let owner = owner_kms(&lab.url()).await;
    let service = service_kms(&lab.url()).await;

    let created = owner.create_key().send().await.expect("create");
    let meta = created.key_metadata.unwrap();
    let new_arn = meta.arn.clone().unwrap();
    assert_eq!(meta.key_state.unwrap().as_str(), "Enabled");
    let described = owner.describe_key().key_id(&new_arn).send().await.unwrap();
    assert_eq!(described.key_metadata.unwrap().key_id, meta.key_id);

    // Rotation: old ciphertext still decrypts.
    let old = encrypt(&service, "alias/ekm-demo", b"old").await;
    let rotated = owner
        .rotate_key_on_demand()
        .key_id("alias/ekm-demo")
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.key_id(), Some(DEMO_ARN));
    let rotations = owner
        .list_key_rotations()
        .key_id(DEMO_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(decrypt(&service, &old).await, b"old");

    // Disable / enable.
    owner.disable_key().key_id(DEMO_ARN).send().await.unwrap();
    let disabled = service
        .encrypt()
        .key_id(DEMO_ARN)
        .plaintext(Blob::new(b"x"))
        .send()
        .await;
    assert_eq!(code(disabled), "DisabledException");
    owner.enable_key().key_id(DEMO_ARN).send().await.unwrap();
    encrypt(&service, DEMO_ARN, b"x").await;

    // Aliases: create, list, swap.
    owner
        .create_alias()
        .alias_name("alias/second")
        .target_key_id(&new_arn)
        .send()
        .await
        .unwrap();
    let dup = owner
        .create_alias()
        .alias_name("alias/second")
        .target_key_id(DEMO_ARN)
        .send()
        .await;
    assert_eq!(code(dup), "AlreadyExistsException");
    let aliases = owner.list_aliases().send().await.unwrap();
    let names: Vec<_> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/ekm-demo", "alias/second"]);
    owner
        .update_alias()
        .alias_name("alias/ekm-demo")
        .target_key_id(&new_arn)
        .send()
        .await
        .unwrap();
    let swapped = service
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(b"y"))
        .send()
        .await
        .unwrap();
    assert_eq!(swapped.key_id(), Some(new_arn.as_str()));
    let via_alias = service
        .decrypt()
        .key_id("alias/ekm-demo")
        .ciphertext_blob(Blob::new(old))
        .send()
        .await;
    assert_eq!(code(via_alias), "IncorrectKeyException");
    let missing_alias = owner
        .update_alias()
        .alias_name("alias/none")
        .target_key_id(&new_arn)
        .send()
        .await;
    assert_eq!(code(missing_alias), "NotFoundException");

    // Data keys (the owner may; the service's policy does not allow it).
    let data_key = owner
        .generate_data_key()
        .key_id(&new_arn)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext.unwrap().as_ref().len(), 32);
    assert_eq!(
        decrypt(&owner, data_key.ciphertext_blob.unwrap().as_ref())
            .await
            .len(),
        32
    );

    // Deletion: pending, then destroyed on the lab clock.
    let scheduled = owner
        .schedule_key_deletion()
        .key_id(&new_arn)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert!(scheduled.deletion_date.is_some());
    let pending = service
        .encrypt()
        .key_id(&new_arn)
        .plaintext(Blob::new(b"z"))
        .send()
        .await;
    assert_eq!(code(pending), "KMSInvalidStateException");
    lab.clock.advance(Duration::from_secs(8 * 24 * 3600));
    // Eight lab days on, the old session has expired: sign in again.
    let service = service_kms(&lab.url()).await;
    let destroyed = service
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(b"z"))
        .send()
        .await;
    assert_eq!(code(destroyed), "KMSInvalidStateException");
    let info = lab.control("GET", "/_mock/v1/keys", None).await.1;
    let states: Vec<_> = info
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].clone())
        .collect();
    assert!(states.contains(&json!("destroyed")));
    lab.shutdown().await;
}

#[tokio::test]
async fn service_policy_allows_encrypt_and_decrypt_only() {
    let lab = TestLab::start().await;
    let service = service_kms(&lab.url()).await;
    assert_eq!(
        code(service.describe_key().key_id(DEMO_ARN).send().await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(service.disable_key().key_id(DEMO_ARN).send().await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(service.create_key().send().await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(service.list_aliases().send().await),
        "AccessDeniedException"
    );
    let data_key = service
        .generate_data_key()
        .key_id(DEMO_ARN)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(data_key), "AccessDeniedException");
    lab.shutdown().await;
}

#[tokio::test]
async fn denials_wrong_external_id_trust_policy_keys_and_states() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let plain = Blob::new(b"x");

    let wrong_external = service_kms_with(&url, ROLE, "proj_other").await;
    assert!(
        wrong_external
            .encrypt()
            .key_id(DEMO_ARN)
            .plaintext(plain.clone())
            .send()
            .await
            .is_err()
    );
    let wrong_role =
        service_kms_with(&url, "arn:aws:iam::111122223333:role/other", "proj_demo").await;
    assert!(
        wrong_role
            .encrypt()
            .key_id(DEMO_ARN)
            .plaintext(plain.clone())
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        lab.outcomes("AssumeRole").await,
        [json!("AccessDenied"), json!("AccessDenied")]
    );

    let unknown = static_kms(&url, "AKIAUNKNOWN000000000", "whatever").await;
    assert_eq!(
        code(
            unknown
                .encrypt()
                .key_id(DEMO_ARN)
                .plaintext(plain.clone())
                .send()
                .await
        ),
        "UnrecognizedClientException"
    );
    let bad_secret = static_kms(&url, "AKIAEKMLABCUSTOMER01", "wrong-secret").await;
    assert_eq!(
        code(
            bad_secret
                .encrypt()
                .key_id(DEMO_ARN)
                .plaintext(plain.clone())
                .send()
                .await
        ),
        "InvalidSignatureException"
    );
    let raw_service = static_kms(&url, "AKIAEKMLABSERVICE001", "ekm-lab-service-secret").await;
    assert_eq!(
        code(
            raw_service
                .encrypt()
                .key_id(DEMO_ARN)
                .plaintext(plain.clone())
                .send()
                .await
        ),
        "AccessDeniedException"
    );

    let service = service_kms(&url).await;
    lab.action("aws-demo", "revoke-access").await;
    assert_eq!(
        code(
            service
                .encrypt()
                .key_id(DEMO_ARN)
                .plaintext(plain.clone())
                .send()
                .await
        ),
        "AccessDeniedException"
    );
    lab.action("aws-demo", "restore-access").await;
    encrypt(&service, DEMO_ARN, b"x").await;

    lab.action("aws-demo", "revoke-trust").await;
    let after_revoke = service_kms(&url).await;
    assert!(
        after_revoke
            .encrypt()
            .key_id(DEMO_ARN)
            .plaintext(plain.clone())
            .send()
            .await
            .is_err()
    );
    lab.action("aws-demo", "restore-trust").await;

    let service = service_kms(&url).await;
    for (action, expected) in [
        ("disable", "DisabledException"),
        ("schedule-deletion", "KMSInvalidStateException"),
        ("destroy", "KMSInvalidStateException"),
    ] {
        lab.action("aws-demo", action).await;
        let refused = service
            .encrypt()
            .key_id(DEMO_ARN)
            .plaintext(plain.clone())
            .send()
            .await;
        assert_eq!(code(refused), expected, "encrypt after {action}");
    }
    lab.shutdown().await;
}

/// The error code and message of a refused decrypt of `blob`.
async fn refused_decrypt(client: &aws_sdk_kms::Client, blob: &[u8]) -> (String, String) {
    use aws_sdk_kms::error::ProvideErrorMetadata as _;
    let error = client
        .decrypt()
        .ciphertext_blob(Blob::new(blob.to_vec()))
        .send()
        .await
        .expect_err("refused");
    (
        error.code().unwrap_or_default().to_owned(),
        error.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn revoked_trust_leaves_an_existing_session_to_its_lab_expiry() {
    let lab = TestLab::start().await;
    let service = service_kms(&lab.url()).await;
    let blob = encrypt(&service, "alias/ekm-demo", b"secret").await;
    lab.action("aws-demo", "revoke-trust").await;
    // New sessions are refused by the trust policy...
    let fresh = service_kms(&lab.url()).await;
    let error = fresh
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await
        .expect_err("AssumeRole refused");
    assert!(format!("{error:?}").contains("AccessDenied"), "{error:?}");
    // ...the issued one lives on, to its lab-clock expiry (DurationSeconds absent: 3600 s).
    for (advance, expired) in [(0, false), (3599, false), (1, true)] {
        lab.clock.advance(Duration::from_secs(advance));
        if expired {
            let (code, message) = refused_decrypt(&service, &blob).await;
            assert_eq!(code, "ExpiredTokenException");
            assert_eq!(
                message,
                "The security token included in the request is expired"
            );
        } else {
            assert_eq!(decrypt(&service, &blob).await, b"secret", "{advance}");
        }
    }
    lab.action("aws-demo", "restore-trust").await;
    let fresh = service_kms(&lab.url()).await;
    assert_eq!(decrypt(&fresh, &blob).await, b"secret");
    lab.shutdown().await;
}

#[tokio::test]
async fn revoke_sessions_denies_older_sessions_through_the_role_policy() {
    let lab = TestLab::start().await;
    let service = service_kms(&lab.url()).await;
    let blob = encrypt(&service, "alias/ekm-demo", b"secret").await;
    lab.clock.advance(Duration::from_secs(60));
    lab.action("aws-demo", "revoke-sessions").await;
    let (code, message) = refused_decrypt(&service, &blob).await;
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("with an explicit deny in an identity-based policy"),
        "{message}"
    );
    // The policy is the console's, readable as the customer wrote it.
    let (status, documents) = lab.control("GET", "/_mock/v1/access/aws", None).await;
    assert_eq!(status, 200);
    let text = documents.to_string();
    assert!(text.contains("AWSRevokeOlderSessions"), "{text}");
    assert!(text.contains("aws:TokenIssueTime"), "{text}");
    // Trust is untouched: a session issued from now on works.
    let fresh = service_kms(&lab.url()).await;
    assert_eq!(decrypt(&fresh, &blob).await, b"secret");
    lab.shutdown().await;
}

#[tokio::test]
async fn faults_answer_in_aws_dialect() {
    let lab = TestLab::start().await;
    let service = service_kms(&lab.url()).await;
    let blob = encrypt(&service, "alias/ekm-demo", b"x").await;
    let set = |rules: serde_json::Value| lab.control("PUT", "/_mock/v1/faults", Some(rules));

    assert_eq!(
        set(json!([{"provider": "aws", "latency_ms": 300}])).await.0,
        200
    );
    let watch = Stopwatch::start();
    encrypt(&service, "alias/ekm-demo", b"x").await;
    assert!(watch.elapsed() >= Duration::from_millis(300));

    for (rule, expected) in [
        (
            json!({"provider": "aws", "error": "internal"}),
            "KMSInternalException",
        ),
        (
            json!({"provider": "aws", "error": "unavailable"}),
            "ServiceUnavailableException",
        ),
        (
            json!({"provider": "aws", "error": "access-denied"}),
            "AccessDeniedException",
        ),
        (
            json!({"provider": "aws", "error": "throttled"}),
            "ThrottlingException",
        ),
        (
            json!({"provider": "aws", "throttle": {"limit": 0, "per_seconds": 60}}),
            "ThrottlingException",
        ),
        (
            json!({"provider": "aws", "outage": true}),
            "DependencyTimeoutException",
        ),
        (
            json!({"provider": "aws", "operation": "decrypt", "key": "aws-demo", "outage": true}),
            "DependencyTimeoutException",
        ),
    ] {
        assert_eq!(set(json!([rule])).await.0, 200);
        let result = service
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .send()
            .await;
        let status = result
            .as_ref()
            .err()
            .and_then(|e| e.raw_response())
            .map(|r| r.status().as_u16());
        assert_eq!(code(result), expected, "{rule}");
        let want = match expected {
            "KMSInternalException" | "DependencyTimeoutException" => 500,
            "ServiceUnavailableException" => 503,
            _ => 400,
        };
        assert_eq!(status, Some(want), "{rule}");
    }

    // A throttle window frees up on the lab clock.
    set(json!([{"provider": "aws", "throttle": {"limit": 1, "per_seconds": 60}}])).await;
    encrypt(&service, "alias/ekm-demo", b"x").await;
    assert_eq!(
        code(
            service
                .encrypt()
                .key_id("alias/ekm-demo")
                .plaintext(Blob::new(b"x"))
                .send()
                .await
        ),
        "ThrottlingException"
    );
    lab.clock.advance(Duration::from_secs(61));
    encrypt(&service, "alias/ekm-demo", b"x").await;

    // Auth faults hit AssumeRole.
    set(json!([{"provider": "aws", "operation": "auth", "outage": true}])).await;
    let fresh = service_kms(&lab.url()).await;
    assert!(
        fresh
            .encrypt()
            .key_id(DEMO_ARN)
            .plaintext(Blob::new(b"x"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(lab.control("DELETE", "/_mock/v1/faults", None).await.0, 200);
    encrypt(&fresh, DEMO_ARN, b"x").await;
    lab.shutdown().await;
}

#[tokio::test]
async fn every_call_is_logged_with_key_caller_and_outcome() {
    let lab = TestLab::start().await;
    let service = service_kms(&lab.url()).await;
    encrypt(&service, "alias/ekm-demo", b"x").await;
    lab.action("aws-demo", "disable").await;
    let _ = service
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(b"x"))
        .send()
        .await;
    let calls = lab.calls(0).await;
    let summary: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap(),
                c["key"].clone(),
                c["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("AssumeRole", json!(null), "ok"),
            ("Encrypt", json!("aws-demo"), "ok"),
            ("Encrypt", json!("aws-demo"), "DisabledException"),
        ]
    );
    assert_eq!(calls[0]["caller"], "AKIAEKMLABSERVICE001");
    assert!(calls[1]["caller"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(calls[1]["time"], "2026-01-01T00:00:00Z");
    lab.shutdown().await;
}
