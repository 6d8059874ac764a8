//! AWS KMS keys in an external key store, with the real `aws-sdk-kms`: the customer sets up a
//! custom key store pointing at the lab's XKS proxy and a KMS key backed by an external key; the
//! service encrypts and decrypts through the hop; every proxy failure answers the KMS exception
//! and message the XKS specification maps it to.

mod common;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionStateType, CustomKeyStoreType, OriginType, XksProxyAuthenticationCredentialType,
    XksProxyConnectivityType,
};
use common::{TestLab, code, owner_kms, service_kms};
use ekm_mock_kms::xks::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_URI_PATH};
use serde_json::json;

const NEW_ID: &str = "ROTATEDXKSACCESSKEY234567";
const NEW_SECRET: &str = "cm90YXRlZC1zZWNyZXQtYWNjZXNzLWtleS0wMTIzNDU2Nzg=";

fn credential(id: &str, secret: &str) -> XksProxyAuthenticationCredentialType {
    XksProxyAuthenticationCredentialType::builder()
        .access_key_id(id)
        .raw_secret_access_key(secret)
        .build()
        .unwrap()
}

fn endpoint(lab: &TestLab) -> String {
    format!("https://localhost:{}", lab.mock.https_addr().port())
}

async fn create_store(
    kms: &aws_sdk_kms::Client,
    name: &str,
    endpoint: &str,
    path: &str,
    secret: &str,
) -> Result<String, String> {
    kms.create_custom_key_store()
        .custom_key_store_name(name)
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
        .xks_proxy_uri_endpoint(endpoint)
        .xks_proxy_uri_path(path)
        .xks_proxy_authentication_credential(credential(DEFAULT_ACCESS_KEY_ID, secret))
        .send()
        .await
        .map(|out| out.custom_key_store_id.unwrap())
        .map_err(|e| e.code().unwrap_or("?").to_owned())
}

async fn state(kms: &aws_sdk_kms::Client, store: &str) -> (ConnectionStateType, Option<String>) {
    let out = kms
        .describe_custom_key_stores()
        .custom_key_store_id(store)
        .send()
        .await
        .unwrap();
    let entry = &out.custom_key_stores()[0];
    (
        entry.connection_state().unwrap().clone(),
        entry.connection_error_code().map(|c| c.as_str().to_owned()),
    )
}

/// A lab with external key `xk-1`, a connected store and a KMS key backed by `xk-1`.
struct Setup {
    lab: TestLab,
    owner: aws_sdk_kms::Client,
    store: String,
    key_arn: String,
}

async fn setup() -> Setup {
    let lab = TestLab::start().await;
    // Generous budget for a loaded CI machine; the latency-budget test uses the spec's 250 ms.
    lab.control(
        "PUT",
        "/_mock/v1/xks/timeout",
        Some(json!({"timeout_ms": 5000})),
    )
    .await;
    lab.control("POST", "/_mock/v1/xks/keys", Some(json!({"id": "xk-1"})))
        .await;
    let owner = owner_kms(&lab.url()).await;
    let store = create_store(
        &owner,
        "lab-xks",
        &endpoint(&lab),
        DEFAULT_URI_PATH,
        DEFAULT_SECRET_ACCESS_KEY,
    )
    .await
    .expect("the store is created");
    assert_eq!(
        state(&owner, &store).await.0,
        ConnectionStateType::Disconnected
    );
    owner
        .connect_custom_key_store()
        .custom_key_store_id(&store)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state(&owner, &store).await,
        (ConnectionStateType::Connected, None)
    );
    let key = owner
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store)
        .xks_key_id("xk-1")
        .send()
        .await
        .unwrap();
    let metadata = key.key_metadata().unwrap();
    assert_eq!(metadata.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(metadata.custom_key_store_id(), Some(store.as_str()));
    assert_eq!(metadata.xks_key_configuration().unwrap().id(), Some("xk-1"));
    let key_arn = metadata.arn().unwrap().to_owned();
    Setup {
        lab,
        owner,
        store,
        key_arn,
    }
}

/// Encrypt then decrypt as the service; the error code and message on failure.
async fn round_trip(setup: &Setup) -> Result<(), (String, String)> {
    let kms = service_kms(&setup.lab.url()).await;
    let fail = |e: &dyn ProvideErrorMetadata| {
        (
            e.code().unwrap_or("?").to_owned(),
            e.message().unwrap_or("").to_owned(),
        )
    };
    let sealed = kms
        .encrypt()
        .key_id(&setup.key_arn)
        .plaintext(Blob::new(b"data key".to_vec()))
        .encryption_context("ekm:project", "proj_demo")
        .send()
        .await
        .map_err(|e| fail(&e))?;
    let opened = kms
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .encryption_context("ekm:project", "proj_demo")
        .send()
        .await
        .map_err(|e| fail(&e))?;
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"data key");
    Ok(())
}

async fn expect_hop_failure(setup: &Setup, message_part: &str) {
    let (code, message) = round_trip(setup).await.expect_err("the hop fails");
    assert_eq!(code, "KMSInvalidStateException", "{message}");
    assert!(
        message.contains(message_part),
        "{message} lacks {message_part}"
    );
}

#[tokio::test]
async fn the_sdk_sets_up_an_external_key_and_round_trips_through_the_hop() {
    let setup = setup().await;
    let since = setup
        .lab
        .calls(0)
        .await
        .last()
        .map_or(0, |c| c["seq"].as_u64().unwrap());
    round_trip(&setup).await.expect("round trip");
    let calls = setup.lab.calls(since).await;
    let seen: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            (
                c["hop"].as_str().unwrap_or("kms").to_owned(),
                c["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (hop, op) in [
        ("xks-proxy", "Encrypt"),
        ("xks", "Encrypt"),
        ("kms", "Encrypt"),
        ("xks", "Decrypt"),
        ("kms", "Decrypt"),
    ] {
        assert!(
            seen.contains(&(hop.to_owned(), op.to_owned())),
            "{hop} {op} missing from {seen:?}"
        );
    }
    let hop = calls.iter().find(|c| c["hop"] == "xks").unwrap();
    assert_eq!(hop["caller"], setup.store.as_str());
    assert_eq!(hop["outcome"], "ok");
    // Double encryption: KMS's own material alone does not open the blob.
    let kms = service_kms(&setup.lab.url()).await;
    let sealed = kms
        .encrypt()
        .key_id(&setup.key_arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();
    let blob = sealed.ciphertext_blob().unwrap().as_ref().to_vec();
    let owner_view = || {
        setup
            .lab
            .mock
            .lab()
            .owner_decrypt(ekm_mock_kms::state::OwnerCiphertext::Aws {
                blob: &blob,
                encryption_context: &Default::default(),
            })
    };
    // The lab holds both layers' keys, so its in-process owner view opens the blob…
    assert_eq!(owner_view().unwrap().as_slice(), b"x");
    // …but not with KMS's material alone, once the external key refuses.
    let disable = "/_mock/v1/xks/keys/xk-1/disable";
    setup.lab.control("POST", disable, None).await;
    assert!(
        owner_view().is_err(),
        "KMS's material alone must not decrypt an external key's blob"
    );
    let enable = "/_mock/v1/xks/keys/xk-1/enable";
    setup.lab.control("POST", enable, None).await;
    // Tampering with the external part or the context fails at the proxy.
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    for (blob, context) in [(tampered, None), (blob, Some("other"))] {
        let mut request = kms.decrypt().ciphertext_blob(Blob::new(blob));
        if let Some(value) = context {
            request = request.encryption_context("ekm:project", value);
        }
        let (code, message) = match request.send().await {
            Ok(_) => panic!("tampered decrypt succeeded"),
            Err(e) => (
                e.code().unwrap_or("?").to_owned(),
                e.message().unwrap_or("").to_owned(),
            ),
        };
        assert_eq!(code, "KMSInvalidStateException");
        assert!(
            message.contains("corrupted, missing, or otherwise invalid"),
            "{message}"
        );
    }
    // GenerateDataKey goes through the hop too.
    let generated = setup
        .owner
        .generate_data_key()
        .key_id(&setup.key_arn)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let opened = setup
        .owner
        .decrypt()
        .ciphertext_blob(generated.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext(), generated.plaintext());
}

#[tokio::test]
async fn proxy_failures_answer_kms_invalid_state_with_the_specs_messages() {
    let setup = setup().await;
    let lab = &setup.lab;
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/disable", None)
        .await;
    expect_hop_failure(&setup, "is not enabled in the external key manager").await;
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/enable", None)
        .await;
    round_trip(&setup).await.expect("enabled again");
    lab.control(
        "PUT",
        "/_mock/v1/xks/fleet",
        Some(json!({"status": "UNAVAILABLE"})),
    )
    .await;
    expect_hop_failure(&setup, "cannot communicate with the external key manager").await;
    lab.control(
        "PUT",
        "/_mock/v1/xks/fleet",
        Some(json!({"status": "ACTIVE"})),
    )
    .await;
    for (fault, message) in [
        (json!({"malformed": true}), "cannot interpret the response"),
        (
            json!({"reject_credentials": true}),
            "could not authenticate AWS KMS",
        ),
        (
            json!({"error": "ThrottlingException"}),
            "very high request rate",
        ),
        (
            json!({"error": "AccessDeniedException"}),
            "denied access to the operation",
        ),
    ] {
        lab.control("PUT", "/_mock/v1/xks/faults", Some(fault))
            .await;
        expect_hop_failure(&setup, message).await;
    }
    lab.control("DELETE", "/_mock/v1/xks/faults", None).await;
    // The store disconnected: refused before any hop.
    setup
        .owner
        .disconnect_custom_key_store()
        .custom_key_store_id(&setup.store)
        .send()
        .await
        .unwrap();
    expect_hop_failure(&setup, "not connected to its external key store proxy").await;
    setup
        .owner
        .connect_custom_key_store()
        .custom_key_store_id(&setup.store)
        .send()
        .await
        .unwrap();
    // The KMS key's own state comes first: disabled is DisabledException, as for any key.
    setup
        .owner
        .disable_key()
        .key_id(&setup.key_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(round_trip(&setup).await.unwrap_err().0, "DisabledException");
    setup
        .owner
        .enable_key()
        .key_id(&setup.key_arn)
        .send()
        .await
        .unwrap();
    // Pulling the key from the HSM: gone for good, while the KMS key still shows Enabled.
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/delete", None)
        .await;
    expect_hop_failure(&setup, "was not found in its external key manager").await;
    let described = setup
        .owner
        .describe_key()
        .key_id(&setup.key_arn)
        .send()
        .await
        .unwrap();
    assert!(described.key_metadata().unwrap().enabled());
}

#[tokio::test]
async fn the_latency_budget_is_the_specs_250_ms() {
    let setup = setup().await;
    let lab = &setup.lab;
    lab.control(
        "PUT",
        "/_mock/v1/xks/timeout",
        Some(json!({"timeout_ms": 250})),
    )
    .await;
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"latency_ms": 600})),
    )
    .await;
    expect_hop_failure(&setup, "did not respond in time").await;
    let timeouts = lab
        .calls(0)
        .await
        .into_iter()
        .filter(|c| c["hop"] == "xks" && c["outcome"] == "timeout")
        .count();
    assert!(timeouts >= 1);
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"latency_ms": 40})),
    )
    .await;
    round_trip(&setup)
        .await
        .expect("a slow hop within budget only slows the call");
    assert_eq!(
        lab.control(
            "PUT",
            "/_mock/v1/xks/timeout",
            Some(json!({"timeout_ms": 0}))
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn create_key_and_key_store_errors_follow_the_spec() {
    let setup = setup().await;
    let (lab, owner) = (&setup.lab, &setup.owner);
    let create = |xks_key: &'static str| {
        owner
            .create_key()
            .origin(OriginType::ExternalKeyStore)
            .custom_key_store_id(&setup.store)
            .xks_key_id(xks_key)
            .send()
    };
    assert_eq!(code(create("no-such-key").await), "XksKeyNotFoundException");
    assert_eq!(code(create("xk-1").await), "XksKeyAlreadyInUseException");
    lab.control("POST", "/_mock/v1/xks/keys", Some(json!({"id": "xk-off"})))
        .await;
    lab.control("POST", "/_mock/v1/xks/keys/xk-off/disable", None)
        .await;
    assert_eq!(
        code(create("xk-off").await),
        "XksKeyInvalidConfigurationException"
    );
    lab.control(
        "POST",
        "/_mock/v1/xks/keys",
        Some(json!({"id": "xk-sign", "usage": ["SIGN"]})),
    )
    .await;
    assert_eq!(
        code(create("xk-sign").await),
        "XksKeyInvalidConfigurationException"
    );
    assert_eq!(
        code(
            owner
                .create_key()
                .origin(OriginType::ExternalKeyStore)
                .custom_key_store_id("cks-00000000000000000")
                .xks_key_id("a")
                .send()
                .await
        ),
        "CustomKeyStoreNotFoundException"
    );
    // Stores: wrong secret, wrong path, nothing listening, an IP literal, a duplicate.
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let here = endpoint(lab);
    let cases = [
        (
            "s1",
            here.clone(),
            "/second/kms/xks/v1",
            NEW_SECRET,
            "XksProxyIncorrectAuthenticationCredentialException",
        ),
        (
            "s2",
            here.clone(),
            "/elsewhere/kms/xks/v1",
            DEFAULT_SECRET_ACCESS_KEY,
            "XksProxyInvalidConfigurationException",
        ),
        (
            "s3",
            format!("https://localhost:{free_port}"),
            DEFAULT_URI_PATH,
            DEFAULT_SECRET_ACCESS_KEY,
            "XksProxyUriUnreachableException",
        ),
        (
            "s4",
            format!("https://127.0.0.1:{}", lab.mock.https_addr().port()),
            DEFAULT_URI_PATH,
            DEFAULT_SECRET_ACCESS_KEY,
            "ValidationException",
        ),
        (
            "lab-xks",
            here.clone(),
            "/other/kms/xks/v1",
            DEFAULT_SECRET_ACCESS_KEY,
            "CustomKeyStoreNameInUseException",
        ),
        (
            "s5",
            here.clone(),
            DEFAULT_URI_PATH,
            DEFAULT_SECRET_ACCESS_KEY,
            "XksProxyUriInUseException",
        ),
    ];
    // The proxy answers at a second path meanwhile, so that s1 reaches it with a wrong secret.
    lab.control(
        "PUT",
        "/_mock/v1/xks/endpoint",
        Some(json!({"uri_path": "/second/kms/xks/v1"})),
    )
    .await;
    for (name, endpoint, path, secret, expected) in cases {
        assert_eq!(
            create_store(owner, name, &endpoint, path, secret)
                .await
                .unwrap_err(),
            expected,
            "{name}"
        );
    }
    lab.control(
        "PUT",
        "/_mock/v1/xks/endpoint",
        Some(json!({"uri_path": DEFAULT_URI_PATH})),
    )
    .await;
    // Deleting: a connected store, then one with keys, are refused.
    let delete = || {
        owner
            .delete_custom_key_store()
            .custom_key_store_id(&setup.store)
            .send()
    };
    assert_eq!(code(delete().await), "CustomKeyStoreInvalidStateException");
    owner
        .disconnect_custom_key_store()
        .custom_key_store_id(&setup.store)
        .send()
        .await
        .unwrap();
    assert_eq!(code(delete().await), "CustomKeyStoreHasCMKsException");
    assert_eq!(
        code(create("xk-2").await),
        "CustomKeyStoreInvalidStateException"
    );
    // Connecting with credentials the proxy no longer accepts fails with a code.
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"reject_credentials": true})),
    )
    .await;
    owner
        .connect_custom_key_store()
        .custom_key_store_id(&setup.store)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state(owner, &setup.store).await,
        (
            ConnectionStateType::Failed,
            Some("INVALID_CREDENTIALS".into())
        )
    );
}

#[tokio::test]
async fn credentials_rotate_without_disconnecting() {
    let setup = setup().await;
    let lab = &setup.lab;
    let both = json!({"credentials": [
        {"access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY},
        {"access_key_id": NEW_ID, "secret_access_key": NEW_SECRET}]});
    lab.control("PUT", "/_mock/v1/xks/endpoint", Some(both))
        .await;
    setup
        .owner
        .update_custom_key_store()
        .custom_key_store_id(&setup.store)
        .xks_proxy_authentication_credential(credential(NEW_ID, NEW_SECRET))
        .send()
        .await
        .unwrap();
    let only_new =
        json!({"credentials": [{"access_key_id": NEW_ID, "secret_access_key": NEW_SECRET}]});
    lab.control("PUT", "/_mock/v1/xks/endpoint", Some(only_new))
        .await;
    round_trip(&setup)
        .await
        .expect("the store signs with the new credential");
    let out = setup
        .owner
        .describe_custom_key_stores()
        .send()
        .await
        .unwrap();
    let config = out.custom_key_stores()[0]
        .xks_proxy_configuration()
        .unwrap();
    assert_eq!(config.access_key_id(), Some(NEW_ID));
    // Moving the proxy needs a disconnected store.
    let moved = setup
        .owner
        .update_custom_key_store()
        .custom_key_store_id(&setup.store)
        .xks_proxy_uri_path("/moved/kms/xks/v1")
        .send()
        .await;
    assert_eq!(code(moved), "CustomKeyStoreInvalidStateException");
}
