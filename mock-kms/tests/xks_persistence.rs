//! `--state FILE` keeps the external key store: the external key manager's keys (a deleted key
//! without its material), the custom key stores and which KMS key each external key backs
//! survive a restart, so data sealed through the hop before it opens after it; a state file
//! whose external key store part is broken is refused at start with the field and why.

mod common;

use std::path::Path;
use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    CustomKeyStoreType, OriginType, XksProxyAuthenticationCredentialType, XksProxyConnectivityType,
};
use common::{TestLab, code, owner_kms, service_kms};
use ekm_clock::ManualClock;
use ekm_mock_kms::server::{MockKms, Options};
use ekm_mock_kms::xks::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_URI_PATH};
use serde_json::{Value, json};

fn options(clock: &Arc<ManualClock>, state: &Path) -> Options {
    Options {
        state_file: Some(state.to_owned()),
        ..Options::ephemeral_with_clock(clock.clone())
    }
}

fn endpoint(lab: &TestLab) -> String {
    format!("https://localhost:{}", lab.mock.https_addr().port())
}

async fn generous_timeout(lab: &TestLab) {
    let (status, _) = lab
        .control(
            "PUT",
            "/_mock/v1/xks/timeout",
            Some(json!({"timeout_ms": 5000})),
        )
        .await;
    assert_eq!(status, 200);
}

/// Points the store at this run's proxy (the https port changes with every start).
async fn reconnect(lab: &TestLab, owner: &aws_sdk_kms::Client, store: &str) {
    owner
        .disconnect_custom_key_store()
        .custom_key_store_id(store)
        .send()
        .await
        .unwrap();
    owner
        .update_custom_key_store()
        .custom_key_store_id(store)
        .xks_proxy_uri_endpoint(endpoint(lab))
        .send()
        .await
        .unwrap();
    owner
        .connect_custom_key_store()
        .custom_key_store_id(store)
        .send()
        .await
        .unwrap();
}

async fn decrypt(lab: &TestLab, blob: &Blob) -> Result<Vec<u8>, String> {
    service_kms(&lab.url())
        .await
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("ekm:project", "proj_demo")
        .send()
        .await
        .map(|out| out.plaintext().unwrap().as_ref().to_vec())
        .map_err(|e| code::<(), _>(Err(e)))
}

#[tokio::test]
async fn the_external_key_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    generous_timeout(&lab).await;
    for id in ["xk-1", "xk-gone"] {
        let (status, body) = lab
            .control("POST", "/_mock/v1/xks/keys", Some(json!({"id": id})))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/disable", None)
        .await;
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/enable", None)
        .await;
    let owner = owner_kms(&lab.url()).await;
    let credential = XksProxyAuthenticationCredentialType::builder()
        .access_key_id(DEFAULT_ACCESS_KEY_ID)
        .raw_secret_access_key(DEFAULT_SECRET_ACCESS_KEY)
        .build()
        .unwrap();
    let store = owner
        .create_custom_key_store()
        .custom_key_store_name("kept")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
        .xks_proxy_uri_endpoint(endpoint(&lab))
        .xks_proxy_uri_path(DEFAULT_URI_PATH)
        .xks_proxy_authentication_credential(credential)
        .send()
        .await
        .unwrap()
        .custom_key_store_id
        .unwrap();
    owner
        .connect_custom_key_store()
        .custom_key_store_id(&store)
        .send()
        .await
        .unwrap();
    let key = owner
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store)
        .xks_key_id("xk-1")
        .send()
        .await
        .unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let sealed = service_kms(&lab.url())
        .await
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"sealed before the restart".to_vec()))
        .encryption_context("ekm:project", "proj_demo")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let (_, gone) = lab
        .control("POST", "/_mock/v1/xks/keys/xk-gone/delete", None)
        .await;
    assert_eq!(gone["status"], "deleted");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let keys = saved["xks"]["external_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0]["material"].is_string());
    assert!(
        keys[1].get("material").is_none(),
        "deleted material stays out of the file: {}",
        keys[1]
    );
    assert_eq!(saved["xks"]["key_stores"][0]["state"], "CONNECTED");
    lab.shutdown().await;

    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    generous_timeout(&lab).await;
    let (_, keys) = lab.control("GET", "/_mock/v1/xks/keys", None).await;
    assert_eq!(keys[0]["status"], "enabled");
    assert_eq!(keys[1]["status"], "deleted");
    let owner = owner_kms(&lab.url()).await;
    let described = owner.describe_key().key_id(&arn).send().await.unwrap();
    let metadata = described.key_metadata().unwrap();
    assert_eq!(metadata.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(metadata.custom_key_store_id(), Some(store.as_str()));
    reconnect(&lab, &owner, &store).await;
    assert_eq!(
        decrypt(&lab, &sealed).await.unwrap(),
        b"sealed before the restart"
    );
    // The customer pulls the key from its HSM: after another restart it is still gone.
    lab.control("POST", "/_mock/v1/xks/keys/xk-1/delete", None)
        .await;
    lab.shutdown().await;
    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    generous_timeout(&lab).await;
    reconnect(&lab, &owner_kms(&lab.url()).await, &store).await;
    assert_eq!(
        decrypt(&lab, &sealed).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    lab.shutdown().await;
    let text = std::fs::read_to_string(&state).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert!(
        saved["xks"]["external_keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("material").is_none()),
        "no external material is left in {text}"
    );
}

/// Writes a state file with `xks` as its external key store part and starts a mock on it.
async fn start_with_xks(xks: Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let file = json!({"format": 1, "keys": [], "aliases": {}, "trust_epochs": {}, "xks": xks});
    std::fs::write(&state, file.to_string()).unwrap();
    match MockKms::start(options(&clock, &state)).await {
        Ok(_) => panic!("a broken xks part is refused"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn a_broken_external_key_store_part_is_refused_with_field_and_reason() {
    let material = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let store = json!({
        "id": "cks-0123456789abcdef0", "name": "s", "uri_endpoint": "https://localhost:8443",
        "uri_path": "/kms/xks/v1", "connectivity": "PUBLIC_ENDPOINT",
        "access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY,
        "state": "CONNECTED", "created": "2026-01-01T00:00:00Z"
    });
    let cases = [
        (
            json!({"external_keys": [{"id": "k", "status": "enabled", "usage": []}]}),
            "xks.external_keys[0] (k).material",
        ),
        (
            json!({"external_keys": [{"id": "k", "status": "deleted", "usage": [],
                "material": material}]}),
            "xks.external_keys[0] (k).material",
        ),
        (
            json!({"external_keys": [{"id": "k", "status": "enabled", "usage": [],
                "material": "c2hvcnQ="}]}),
            "xks.external_keys[0].material: an AES-256 key is 32 bytes",
        ),
    ];
    for (xks, expected) in cases {
        let error = start_with_xks(xks).await;
        assert!(error.contains(expected), "{error} lacks {expected}");
    }
    let mut bad_endpoint = store.clone();
    bad_endpoint["uri_endpoint"] = json!("http://localhost");
    let error = start_with_xks(json!({"key_stores": [bad_endpoint]})).await;
    assert!(error.contains("xks.key_stores[0].uri_endpoint"), "{error}");
    let mut failed_code = store.clone();
    failed_code["error_code"] = json!("NOT_A_CODE");
    failed_code["state"] = json!("FAILED");
    let error = start_with_xks(json!({"key_stores": [failed_code]})).await;
    assert!(error.contains("xks.key_stores[0].error_code"), "{error}");
    let error = start_with_xks(json!({
        "key_stores": [store],
        "bindings": {"aws-gone": {"store": "cks-0123456789abcdef0", "xks_key_id": "k"}}
    }))
    .await;
    assert!(
        error.contains("xks.bindings.aws-gone: there is no key `aws-gone`"),
        "{error}"
    );
}
