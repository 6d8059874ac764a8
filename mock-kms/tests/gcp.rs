//! End-to-end tests of the GCP front-end with the real clients: `google-cloud-kms-v1` over REST
//! with `google-cloud-auth` external-account (workload identity federation) credentials whose
//! subject token comes from the lab identity provider, and raw `reqwest` for what the SDK never
//! sends (CRC32C mismatches, broken requests).

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use ekm_clock::{Clock, ManualClock};
use ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN;
use ekm_mock_kms::server::{MockKms, Options};
use ekm_vocab::Fault;
use ekm_vocab::KeyAction;
mod gcp_clients;

use gcp_clients::{PROJECT_ID, StaticToken, WIF_AUDIENCE};
use google_cloud_auth::credentials::{Credentials, external_account};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionState;
use serde_json::{Value, json};

const KEY: &str =
    "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key";
const SERVICE_ACCOUNT_ID: &str = "100000000000000000001";
const SERVICE_ACCOUNT_EMAIL: &str = "ekm-service@demo-project-12345.iam.gserviceaccount.com";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A mock on port 0 with a manual lab clock, and a raw HTTP client.
struct TestLab {
    mock: MockKms,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl TestLab {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::default());
        let mock = MockKms::start(Options::ephemeral_with_clock(clock.clone()))
            .await
            .expect("mock starts");
        Self {
            mock,
            clock,
            http: reqwest::Client::new(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn url(&self) -> String {
        self.mock.http_url()
    }

    fn apply(&self, action: KeyAction) {
        self.mock.lab().apply("gcp-demo", action).expect("action");
    }

    fn faults(&self, rules: Value) {
        let rules: Vec<Fault> = serde_json::from_value(rules).expect("rules");
        self.mock.lab().set_faults(rules).expect("faults");
    }

    /// The engine's recipe of external-account credentials.
    fn wif_config(&self) -> Value {
        gcp_clients::wif_config(&self.url())
    }

    /// A KMS client on `creds`, never retrying.
    async fn client(&self, creds: Credentials) -> KeyManagementService {
        KeyManagementService::builder()
            .with_endpoint(self.url())
            .with_credentials(creds)
            .with_retry_policy(NeverRetry)
            .build()
            .await
            .expect("client builds")
    }

    /// The EKM service, federated through STS.
    async fn service(&self) -> KeyManagementService {
        self.client_for(self.wif_config()).await
    }

    async fn client_for(&self, config: Value) -> KeyManagementService {
        let creds = external_account::Builder::new(config)
            .build()
            .expect("credentials build");
        self.client(creds).await
    }

    /// A service client whose subject token is `token`, read from a file.
    async fn service_with_subject_token(&self, token: &str) -> KeyManagementService {
        let path = self
            .dir
            .path()
            .join(format!("{}.jwt", uuid::Uuid::new_v4()));
        std::fs::write(&path, token).expect("write token");
        let mut config = self.wif_config();
        config["credential_source"] = json!({ "file": path });
        self.client_for(config).await
    }

    /// The customer administrator, with its static bearer token.
    async fn owner(&self) -> KeyManagementService {
        self.client(Credentials::from(StaticToken(OWNER_ACCESS_TOKEN)))
            .await
    }

    /// Mints an ID token at the lab identity provider.
    async fn id_token(&self, request: Value) -> String {
        let reply: Value = self
            .http
            .post(format!("{}/_mock/v1/identity/gcp-id-token", self.url()))
            .json(&request)
            .send()
            .await
            .expect("identity provider answers")
            .json()
            .await
            .expect("JSON");
        reply["id_token"].as_str().expect("id_token").to_owned()
    }

    /// A raw STS exchange: status and JSON body.
    async fn exchange(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/token", self.url()))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("STS answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    /// A federated access token, obtained the raw way.
    async fn access_token(&self) -> String {
        let subject = self.id_token(json!({ "audience": PROJECT_ID })).await;
        let (status, body) = self.exchange(&exchange_form(&subject, WIF_AUDIENCE)).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// A raw KMS request: status and JSON body.
    async fn raw(&self, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("mock answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    fn calls(&self) -> Vec<Value> {
        let page = self.mock.lab().calls().since(0);
        serde_json::to_value(page).expect("JSON")["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn exchange_form<'a>(subject: &'a str, audience: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", subject),
        ("subject_token_type", JWT_TYPE),
        ("audience", audience),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
    ]
}

async fn encrypt(
    client: &KeyManagementService,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<google_cloud_kms_v1::model::EncryptResponse, GaxError> {
    client
        .encrypt()
        .set_name(KEY)
        .set_plaintext(plaintext.to_vec())
        .set_additional_authenticated_data(aad.to_vec())
        .set_plaintext_crc32c(i64::from(crc32c::crc32c(plaintext)))
        .set_additional_authenticated_data_crc32c(i64::from(crc32c::crc32c(aad)))
        .send()
        .await
}

async fn decrypt(
    client: &KeyManagementService,
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<google_cloud_kms_v1::model::DecryptResponse, GaxError> {
    client
        .decrypt()
        .set_name(KEY)
        .set_ciphertext(ciphertext.to_vec())
        .set_additional_authenticated_data(aad.to_vec())
        .set_ciphertext_crc32c(i64::from(crc32c::crc32c(ciphertext)))
        .send()
        .await
}

fn code<T: std::fmt::Debug>(result: Result<T, GaxError>) -> Code {
    let error = result.expect_err("the call must fail");
    error
        .status()
        .map(|status| status.code)
        .unwrap_or_else(|| panic!("not a service error: {error:?}"))
}

fn auth_failure<T: std::fmt::Debug>(result: Result<T, GaxError>) -> String {
    let error = result.expect_err("the call must fail");
    assert!(error.is_authentication(), "{error:?}");
    format!("{error:?}")
}

#[tokio::test]
async fn round_trip_with_aad_through_sts() {
    let lab = TestLab::start().await;
    let service = lab.service().await;

    let sealed = encrypt(&service, b"a data key", b"project=proj_demo")
        .await
        .expect("encrypt");
    assert_eq!(sealed.name, format!("{KEY}/cryptoKeyVersions/1"));
    assert!(sealed.verified_plaintext_crc32c);
    assert!(sealed.verified_additional_authenticated_data_crc32c);
    assert_eq!(
        sealed.ciphertext_crc32c,
        Some(i64::from(crc32c::crc32c(&sealed.ciphertext)))
    );

    let opened = decrypt(&service, &sealed.ciphertext, b"project=proj_demo")
        .await
        .expect("decrypt");
    assert_eq!(&opened.plaintext[..], b"a data key");
    assert!(opened.used_primary);
    assert_eq!(
        opened.plaintext_crc32c,
        Some(i64::from(crc32c::crc32c(b"a data key")))
    );

    let wrong_aad = decrypt(&service, &sealed.ciphertext, b"project=other").await;
    assert_eq!(code(wrong_aad), Code::InvalidArgument);
    let mut tampered = sealed.ciphertext.to_vec();
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert_eq!(
        code(decrypt(&service, &tampered, b"project=proj_demo").await),
        Code::InvalidArgument
    );

    let calls = lab.calls();
    let ops: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .collect();
    assert_eq!(
        ops,
        [
            "gcp-id-token",
            "token",
            "encrypt",
            "decrypt",
            "decrypt",
            "decrypt"
        ]
    );
    let encrypt_call = &calls[2];
    assert_eq!(encrypt_call["key"], "gcp-demo");
    assert_eq!(encrypt_call["outcome"], "ok");
    assert_eq!(
        encrypt_call["caller"],
        format!(
            "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/subject/{SERVICE_ACCOUNT_ID}"
        )
    );
    assert_eq!(calls[4]["outcome"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn rotation_keeps_old_ciphertext_readable() {
    let lab = TestLab::start().await;
    let service = lab.service().await;
    let old = encrypt(&service, b"old", b"").await.expect("encrypt v1");

    lab.clock.advance(Duration::from_secs(90 * 24 * 3600));
    let rotated: Value = lab
        .http
        .post(format!("{}/_mock/v1/keys/gcp-demo/rotate", lab.url()))
        .send()
        .await
        .expect("control API answers")
        .json()
        .await
        .expect("key JSON");
    assert_eq!(rotated["primary_version"], "2", "{rotated}");
    // Ninety lab days on, the old token has expired: sign in again.
    let service = lab.service().await;
    let new = encrypt(&service, b"new", b"").await.expect("encrypt v2");
    assert_eq!(new.name, format!("{KEY}/cryptoKeyVersions/2"));

    let opened = decrypt(&service, &old.ciphertext, b"")
        .await
        .expect("decrypt v1");
    assert_eq!(&opened.plaintext[..], b"old");
    assert!(!opened.used_primary);
    let opened = decrypt(&service, &new.ciphertext, b"")
        .await
        .expect("decrypt v2");
    assert_eq!(&opened.plaintext[..], b"new");
    assert!(opened.used_primary);
}

#[tokio::test]
async fn owner_reads_metadata_and_the_service_may_not() {
    let lab = TestLab::start().await;
    let owner = lab.owner().await;
    lab.apply(KeyAction::Rotate);

    let key = owner
        .get_crypto_key()
        .set_name(KEY)
        .send()
        .await
        .expect("get");
    assert_eq!(key.name, KEY);
    let primary = key.primary.expect("primary");
    assert_eq!(primary.name, format!("{KEY}/cryptoKeyVersions/2"));
    assert_eq!(primary.state, CryptoKeyVersionState::Enabled);

    let listed = owner
        .list_crypto_key_versions()
        .set_parent(KEY)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.total_size, 2);
    let names: Vec<_> = listed.crypto_key_versions.iter().map(|v| &v.name).collect();
    assert_eq!(
        names,
        [
            &format!("{KEY}/cryptoKeyVersions/1"),
            &format!("{KEY}/cryptoKeyVersions/2")
        ]
    );

    let version = |n: &str| {
        owner
            .get_crypto_key_version()
            .set_name(format!("{KEY}/cryptoKeyVersions/{n}"))
            .send()
    };
    lab.apply(KeyAction::Disable);
    assert_eq!(
        version("1").await.expect("v1").state,
        CryptoKeyVersionState::Disabled
    );
    assert_eq!(code(version("9").await), Code::NotFound);
    lab.apply(KeyAction::ScheduleDeletion);
    let scheduled = version("1").await.expect("v1");
    assert_eq!(scheduled.state, CryptoKeyVersionState::DestroyScheduled);
    assert!(scheduled.destroy_time.is_some());
    lab.clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        version("2").await.expect("v2").state,
        CryptoKeyVersionState::Destroyed
    );

    let service = lab.service().await;
    let denied = service.get_crypto_key().set_name(KEY).send().await;
    assert_eq!(code(denied), Code::PermissionDenied);
}

#[tokio::test]
async fn owner_may_use_a_key_whose_service_access_is_revoked() {
    let lab = TestLab::start().await;
    lab.apply(KeyAction::RevokeAccess);
    let owner = lab.owner().await;
    let sealed = encrypt(&owner, b"x", b"").await.expect("owner encrypts");
    let service = lab.service().await;
    assert_eq!(
        code(decrypt(&service, &sealed.ciphertext, b"").await),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn sts_refuses_bad_subject_tokens() {
    let lab = TestLab::start().await;

    let wrong_audience = lab.id_token(json!({ "audience": "proj_other" })).await;
    let wrong_subject = lab
        .id_token(json!({ "audience": PROJECT_ID, "subject": "100000000000000000999" }))
        .await;
    let expired = lab
        .id_token(json!({ "audience": PROJECT_ID, "lifetime_seconds": -60 }))
        .await;
    let good = lab.id_token(json!({ "audience": PROJECT_ID })).await;
    let (good_head, good_sig) = good.rsplit_once('.').expect("JWT");
    let (_, other_sig) = wrong_subject.rsplit_once('.').expect("JWT");
    assert_ne!(good_sig, other_sig);
    let forged = format!("{good_head}.{other_sig}");

    // The provider's attribute condition admits only EKM's service account: another subject
    // is `unauthorized_client`, as GCP answers a rejected condition.
    for (token, why, error_code) in [
        (&wrong_audience, "audience", "invalid_grant"),
        (&wrong_subject, "attribute condition", "unauthorized_client"),
        (&expired, "expired", "invalid_grant"),
        (&forged, "signature", "invalid_grant"),
    ] {
        let client = lab.service_with_subject_token(token).await;
        let error = auth_failure(encrypt(&client, b"x", b"").await);
        assert!(error.contains(error_code), "{why}: {error}");
        assert!(error.contains(why), "{why}: {error}");
        let (status, body) = lab.exchange(&exchange_form(token, WIF_AUDIENCE)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error_code)));
    }

    let mut config = lab.wif_config();
    config["audience"] = json!(WIF_AUDIENCE.replace("ekm-provider", "other-provider"));
    let client = lab.client_for(config).await;
    let error = auth_failure(encrypt(&client, b"x", b"").await);
    assert!(error.contains("invalid_target"), "{error}");

    // The id_token subject type and impersonation work as well as the plain JWT.
    let mut config = lab.wif_config();
    config["subject_token_type"] = json!(ID_TOKEN_TYPE);
    config["service_account_impersonation_url"] = json!(format!(
        "{}/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT_EMAIL}:generateAccessToken",
        lab.url()
    ));
    let impersonated = lab.client_for(config).await;
    encrypt(&impersonated, b"x", b"")
        .await
        .expect("impersonated encrypt");
    let calls = lab.calls();
    let last = calls.last().expect("logged");
    assert_eq!(
        (&last["operation"], &last["caller"]),
        (&json!("encrypt"), &json!(SERVICE_ACCOUNT_EMAIL))
    );
    assert!(
        calls
            .iter()
            .any(|c| c["operation"] == "generateAccessToken" && c["outcome"] == "ok")
    );
}

#[tokio::test]
async fn revoked_trust_leaves_issued_tokens_to_their_lab_expiry() {
    let lab = TestLab::start().await;
    let service = lab.service().await;
    let sealed = encrypt(&service, b"dek", b"").await.expect("encrypt");
    let token = lab.access_token().await;
    let decrypt_with = |token: String| {
        let lab = &lab;
        async move {
            let (status, body) = lab
                .raw("POST", &format!("/v1/{KEY}:decrypt"), &token, json!({}))
                .await;
            (status, body["error"]["status"].clone())
        }
    };

    lab.apply(KeyAction::RevokeTrust);
    // Trust is the provider's: revoked, it is disabled, and STS treats it as missing...
    let fresh = lab.service().await;
    let error = auth_failure(decrypt(&fresh, &sealed.ciphertext, b"").await);
    assert!(error.contains("invalid_target"), "{error}");
    // ...but the tokens it issued keep granting access until they expire (Google: deleting or
    // disabling a provider does not revoke credentials already issued).
    let opened = decrypt(&service, &sealed.ciphertext, b"")
        .await
        .expect("the SDK's cached token still works");
    assert_eq!(&opened.plaintext[..], b"dek");
    // A malformed body, not an authentication failure: the token was admitted.
    assert_eq!(decrypt_with(token.clone()).await.0, 400);

    lab.clock.advance(Duration::from_secs(3599));
    assert_eq!(decrypt_with(token.clone()).await.0, 400, "alive at 59:59");
    lab.clock.advance(Duration::from_secs(1));
    assert_eq!(
        decrypt_with(token.clone()).await,
        (401, json!("UNAUTHENTICATED")),
        "expired at one lab hour"
    );
    assert_eq!(
        code(decrypt(&service, &sealed.ciphertext, b"").await),
        Code::Unauthenticated
    );

    lab.apply(KeyAction::RestoreTrust);
    let renewed = lab.service().await;
    let opened = decrypt(&renewed, &sealed.ciphertext, b"")
        .await
        .expect("new credentials work again");
    assert_eq!(&opened.plaintext[..], b"dek");
}

#[tokio::test]
async fn revoke_sessions_ends_issued_tokens_at_once() {
    let lab = TestLab::start().await;
    let service = lab.service().await;
    let sealed = encrypt(&service, b"dek", b"").await.expect("encrypt");
    let token = lab.access_token().await;

    lab.apply(KeyAction::RevokeSessions);
    assert_eq!(
        code(decrypt(&service, &sealed.ciphertext, b"").await),
        Code::Unauthenticated
    );
    let (status, body) = lab
        .raw("POST", &format!("/v1/{KEY}:decrypt"), &token, json!({}))
        .await;
    assert_eq!(
        (status, &body["error"]["status"]),
        (401, &json!("UNAUTHENTICATED"))
    );
    // Trust is untouched: a new sign-in works at once.
    let renewed = lab.service().await;
    let opened = decrypt(&renewed, &sealed.ciphertext, b"")
        .await
        .expect("a new token works");
    assert_eq!(&opened.plaintext[..], b"dek");
}

#[tokio::test]
async fn missing_policy_and_unusable_keys_are_refused() {
    let lab = TestLab::start().await;
    let service = lab.service().await;
    let sealed = encrypt(&service, b"dek", b"").await.expect("encrypt");

    lab.apply(KeyAction::RevokeAccess);
    assert_eq!(
        code(encrypt(&service, b"x", b"").await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(decrypt(&service, &sealed.ciphertext, b"").await),
        Code::PermissionDenied
    );
    lab.apply(KeyAction::RestoreAccess);

    lab.apply(KeyAction::Disable);
    assert_eq!(
        code(encrypt(&service, b"x", b"").await),
        Code::FailedPrecondition
    );
    lab.apply(KeyAction::Enable);
    decrypt(&service, &sealed.ciphertext, b"")
        .await
        .expect("enabled again");

    lab.apply(KeyAction::ScheduleDeletion);
    let pending = decrypt(&service, &sealed.ciphertext, b"")
        .await
        .expect_err("pending deletion");
    assert_eq!(
        pending.status().map(|s| s.code),
        Some(Code::FailedPrecondition)
    );
    assert!(
        pending
            .status()
            .is_some_and(|s| s.message.contains("DESTROY_SCHEDULED")),
        "{pending:?}"
    );
    lab.apply(KeyAction::Destroy);
    let destroyed = decrypt(&service, &sealed.ciphertext, b"")
        .await
        .expect_err("destroyed");
    assert!(
        destroyed
            .status()
            .is_some_and(|s| s.code == Code::FailedPrecondition && s.message.contains("DESTROYED")),
        "{destroyed:?}"
    );

    let missing = service
        .encrypt()
        .set_name(KEY.replace("ekm-key", "no-such-key"))
        .set_plaintext(b"x".to_vec())
        .send()
        .await;
    assert_eq!(code(missing), Code::NotFound);
}

#[tokio::test]
async fn ciphertext_of_another_key_is_invalid() {
    let lab = TestLab::start().await;
    lab.mock
        .lab()
        .create_key(
            "gcp-other",
            ekm_vocab::Cloud::Gcp,
            ekm_mock_kms::keys::KeySpec::SymmetricDefault,
        )
        .expect("create");
    let service = lab.service().await;
    let other = service
        .encrypt()
        .set_name(KEY.replace("ekm-key", "gcp-other"))
        .set_plaintext(b"x".to_vec())
        .send()
        .await
        .expect("encrypt with the created key");
    assert!(
        other
            .name
            .ends_with("/cryptoKeys/gcp-other/cryptoKeyVersions/1")
    );
    assert_eq!(
        code(decrypt(&service, &other.ciphertext, b"").await),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn faults_answer_in_google_dialect() {
    let lab = TestLab::start().await;
    let service = lab.service().await;
    let sealed = encrypt(&service, b"dek", b"").await.expect("encrypt");

    let cases = [
        (
            json!({ "throttle": { "limit": 0, "per_seconds": 60 } }),
            Code::ResourceExhausted,
            429,
        ),
        (json!({ "outage": true }), Code::Unavailable, 503),
        (json!({ "error": "unavailable" }), Code::Unavailable, 503),
        (json!({ "error": "internal" }), Code::Internal, 500),
        (
            json!({ "error": "access-denied" }),
            Code::PermissionDenied,
            403,
        ),
        (
            json!({ "error": "throttled" }),
            Code::ResourceExhausted,
            429,
        ),
    ];
    for (mut rule, expected, http) in cases {
        rule["provider"] = json!("gcp");
        lab.faults(json!([rule]));
        let error = decrypt(&service, &sealed.ciphertext, b"")
            .await
            .expect_err("fault");
        assert_eq!(
            (error.status().map(|s| s.code), error.http_status_code()),
            (Some(expected), Some(http)),
            "{rule}"
        );
    }

    // A rule for another key, or for decrypt only, leaves encrypt alone.
    lab.faults(json!([
        { "provider": "gcp", "key": "other", "outage": true },
        { "provider": "gcp", "operation": "decrypt", "outage": true },
    ]));
    encrypt(&service, b"x", b"")
        .await
        .expect("encrypt unaffected");

    lab.faults(json!([{ "provider": "gcp", "operation": "auth", "outage": true }]));
    auth_failure(encrypt(&lab.service().await, b"x", b"").await);
    encrypt(&service, b"x", b"")
        .await
        .expect("issued tokens keep working");

    lab.faults(json!([{ "provider": "gcp", "latency_ms": 150 }]));
    let started = ekm_clock::Stopwatch::start();
    encrypt(&service, b"x", b"").await.expect("slow encrypt");
    assert!(started.elapsed() >= Duration::from_millis(150));
    let last = lab.calls().pop().expect("logged");
    assert!(
        last["latency_ms"].as_f64().unwrap_or_default() >= 150.0,
        "{last}"
    );
    lab.mock.lab().faults().clear();
}

#[tokio::test]
async fn crc32c_mismatches_are_refused_both_ways() {
    let lab = TestLab::start().await;
    let token = lab.access_token().await;
    let path = format!("/v1/{KEY}:encrypt");
    let plaintext = "c2VjcmV0"; // "secret"
    let crc = crc32c::crc32c(b"secret");

    let (status, body) = lab
        .raw(
            "POST",
            &path,
            &token,
            json!({ "plaintext": plaintext, "plaintextCrc32c": (crc ^ 1).to_string() }),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["status"]),
        (400, &json!("INVALID_ARGUMENT"))
    );

    let (status, body) = lab
        .raw(
            "POST",
            &path,
            &token,
            json!({
                "plaintext": plaintext,
                "plaintextCrc32c": crc.to_string(),
                "additionalAuthenticatedData": "YWFk",
                "additionalAuthenticatedDataCrc32c": "1",
            }),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["status"]),
        (400, &json!("INVALID_ARGUMENT"))
    );

    let (status, sealed) = lab
        .raw(
            "POST",
            &path,
            &token,
            json!({ "plaintext": plaintext, "plaintextCrc32c": crc }),
        )
        .await;
    assert_eq!(status, 200, "{sealed}");
    assert_eq!(sealed["verifiedPlaintextCrc32c"], true);
    assert_eq!(sealed["verifiedAdditionalAuthenticatedDataCrc32c"], false);
    assert_eq!(sealed["protectionLevel"], "SOFTWARE");
    let ciphertext = sealed["ciphertext"].as_str().expect("ciphertext");
    let ciphertext_crc: u32 = sealed["ciphertextCrc32c"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .expect("int64 as a string");

    let decrypt_path = format!("/v1/{KEY}:decrypt");
    let (status, body) = lab
        .raw(
            "POST",
            &decrypt_path,
            &token,
            json!({ "ciphertext": ciphertext, "ciphertextCrc32c": (ciphertext_crc ^ 1).to_string() }),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["status"]),
        (400, &json!("INVALID_ARGUMENT"))
    );
    let (status, opened) = lab
        .raw(
            "POST",
            &decrypt_path,
            &token,
            json!({ "ciphertext": ciphertext, "ciphertextCrc32c": ciphertext_crc.to_string() }),
        )
        .await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["plaintext"], plaintext);
    assert_eq!(opened["plaintextCrc32c"], crc.to_string());
}

#[tokio::test]
async fn broken_requests_get_google_errors_never_500() {
    let lab = TestLab::start().await;
    let token = lab.access_token().await;
    let url = lab.url();
    let encrypt_path = format!("/v1/{KEY}:encrypt");
    let decrypt_path = format!("/v1/{KEY}:decrypt");
    let big = "A".repeat(70 * 1024);
    let json_type = "application/json";
    let form_type = "application/x-www-form-urlencoded";

    // (method, path, bearer?, content type, body)
    let mut corpus: Vec<(&str, String, bool, &str, String)> = Vec::new();
    for path in [&encrypt_path, &decrypt_path] {
        for body in [
            "{",
            "[]",
            "null",
            "42",
            "\"text\"",
            "{\"plaintext\": 5}",
            "{\"ciphertext\": 5}",
            "{\"plaintext\":\"***\"}",
            "{\"ciphertext\":\"***\"}",
            "{\"ciphertext\":\"AAAA\"}",
            "{\"ciphertext\":\"RUtNawE=\"}",
            "{\"plaintext\":\"AA==\",\"plaintextCrc32c\":\"x\"}",
            "{\"ciphertext\":\"AA==\",\"ciphertextCrc32c\":[]}",
            "{\"unknownField\":1}",
            "{\"name\":\"projects/x\",\"plaintext\":\"AA==\"}",
            "<xml/>",
            "\u{0}\u{1}\u{2}",
        ] {
            corpus.push(("POST", path.clone(), true, json_type, body.to_owned()));
        }
        corpus.push(("POST", path.clone(), true, json_type, big.clone()));
        corpus.push(("POST", path.clone(), true, "text/plain", "{}".into()));
        corpus.push(("POST", path.clone(), false, json_type, "{}".into()));
        corpus.push(("PUT", path.clone(), true, json_type, "{}".into()));
    }
    let other_key = format!("/v1/{}", KEY.replace("ekm-key", "missing"));
    for (method, path) in [
        ("POST", format!("{other_key}:encrypt")),
        ("POST", format!("/v1/{KEY}:frobnicate")),
        ("POST", format!("/v1/{KEY}")),
        ("DELETE", format!("/v1/{KEY}")),
        ("GET", format!("/v1/{KEY}")),
        ("GET", format!("/v1/{KEY}/cryptoKeyVersions")),
        ("GET", format!("/v1/{KEY}/cryptoKeyVersions/1")),
        ("POST", format!("/v1/{KEY}/cryptoKeyVersions/1:encrypt")),
        ("GET", format!("{other_key}/cryptoKeyVersions")),
        ("GET", "/v1/projects/demo-project-12345".into()),
        ("GET", "/v1/%ff%fe".into()),
        ("GET", format!("/v1/{KEY}%ff:encrypt")),
        (
            "POST",
            "/v1/projects/-/serviceAccounts/x:generateAccessToken".into(),
        ),
        (
            "GET",
            format!("/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT_EMAIL}"),
        ),
    ] {
        corpus.push((method, path, true, json_type, "{}".into()));
    }
    let impersonate =
        format!("/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT_EMAIL}:generateAccessToken");
    for body in [
        "{",
        "{\"scope\":[]}",
        "{\"scope\":[\"s\"],\"lifetime\":\"9999s\"}",
        "{\"x\":1}",
    ] {
        corpus.push(("POST", impersonate.clone(), true, json_type, body.into()));
    }
    corpus.push(("POST", impersonate.clone(), false, json_type, "{}".into()));

    // STS: OAuth-style errors.
    for (content_type, body) in [
        (form_type, ""),
        (form_type, "grant_type=password"),
        (
            form_type,
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (form_type, "%%%&&&==="),
        (form_type, "subject_token=a&subject_token=b"),
        (json_type, "{"),
        (json_type, "[1,2]"),
        ("text/xml", "<token/>"),
        (form_type, big.as_str()),
    ] {
        corpus.push(("POST", "/v1/token".into(), false, content_type, body.into()));
    }
    corpus.push(("GET", "/v1/token".into(), false, form_type, String::new()));
    let wrong_type = serde_urlencoded::to_string([
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", "x"),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:saml2",
        ),
        ("audience", WIF_AUDIENCE),
    ])
    .expect("form");
    corpus.push(("POST", "/v1/token".into(), false, form_type, wrong_type));
    for subject in ["", "x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "....."] {
        let body = serde_urlencoded::to_string(exchange_form(subject, WIF_AUDIENCE)).expect("form");
        corpus.push(("POST", "/v1/token".into(), false, form_type, body));
    }

    // The identity provider: control-API-style errors.
    for (method, body) in [
        ("POST", "{"),
        ("POST", "{}"),
        ("POST", "{\"audience\":\"\"}"),
        (
            "POST",
            "{\"audience\":\"a\",\"lifetime_seconds\":999999999}",
        ),
        (
            "POST",
            "{\"audience\":\"a\",\"lifetime_seconds\":-9223372036854775808}",
        ),
        ("POST", "{\"audience\":\"a\",\"nonsense\":1}"),
        ("DELETE", "{}"),
    ] {
        corpus.push((
            method,
            "/_mock/v1/identity/gcp-id-token".into(),
            false,
            json_type,
            body.into(),
        ));
    }
    corpus.push((
        "GET",
        "/_mock/v1/identity/gcp-id-token?lifetime_seconds=x".into(),
        false,
        json_type,
        String::new(),
    ));
    corpus.push((
        "POST",
        "/_mock/v1/identity/jwks".into(),
        false,
        json_type,
        "{}".into(),
    ));

    for (method, path, bearer, content_type, body) in &corpus {
        let mut request = lab
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{url}{path}"),
            )
            .header(header::CONTENT_TYPE, *content_type)
            .body(body.clone());
        if *bearer {
            request = request.bearer_auth(&token);
        }
        let response = request.send().await.expect("the mock answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let what = format!(
            "{method} {path} [{}] -> {status} {text}",
            &body[..body.len().min(60)]
        );
        assert!((400..500).contains(&status), "{what}");
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {what}"));
        if path.starts_with("/v1/token") {
            assert!(
                json["error"].is_string() || json["error"]["status"].is_string(),
                "{what}"
            );
        } else if path.starts_with("/_mock/") {
            assert!(json["error"].is_string(), "{what}");
        } else {
            assert_eq!(
                json["error"]["code"].as_u64(),
                Some(u64::from(status)),
                "{what}"
            );
            assert!(json["error"]["status"].is_string(), "{what}");
            assert!(json["error"]["message"].is_string(), "{what}");
        }
    }

    // Still serving, and every broken call was logged without a 5xx outcome.
    let service = lab.service().await;
    encrypt(&service, b"still up", b"")
        .await
        .expect("still serving");
    let calls = lab.calls();
    assert!(calls.len() > corpus.len());
    assert!(
        calls
            .iter()
            .all(|c| !matches!(c["outcome"].as_str(), Some("INTERNAL" | "UNAVAILABLE")))
    );
}
