//! The engine's GCP Cloud KMS provider (real `google-cloud-kms-v1` + `google-cloud-auth`
//! external-account credentials through STS) against the mock KMS: the shared suite, plus
//! GCP-only behaviours (subject token from a file, the allowed audience, re-authentication after
//! restored trust, and CRC32C checks against a hostile endpoint).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use ekm_engine::config::{Config, GcpSubjectToken};
use ekm_engine::registration::Cloud;
use ekm_engine::{EncryptionContext, Engine, ProjectId};
use ekm_tests::Lab;
use ekm_tests::suite::{self, CloudCase, Revocation};
use serde_json::{Value, json};

const GCP: CloudCase = CloudCase {
    cloud: Cloud::Gcp,
    provider: "gcp",
    demo_key: "gcp-demo",
    spec: "SYMMETRIC_DEFAULT",
    wrap_op: "encrypt",
    unwrap_op: "decrypt",
    throttled_outcome: "RESOURCE_EXHAUSTED",
    hinted_version: Some(version_of_hint),
    register_key: register_crypto_key,
};

/// The provider's version hint is the `…/cryptoKeyVersions/N` name Cloud KMS answered with.
fn version_of_hint(hint: &str) -> String {
    let (_, version) = hint
        .rsplit_once("/cryptoKeyVersions/")
        .unwrap_or_else(|| panic!("`{hint}` is not a cryptoKeyVersion name"));
    version.to_owned()
}

/// Registers the created key (its id is `projects/…/cryptoKeys/NAME`) in the same key ring.
fn register_crypto_key(config: &mut Config, created: &Value) {
    let id = created["id"].as_str().expect("key id");
    let (ring, name) = id
        .rsplit_once("/cryptoKeys/")
        .expect("a cryptoKey resource name");
    let gcp = config.gcp.as_mut().expect("the demo registers GCP");
    assert!(
        ring.ends_with(&format!("/keyRings/{}", gcp.key_ring)),
        "{id}"
    );
    name.clone_into(&mut gcp.key_name);
}

#[tokio::test]
async fn round_trip() {
    suite::round_trip(GCP).await;
}

#[tokio::test]
async fn rotation_keeps_old_data_readable() {
    suite::rotation_keeps_old_data_readable(GCP).await;
}

#[tokio::test]
async fn disable_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(GCP, Revocation::Disable, "KeyDisabled").await;
}

#[tokio::test]
async fn schedule_deletion_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(
        GCP,
        Revocation::ScheduleDeletion,
        "KeyDestroyed",
    )
    .await;
}

#[tokio::test]
async fn destroy_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(GCP, Revocation::Destroy, "KeyDestroyed").await;
}

#[tokio::test]
async fn revoke_access_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(GCP, Revocation::RevokeAccess, "AccessDenied")
        .await;
}

#[tokio::test]
async fn revoke_trust_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(GCP, Revocation::RevokeTrust, "Authentication")
        .await;
}

#[tokio::test]
async fn switch_key_revokes_old_data() {
    suite::switch_key_revokes_old_data(GCP).await;
}

#[tokio::test]
async fn outage_is_served_from_cache_until_the_ttl() {
    suite::outage_is_served_from_cache_until_the_ttl(GCP).await;
}

#[tokio::test]
async fn throttling_is_retried() {
    suite::throttling_is_retried(GCP).await;
}

#[tokio::test]
async fn a_day_of_traffic() {
    let traffic = suite::a_day_of_traffic(GCP).await;
    eprintln!("gcp: {traffic:?}");
}

fn context(object: &str) -> EncryptionContext {
    EncryptionContext::new().with("object", object)
}

async fn seal(engine: &Engine, project: &ProjectId, object: &str) -> Vec<u8> {
    engine
        .seal(project, &context(object), object.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("seal {object}: {e}"))
}

async fn assert_opens(engine: &Engine, project: &ProjectId, envelope: &[u8], object: &str) {
    let plaintext = engine
        .open(project, envelope, &context(object))
        .await
        .unwrap_or_else(|e| panic!("open {object}: {e}"));
    assert_eq!(plaintext.as_slice(), object.as_bytes());
}

/// Asks the lab identity provider for the service account's ID token.
async fn mint_id_token(lab: &Lab, audience: &str) -> String {
    let reply: Value = reqwest::Client::new()
        .post(format!("{}/_mock/v1/identity/gcp-id-token", lab.http_url()))
        .json(&json!({ "audience": audience }))
        .send()
        .await
        .expect("the identity provider answers")
        .json()
        .await
        .expect("JSON");
    reply["id_token"].as_str().expect("id_token").to_owned()
}

#[tokio::test]
async fn subject_token_from_a_file() {
    let lab = Lab::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gcp-id-token.jwt");
    std::fs::write(&path, mint_id_token(&lab, "proj_demo").await).expect("write the token");
    let mut config = lab.config.clone();
    config.service.gcp = Some(GcpSubjectToken::File(path));

    let (engine, project) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    let envelope = seal(&engine, &project, "from-file").await;
    let (cold, _) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    assert_opens(&cold, &project, &envelope, "from-file").await;
    assert_eq!(
        lab.count_calls("gcp", "gcp-id-token", None).await,
        1,
        "only the test minted a token: the provider read it from the file"
    );
    assert_eq!(lab.count_calls("gcp", "token", Some("ok")).await, 2);
}

#[tokio::test]
async fn a_subject_token_for_another_audience_is_refused_by_sts() {
    let lab = Lab::start().await;
    let mut config = lab.config.clone();
    config
        .gcp
        .as_mut()
        .expect("GCP registered")
        .allowed_audience = Some("proj_other".into());
    let (engine, project) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    let sealed = engine.seal(&project, &context("x"), b"x").await;
    assert_eq!(suite::kms_kind(&sealed), "Authentication", "{sealed:?}");
    assert_eq!(lab.count_calls("gcp", "encrypt", None).await, 0);
    assert!(lab.count_calls("gcp", "token", Some("invalid_grant")).await >= 1);
}

#[tokio::test]
async fn one_sts_exchange_per_lab_hour_serves_many_kms_calls() {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(Cloud::Gcp).await);
    let revalidate_after = lab.config.engine.revalidate_after;
    let mut envelopes = Vec::new();
    for hour in 0..5 {
        let object = format!("hour-{hour}");
        envelopes.push((seal(&engine, &project, &object).await, object));
        lab.advance(revalidate_after);
        for (envelope, object) in &envelopes {
            assert_opens(&engine, &project, envelope, object).await;
        }
    }
    // The federated token lives an hour of lab time: the provider signs in again each hour
    // (six sessions over five hours and the first call), each serving every call of its hour.
    let decrypts = lab.count_calls("gcp", "decrypt", Some("ok")).await;
    let exchanges = lab.count_calls("gcp", "token", None).await;
    assert_eq!(exchanges, 6);
    assert_eq!(
        lab.count_calls("gcp", "gcp-id-token", None).await,
        exchanges
    );
    assert!(
        decrypts > exchanges,
        "{decrypts} decrypts, {exchanges} exchanges"
    );
}

#[tokio::test]
async fn restored_trust_works_at_once() {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(Cloud::Gcp).await);
    let envelope = seal(&engine, &project, "kept").await;

    lab.key_action("gcp-demo", "revoke-trust").await;
    lab.advance(lab.config.engine.revalidate_after);
    let opened = engine.open(&project, &envelope, &context("kept")).await;
    assert_eq!(suite::kms_kind(&opened), "Authentication", "{opened:?}");

    lab.key_action("gcp-demo", "restore-trust").await;
    assert_opens(&engine, &project, &envelope, "kept").await;
    seal(&engine, &project, "after-restore").await;
}

/// How the hostile endpoint corrupts Cloud KMS replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tamper {
    Nothing = 0,
    CiphertextCrc = 1,
    UnverifiedPlaintext = 2,
    PlaintextCrc = 3,
    Plaintext = 4,
}

/// A Cloud KMS endpoint in front of the mock that forwards every call and corrupts replies as
/// `mode` says, started on `127.0.0.1:0`. Returns its URL.
async fn hostile_endpoint(upstream: String, mode: Arc<AtomicU8>) -> String {
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (client, upstream, mode) = (client.clone(), upstream.clone(), mode.clone());
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut request = client.request(method, format!("{upstream}{path}"));
                for name in [
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                ] {
                    if let Some(value) = headers.get(&name) {
                        request = request.header(name, value);
                    }
                }
                let response = request.body(body).send().await.expect("the mock answers");
                let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
                let mut reply: Value = response.json().await.expect("JSON");
                if status.is_success() {
                    corrupt(&mut reply, mode.load(Ordering::SeqCst));
                }
                (status, axum::Json(reply))
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn corrupt(reply: &mut Value, mode: u8) {
    let flip_crc = |field: &Value| {
        let crc: u32 = field
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a CRC32C");
        Value::String((crc ^ 1).to_string())
    };
    match mode {
        m if m == Tamper::CiphertextCrc as u8 && reply.get("ciphertextCrc32c").is_some() => {
            reply["ciphertextCrc32c"] = flip_crc(&reply["ciphertextCrc32c"]);
        }
        m if m == Tamper::UnverifiedPlaintext as u8 && reply.get("ciphertext").is_some() => {
            reply["verifiedPlaintextCrc32c"] = Value::Bool(false);
        }
        m if m == Tamper::PlaintextCrc as u8 && reply.get("plaintextCrc32c").is_some() => {
            reply["plaintextCrc32c"] = flip_crc(&reply["plaintextCrc32c"]);
        }
        m if m == Tamper::Plaintext as u8 && reply.get("plaintextCrc32c").is_some() => {
            // A different 32-byte DEK with the checksum of the original.
            reply["plaintext"] = Value::String("A".repeat(43) + "=");
        }
        _ => {}
    }
}

#[tokio::test]
async fn crc32c_mismatches_from_a_hostile_endpoint_are_refused() {
    let lab = Lab::start().await;
    let mode = Arc::new(AtomicU8::new(Tamper::Nothing as u8));
    let mut config = lab.config.clone();
    config.gcp.as_mut().expect("GCP registered").endpoint =
        Some(hostile_endpoint(lab.http_url(), mode.clone()).await);
    let (engine, project) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    let envelope = seal(&engine, &project, "honest").await;

    for tamper in [Tamper::CiphertextCrc, Tamper::UnverifiedPlaintext] {
        mode.store(tamper as u8, Ordering::SeqCst);
        let (fresh, project) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
        let sealed = fresh.seal(&project, &context("x"), b"x").await;
        assert_eq!(
            suite::kms_kind(&sealed),
            "Transport",
            "{tamper:?}: {sealed:?}"
        );
        let message = sealed.expect_err("refused").to_string();
        assert!(message.contains("integrity check failed"), "{message}");
    }
    for tamper in [Tamper::PlaintextCrc, Tamper::Plaintext] {
        mode.store(tamper as u8, Ordering::SeqCst);
        let (cold, _) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
        let opened = cold.open(&project, &envelope, &context("honest")).await;
        assert_eq!(
            suite::kms_kind(&opened),
            "Transport",
            "{tamper:?}: {opened:?}"
        );
    }

    mode.store(Tamper::Nothing as u8, Ordering::SeqCst);
    let (cold, _) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    assert_opens(&cold, &project, &envelope, "honest").await;
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    let lab = Lab::start().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    let mut config = lab.config.clone();
    config.gcp.as_mut().expect("GCP registered").endpoint = Some(format!("http://{address}"));
    let (engine, project) = lab.engine(lab.kek_for(&config, Cloud::Gcp).await);
    let sealed = engine.seal(&project, &context("x"), b"x").await;
    assert_eq!(suite::kms_kind(&sealed), "Transport", "{sealed:?}");
}

#[tokio::test]
async fn the_wrap_context_is_the_kms_aad() {
    let lab = Lab::start().await;
    let kek = lab.kek(Cloud::Gcp).await;
    let dek = ekm_engine::Dek::generate().expect("a DEK");
    let project = EncryptionContext::new().with("ekm:project", "proj_demo");
    let wrapped = kek.wrap(&dek, &project).await.expect("wrap");
    assert!(
        wrapped
            .key_version
            .starts_with(&format!("{}/cryptoKeyVersions/", kek.key_reference().key())),
        "{wrapped:?}"
    );
    let unwrapped = kek
        .unwrap(&wrapped.edek, &wrapped.key_version, &project)
        .await
        .expect("unwrap");
    assert_eq!(unwrapped.expose_secret(), dek.expose_secret());

    let other = EncryptionContext::new().with("ekm:project", "proj_other");
    let refused = kek
        .unwrap(&wrapped.edek, &wrapped.key_version, &other)
        .await;
    assert!(
        matches!(refused, Err(ekm_engine::KmsError::InvalidCiphertext { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_sts_outage_is_unavailable_not_a_revocation() {
    let lab = Lab::start().await;
    lab.set_faults(json!([{ "provider": "gcp", "operation": "auth", "outage": true }]))
        .await;
    let (engine, project) = lab.engine(lab.kek(Cloud::Gcp).await);
    let sealed = engine.seal(&project, &context("x"), b"x").await;
    assert_eq!(suite::kms_kind(&sealed), "Unavailable", "{sealed:?}");
    lab.clear_faults().await;
    seal(&engine, &project, "x").await;
}
