//! Cloud KMS key versions as the customer manages them, through the real `google-cloud-kms-v1`
//! client: `UpdateCryptoKeyVersion` of `state`, `DestroyCryptoKeyVersion`,
//! `RestoreCryptoKeyVersion`; what each does to the service's encrypt and decrypt; their bad
//! input answered in Google's error shape; and a destroyed version's material leaving the state
//! file.

mod common;
mod gcp_clients;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::TestLab;
use ekm_clock::{Clock as _, ManualClock};
use ekm_mock_kms::server::Options;
use gcp_clients::{owner, service};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::CryptoKeyVersion;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionState as State;
use google_cloud_wkt::FieldMask;
use serde_json::{Value, json};

const KEY: &str =
    "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key";

fn version_name(n: u32) -> String {
    format!("{KEY}/cryptoKeyVersions/{n}")
}

async fn encrypt(
    client: &KeyManagementService,
    plaintext: &'static [u8],
) -> Result<Bytes, GaxError> {
    client
        .encrypt()
        .set_name(KEY)
        .set_plaintext(Bytes::from_static(plaintext))
        .send()
        .await
        .map(|reply| reply.ciphertext)
}

async fn decrypt(client: &KeyManagementService, ciphertext: &Bytes) -> Result<Bytes, GaxError> {
    client
        .decrypt()
        .set_name(KEY)
        .set_ciphertext(ciphertext.clone())
        .send()
        .await
        .map(|reply| reply.plaintext)
}

async fn set_state(
    owner: &KeyManagementService,
    n: u32,
    state: State,
) -> Result<CryptoKeyVersion, GaxError> {
    owner
        .update_crypto_key_version()
        .set_crypto_key_version(
            CryptoKeyVersion::new()
                .set_name(version_name(n))
                .set_state(state),
        )
        .set_update_mask(FieldMask::default().set_paths(["state"]))
        .send()
        .await
}

async fn destroy(owner: &KeyManagementService, n: u32) -> Result<CryptoKeyVersion, GaxError> {
    owner
        .destroy_crypto_key_version()
        .set_name(version_name(n))
        .send()
        .await
}

async fn restore(owner: &KeyManagementService, n: u32) -> Result<CryptoKeyVersion, GaxError> {
    owner
        .restore_crypto_key_version()
        .set_name(version_name(n))
        .send()
        .await
}

async fn state_of(owner: &KeyManagementService, n: u32) -> State {
    owner
        .get_crypto_key_version()
        .set_name(version_name(n))
        .send()
        .await
        .expect("get version")
        .state
}

/// The status code and message of a failed call.
fn refusal<T: std::fmt::Debug>(result: Result<T, GaxError>) -> (Code, String) {
    let error = result.expect_err("the call must fail");
    let status = error
        .status()
        .unwrap_or_else(|| panic!("not a service error: {error:?}"));
    (status.code, status.message.clone())
}

fn not_enabled(n: u32, state: &str) -> (Code, String) {
    (
        Code::FailedPrecondition,
        format!(
            "{} is not enabled, current state is: {state}.",
            version_name(n)
        ),
    )
}

#[tokio::test]
async fn disabling_the_old_version_shreds_only_its_data_and_enabling_brings_it_back() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let (owner, service) = (owner(&url).await, service(&url).await);
    let old = encrypt(&service, b"old").await.expect("encrypt under v1");
    lab.action("gcp-demo", "rotate").await;
    let new = encrypt(&service, b"new").await.expect("encrypt under v2");

    let disabled = set_state(&owner, 1, State::Disabled)
        .await
        .expect("disable v1");
    assert_eq!(
        (disabled.name, disabled.state),
        (version_name(1), State::Disabled)
    );
    assert_eq!(
        refusal(decrypt(&service, &old).await),
        not_enabled(1, "DISABLED")
    );
    assert_eq!(
        &decrypt(&service, &new).await.expect("v2 reads")[..],
        b"new"
    );
    let listed = owner
        .list_crypto_key_versions()
        .set_parent(KEY)
        .send()
        .await
        .expect("list");
    let states: Vec<State> = listed
        .crypto_key_versions
        .into_iter()
        .map(|v| v.state)
        .collect();
    assert_eq!(states, [State::Disabled, State::Enabled]);
    let (_, key) = lab.control("GET", "/_mock/v1/keys/gcp-demo", None).await;
    assert_eq!(key["state"], "enabled", "{key}");
    assert_eq!(key["version_states"][0]["state"], "disabled", "{key}");

    // Disabling twice is no error; enabling brings the old data back.
    set_state(&owner, 1, State::Disabled).await.expect("again");
    set_state(&owner, 1, State::Enabled)
        .await
        .expect("enable v1");
    assert_eq!(
        &decrypt(&service, &old).await.expect("v1 reads")[..],
        b"old"
    );

    // A disabled primary encrypts nothing.
    set_state(&owner, 2, State::Disabled)
        .await
        .expect("disable v2");
    assert_eq!(
        refusal(encrypt(&service, b"x").await),
        not_enabled(2, "DISABLED")
    );
    set_state(&owner, 2, State::Enabled)
        .await
        .expect("enable v2");
    encrypt(&service, b"x").await.expect("encrypt again");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_destroyed_version_is_scheduled_for_thirty_days_restorable_then_gone() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let (owner, service) = (owner(&url).await, service(&url).await);
    let old = encrypt(&service, b"old").await.expect("encrypt under v1");
    lab.action("gcp-demo", "rotate").await;
    let new = encrypt(&service, b"new").await.expect("encrypt under v2");

    let scheduled = destroy(&owner, 1).await.expect("destroy v1");
    assert_eq!(scheduled.state, State::DestroyScheduled);
    let destroy_time = scheduled.destroy_time.expect("destroyTime");
    let now = lab.clock.now().unix_timestamp();
    assert_eq!(destroy_time.seconds() - now, 30 * 24 * 3600);
    assert_eq!(
        refusal(decrypt(&service, &old).await),
        not_enabled(1, "DESTROY_SCHEDULED")
    );
    let key = owner
        .get_crypto_key()
        .set_name(KEY)
        .send()
        .await
        .expect("key");
    assert_eq!(
        key.destroy_scheduled_duration.map(|d| d.seconds()),
        Some(30 * 24 * 3600)
    );

    // Restore: back to DISABLED, not ENABLED; a second restore is refused.
    assert_eq!(
        restore(&owner, 1).await.expect("restore").state,
        State::Disabled
    );
    assert_eq!(
        refusal(restore(&owner, 1).await).0,
        Code::FailedPrecondition
    );
    set_state(&owner, 1, State::Enabled)
        .await
        .expect("enable v1");
    assert_eq!(
        &decrypt(&service, &old).await.expect("v1 reads")[..],
        b"old"
    );

    // Destroyed for good once the 30 days pass on the lab clock.
    destroy(&owner, 1).await.expect("destroy v1 again");
    assert_eq!(
        refusal(destroy(&owner, 1).await).0,
        Code::FailedPrecondition
    );
    lab.clock.advance(Duration::from_secs(30 * 24 * 3600 - 1));
    assert_eq!(state_of(&owner, 1).await, State::DestroyScheduled);
    lab.clock.advance(Duration::from_secs(1));
    assert_eq!(state_of(&owner, 1).await, State::Destroyed);
    // Thirty lab days on, the service's token has expired (sessions on lab time): sign in again.
    let service = self::service(&url).await;
    assert_eq!(
        refusal(decrypt(&service, &old).await),
        not_enabled(1, "DESTROYED")
    );
    for refused in [
        restore(&owner, 1).await,
        set_state(&owner, 1, State::Enabled).await,
    ] {
        assert_eq!(refusal(refused).0, Code::FailedPrecondition);
    }
    assert_eq!(
        &decrypt(&service, &new).await.expect("v2 reads")[..],
        b"new"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn bad_version_requests_get_google_errors_never_500() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let http = reqwest::Client::new();
    let owner_token = ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN;
    let v1 = format!("/v1/{}", version_name(1));
    let patch = |query: &str, body: &str, token: &str| {
        http.patch(format!("{url}{v1}{query}"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    // Each refused with 400 INVALID_ARGUMENT: no or another mask, a state the API does not let a
    // caller set, an unknown one, no state, broken JSON, a body naming another version.
    let other = "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1";
    let named = format!(r#"{{"name":"{other}","state":"DISABLED"}}"#);
    let cases = [
        ("", r#"{"state":"DISABLED"}"#),
        ("?updateMask=", r#"{"state":"DISABLED"}"#),
        ("?updateMask=algorithm", r#"{"state":"DISABLED"}"#),
        ("?updateMask=state", r#"{"state":"DESTROYED"}"#),
        ("?updateMask=state", r#"{"state":"DESTROY_SCHEDULED"}"#),
        ("?updateMask=state", r#"{"state":"PAUSED"}"#),
        ("?updateMask=state", r#"{"state":17}"#),
        ("?updateMask=state", "{}"),
        ("?updateMask=state", r#"{"state":"#),
        ("?updateMask=state", r#"["DISABLED"]"#),
        ("?updateMask=state", named.as_str()),
    ];
    for (query, body) in cases {
        let reply = patch(query, body, owner_token).await.expect("answer");
        assert_eq!(reply.status().as_u16(), 400, "{query} {body}");
        let error: Value = reply.json().await.expect("JSON");
        let status = &error["error"]["status"];
        assert_eq!(status, "INVALID_ARGUMENT", "{query} {body}: {error}");
    }

    let raw = |method: reqwest::Method, path: String| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(owner_token)
            .send()
    };
    let key = format!("/v1/{KEY}");
    for (method, path, status, code) in [
        (reqwest::Method::POST, format!("{v1}:restore"), 400, "FAILED_PRECONDITION"),
        (reqwest::Method::POST, format!("{key}/cryptoKeyVersions/9:destroy"), 404, "NOT_FOUND"),
        (reqwest::Method::POST, format!("{key}/cryptoKeyVersions/x:restore"), 404, "NOT_FOUND"),
        (reqwest::Method::POST, format!("{v1}:frobnicate"), 404, "NOT_FOUND"),
        (reqwest::Method::DELETE, v1.clone(), 404, "NOT_FOUND"),
        (
            reqwest::Method::POST,
            "/v1/projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/nope/cryptoKeyVersions/1:destroy".into(),
            404,
            "NOT_FOUND",
        ),
    ] {
        let reply = raw(method.clone(), path.clone()).await.expect("answer");
        assert_eq!(reply.status().as_u16(), status, "{method} {path}");
        let error: Value = reply.json().await.expect("JSON");
        assert_eq!(error["error"]["status"], code, "{method} {path}: {error}");
    }

    // The service may use versions, not manage them; nothing changed.
    let service = service(&url).await;
    for refused in [
        refusal(set_state(&service, 1, State::Disabled).await),
        refusal(destroy(&service, 1).await),
        refusal(restore(&service, 1).await),
    ] {
        assert_eq!(refused.0, Code::PermissionDenied, "{refused:?}");
    }
    assert_eq!(state_of(&owner(&url).await, 1).await, State::Enabled);
    assert!(
        lab.calls(0)
            .await
            .iter()
            .all(|c| c["outcome"] != "INTERNAL")
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn version_states_persist_and_destroyed_material_leaves_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let options = |clock: &Arc<ManualClock>| Options {
        state_file: Some(path.clone()),
        ..Options::ephemeral_with_clock(clock.clone())
    };
    let lab = TestLab::start_with(options(&clock), clock.clone()).await;
    lab.action("gcp-demo", "rotate").await;
    lab.action("gcp-demo", "rotate").await;
    let material = |n: usize| -> Value {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let key = file["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "gcp-demo")
            .cloned()
            .unwrap();
        key["versions"][n]["material"].clone()
    };
    let first = material(0)["aes256"]
        .as_str()
        .expect("v1 material")
        .to_owned();
    let owner = owner(&lab.url()).await;
    destroy(&owner, 1).await.expect("destroy v1");
    set_state(&owner, 2, State::Disabled)
        .await
        .expect("disable v2");
    assert!(std::fs::read_to_string(&path).unwrap().contains(&first));
    let (status, _) = lab
        .control(
            "POST",
            "/_mock/v1/clock/advance",
            Some(json!({"seconds": 30 * 24 * 3600})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(material(0), json!("destroyed"));
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&first));
    lab.shutdown().await;

    let fresh = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(options(&fresh), fresh.clone()).await;
    let owner = self::owner(&lab.url()).await;
    let states = [
        state_of(&owner, 1).await,
        state_of(&owner, 2).await,
        state_of(&owner, 3).await,
    ];
    assert_eq!(states, [State::Destroyed, State::Disabled, State::Enabled]);
    lab.shutdown().await;
}
