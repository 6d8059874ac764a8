//! End-to-end tests of the Azure front-end with the real `azure_security_keyvault_keys` and
//! `azure_identity` crates (and raw HTTPS for the bad-input corpus), against a mock on port 0
//! with a manual lab clock.
//!
//! The client recipe (DESIGN.md §4): a `reqwest::Client` trusting the mock's CA as the
//! transport, a custom cloud whose `authority_host` is the mock, and
//! `verify_challenge_resource: Some(false)` (the vault is not under `vault.azure.net`).

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions,
};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, CurveName, EncryptionAlgorithm, KeyAttributes, KeyClientEncryptOptions,
    KeyClientGetKeyOptions, KeyClientUpdateKeyPropertiesOptions, KeyClientWrapKeyOptions,
    KeyOperationParameters, KeyType, UpdateKeyPropertiesParameters,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceExt as _};
use base64::Engine as _;
use ekm_clock::{Clock, ManualClock};
use ekm_mock_kms::server::{MockKms, Options};
use ekm_mock_kms::tenant::{AppCertificate, Tenant};
use ekm_vocab::KeyAction;
use serde_json::{Value, json};

const TENANT: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const SERVICE_APP: &str = "11111111-2222-4333-8444-555555555555";
const SERVICE_SECRET: &str = "ekm-lab-azure-secret";
const ADMIN_APP: &str = "99999999-8888-4777-8666-555555555555";
const ADMIN_SECRET: &str = "ekm-lab-customer-admin";
const KEY: &str = "ekm-key";
const LAB_KEY: &str = "azure-demo";

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Lab {
    mock: MockKms,
    clock: Arc<ManualClock>,
}

async fn start_with(tenant: Tenant) -> Lab {
    let clock = Arc::new(ManualClock::default());
    let options = Options {
        tenant,
        ..Options::ephemeral_with_clock(clock.clone())
    };
    let mock = MockKms::start(options).await.expect("mock starts");
    Lab { mock, clock }
}

async fn start() -> Lab {
    start_with(Tenant::default()).await
}

fn http(lab: &Lab) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(lab.mock.ca_cert_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("reqwest client")
}

/// Client options: the CA-trusting transport, the mock as authority host, and optionally no
/// retries (so injected 429/5xx surface at once).
fn client_options(lab: &Lab, retries: bool) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = lab.mock.https_url();
    let mut options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http(lab)))),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..Default::default()
    };
    if !retries {
        options.retry = RetryOptions::none();
    }
    options
}

fn credential(lab: &Lab, app: &str, secret: &str) -> Arc<ClientSecretCredential> {
    ClientSecretCredential::new(
        TENANT,
        app.to_owned(),
        secret.to_owned().into(),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(lab, true),
        }),
    )
    .expect("credential")
}

fn key_client_with(lab: &Lab, credential: Arc<dyn TokenCredential>, retries: bool) -> KeyClient {
    KeyClient::new(
        &lab.mock.https_url(),
        credential,
        Some(KeyClientOptions {
            client_options: client_options(lab, retries),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .expect("key client")
}

fn service_client(lab: &Lab) -> KeyClient {
    key_client_with(lab, credential(lab, SERVICE_APP, SERVICE_SECRET), true)
}

fn admin_client(lab: &Lab) -> KeyClient {
    key_client_with(lab, credential(lab, ADMIN_APP, ADMIN_SECRET), true)
}

fn params(alg: EncryptionAlgorithm, value: &[u8]) -> KeyOperationParameters {
    KeyOperationParameters {
        algorithm: Some(alg),
        value: Some(value.to_vec()),
        ..Default::default()
    }
}

/// Encrypts under the primary version: `(kid version, ciphertext)`.
async fn encrypt(
    client: &KeyClient,
    name: &str,
    alg: EncryptionAlgorithm,
    plaintext: &[u8],
) -> azure_core::Result<(String, Vec<u8>)> {
    let result = client
        .encrypt(name, params(alg, plaintext).try_into()?, None)
        .await?
        .into_model()?;
    let kid = result.kid.unwrap_or_default();
    let version = kid.rsplit('/').next().unwrap_or_default().to_owned();
    Ok((version, result.result.unwrap_or_default()))
}

async fn decrypt(
    client: &KeyClient,
    name: &str,
    version: &str,
    alg: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> azure_core::Result<Vec<u8>> {
    let result = client
        .decrypt(name, version, params(alg, ciphertext).try_into()?, None)
        .await?
        .into_model()?;
    Ok(result.result.unwrap_or_default())
}

/// Status, error code and inner error code of a Key Vault error.
fn kv_error(error: &azure_core::Error) -> (u16, String, String) {
    match error.kind() {
        azure_core::error::ErrorKind::HttpResponse {
            status,
            raw_response,
            ..
        } => {
            let body: Value = raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice(r.body()).ok())
                .unwrap_or(Value::Null);
            let code = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                u16::from(*status),
                code(&body["error"]["code"]),
                code(&body["error"]["innererror"]["code"]),
            )
        }
        other => panic!("expected an HTTP error, got {other:?}: {error}"),
    }
}

/// An error's message with all its sources (credential errors are wrapped by the pipeline).
fn full_text(error: &azure_core::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(" / ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn primary_version(lab: &Lab, name: &str) -> String {
    lab.mock
        .lab()
        .key_info(name)
        .expect("key exists")
        .primary_version
}

#[tokio::test]
async fn get_key_returns_the_real_rsa_jwk() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let key = client.get_key(KEY, None).await?.into_model()?;
    let jwk = key.key.clone().expect("a JWK");
    assert_eq!(jwk.kty, Some(KeyType::Rsa));
    assert_eq!(jwk.n.as_ref().map(Vec::len), Some(256));
    assert_eq!(jwk.e.as_deref(), Some(&[1u8, 0, 1][..]));
    let primary = primary_version(&lab, LAB_KEY);
    assert_eq!(
        jwk.kid.as_deref(),
        Some(format!("{}/keys/{KEY}/{primary}", lab.mock.https_url()).as_str())
    );
    let id = key.resource_id()?;
    assert_eq!((id.name.as_str(), id.version), (KEY, Some(primary.clone())));
    let attributes = key.attributes.expect("attributes");
    assert_eq!(attributes.enabled, Some(true));
    assert!(attributes.created.is_some());

    // Trailing slash and explicit version reach the same key.
    let by_version = client
        .get_key(
            KEY,
            Some(KeyClientGetKeyOptions {
                key_version: Some(primary),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    assert_eq!(by_version.key.and_then(|k| k.n), jwk.n.clone());

    // Data encrypted locally with the JWK decrypts in the vault: the JWK is the real key.
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&jwk.n.unwrap_or_default()),
        rsa::BigUint::from_bytes_be(&jwk.e.unwrap_or_default()),
    )?;
    let local = public.encrypt(
        &mut rsa::rand_core::OsRng,
        rsa::Oaep::new::<rsa::sha2::Sha256>(),
        b"locally wrapped",
    )?;
    let plain = decrypt(&client, KEY, "", EncryptionAlgorithm::RsaOaep256, &local).await?;
    assert_eq!(plain, b"locally wrapped");

    // The challenge and the token were logged.
    let calls = lab.mock.lab().calls().since(0).calls;
    let seen: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.operation.as_str(), c.outcome.as_str()))
        .collect();
    assert_eq!(
        seen[..3],
        [("get", "Unauthorized"), ("token", "ok"), ("get", "ok")]
    );
    assert!(calls.iter().skip(1).all(|c| c.caller == SERVICE_APP));
    assert_eq!(calls[2].key.as_deref(), Some(LAB_KEY));
    Ok(())
}

#[tokio::test]
async fn encrypt_decrypt_wrap_unwrap_round_trip() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let primary = primary_version(&lab, LAB_KEY);
    for alg in [
        EncryptionAlgorithm::RsaOaep256,
        EncryptionAlgorithm::RsaOaep,
    ] {
        let dek = [7u8; 32];
        let (version, ciphertext) = encrypt(&client, KEY, alg.clone(), &dek).await?;
        assert_eq!(version, primary);
        assert_eq!(ciphertext.len(), 256);
        let plain = decrypt(&client, KEY, &version, alg.clone(), &ciphertext).await?;
        assert_eq!(plain, dek);

        let wrapped = client
            .wrap_key(KEY, params(alg.clone(), &dek).try_into()?, None)
            .await?
            .into_model()?;
        let kid = wrapped.kid.expect("kid");
        let version = kid.rsplit('/').next().unwrap_or_default();
        let unwrapped = client
            .unwrap_key(
                KEY,
                version,
                params(alg.clone(), &wrapped.result.unwrap_or_default()).try_into()?,
                None,
            )
            .await?
            .into_model()?;
        assert_eq!(unwrapped.result.as_deref(), Some(&dek[..]));
    }
    // A ciphertext made with one algorithm does not decrypt with the other.
    let (version, ciphertext) =
        encrypt(&client, KEY, EncryptionAlgorithm::RsaOaep256, b"x").await?;
    let error = decrypt(
        &client,
        KEY,
        &version,
        EncryptionAlgorithm::RsaOaep,
        &ciphertext,
    )
    .await
    .expect_err("wrong algorithm");
    assert_eq!(kv_error(&error).0, 400);
    assert_eq!(kv_error(&error).1, "BadParameter");
    Ok(())
}

#[tokio::test]
async fn rotation_keeps_old_wraps_readable_and_names_the_new_version() -> TestResult {
    let lab = start().await;
    let service = service_client(&lab);
    let admin = admin_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep256;
    let (v1, old) = encrypt(&service, KEY, alg.clone(), b"old dek").await?;

    let rotated = admin.rotate_key(KEY, None).await?.into_model()?;
    let v2 = rotated.resource_id()?.version.expect("a version");
    assert_ne!(v1, v2);
    assert_eq!(primary_version(&lab, LAB_KEY), v2);

    let (version, new) = encrypt(&service, KEY, alg.clone(), b"new dek").await?;
    assert_eq!(version, v2);
    assert_eq!(
        decrypt(&service, KEY, &v1, alg.clone(), &old).await?,
        b"old dek"
    );
    assert_eq!(
        decrypt(&service, KEY, &v2, alg.clone(), &new).await?,
        b"new dek"
    );
    // An older version can still be named for wrapping, as in Key Vault.
    let wrapped = service
        .wrap_key(
            KEY,
            params(alg.clone(), b"k").try_into()?,
            Some(KeyClientWrapKeyOptions {
                key_version: Some(v1.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    assert!(wrapped.kid.unwrap_or_default().ends_with(&v1));
    // Unknown versions are not found.
    let error = decrypt(&service, KEY, "0123456789abcdef0123456789abcdef", alg, &old)
        .await
        .expect_err("unknown version");
    assert_eq!(kv_error(&error).1, "KeyNotFound");

    // The service may not rotate.
    let error = service.rotate_key(KEY, None).await.expect_err("service");
    assert_eq!(
        kv_error(&error),
        (403, "Forbidden".into(), "ForbiddenByRbac".into())
    );
    Ok(())
}

/// `update_key_properties` of one version (`PATCH /keys/{name}/{version}`): disabling the old
/// version refuses what it wrapped (403 `KeyDisabled`) and leaves the new version working;
/// enabling it brings the old data back. Key Vault has no per-version deletion.
#[tokio::test]
async fn disabling_an_old_version_refuses_only_its_data() -> TestResult {
    let lab = start().await;
    let service = service_client(&lab);
    let admin = admin_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep256;
    let (v1, old) = encrypt(&service, KEY, alg.clone(), b"old dek").await?;
    admin.rotate_key(KEY, None).await?;
    let (v2, new) = encrypt(&service, KEY, alg.clone(), b"new dek").await?;
    let set_enabled = |version: &str, enabled: bool| {
        let parameters = UpdateKeyPropertiesParameters {
            key_attributes: Some(KeyAttributes {
                enabled: Some(enabled),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = KeyClientUpdateKeyPropertiesOptions {
            key_version: Some(version.to_owned()),
            ..Default::default()
        };
        let admin = &admin;
        async move {
            let bundle = admin
                .update_key_properties(KEY, parameters.try_into()?, Some(options))
                .await?
                .into_model()?;
            azure_core::Result::Ok(bundle)
        }
    };

    let disabled = set_enabled(&v1, false).await?;
    assert_eq!(disabled.attributes.and_then(|a| a.enabled), Some(false));
    assert!(
        disabled
            .key
            .and_then(|k| k.kid)
            .unwrap_or_default()
            .ends_with(&v1)
    );
    let error = decrypt(&service, KEY, &v1, alg.clone(), &old)
        .await
        .expect_err("v1 is disabled");
    assert_eq!(
        kv_error(&error),
        (403, "Forbidden".into(), "KeyDisabled".into())
    );
    assert_eq!(
        decrypt(&service, KEY, &v2, alg.clone(), &new).await?,
        b"new dek"
    );
    let (version, _) = encrypt(&service, KEY, alg.clone(), b"more").await?;
    assert_eq!(version, v2);
    let get_v1 = admin
        .get_key(
            KEY,
            Some(KeyClientGetKeyOptions {
                key_version: Some(v1.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    assert_eq!(get_v1.attributes.and_then(|a| a.enabled), Some(false));
    let info = lab.mock.lab().key_info(LAB_KEY)?;
    assert_eq!(info.state, "enabled");
    assert_eq!(info.version_states[0].state, "disabled");

    set_enabled(&v1, true).await?;
    assert_eq!(
        decrypt(&service, KEY, &v1, alg.clone(), &old).await?,
        b"old dek"
    );

    // Unknown versions are not found; the service may not change a version; Key Vault has no
    // per-version destroy.
    let error = set_enabled("0123456789abcdef0123456789abcdef", false)
        .await
        .expect_err("unknown version");
    assert_eq!(kv_error(&error).1, "KeyNotFound");
    let error = service
        .update_key_properties(
            KEY,
            UpdateKeyPropertiesParameters::default().try_into()?,
            Some(KeyClientUpdateKeyPropertiesOptions {
                key_version: Some(v1.clone()),
                ..Default::default()
            }),
        )
        .await
        .expect_err("the service");
    assert_eq!(kv_error(&error).2, "ForbiddenByRbac");
    let refused = lab
        .mock
        .lab()
        .apply_version(LAB_KEY, &v1, ekm_vocab::VersionAction::Destroy)
        .expect_err("no per-version destroy");
    assert!(refused.to_string().contains("Azure Key Vault"), "{refused}");
    Ok(())
}

#[tokio::test]
async fn owner_creates_disables_and_enables_keys() -> TestResult {
    let lab = start().await;
    let admin = admin_client(&lab);
    let service = service_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep256;

    let created = admin
        .create_key(
            "tenant-kek",
            CreateKeyParameters {
                kty: Some(KeyType::Rsa),
                key_size: Some(3072),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    assert_eq!(created.key.and_then(|k| k.n).map(|n| n.len()), Some(384));
    let info = lab.mock.lab().key_info("tenant-kek")?;
    assert_eq!((info.spec.as_str(), info.access), ("RSA_3072", true));
    let (_, ciphertext) = encrypt(&service, "tenant-kek", alg.clone(), b"dek").await?;
    assert_eq!(ciphertext.len(), 384);

    // Creating it again makes a new version, as Key Vault does.
    admin
        .create_key(
            "tenant-kek",
            CreateKeyParameters {
                kty: Some(KeyType::Rsa),
                key_size: Some(3072),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?;
    assert_eq!(lab.mock.lab().key_info("tenant-kek")?.versions.len(), 2);

    let disable = UpdateKeyPropertiesParameters {
        key_attributes: Some(KeyAttributes {
            enabled: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let disabled = admin
        .update_key_properties(KEY, disable.try_into()?, None)
        .await?
        .into_model()?;
    assert_eq!(disabled.attributes.and_then(|a| a.enabled), Some(false));
    let error = encrypt(&service, KEY, alg.clone(), b"dek")
        .await
        .expect_err("disabled");
    assert_eq!(
        kv_error(&error),
        (403, "Forbidden".into(), "KeyDisabled".into())
    );
    let enable = UpdateKeyPropertiesParameters {
        key_attributes: Some(KeyAttributes {
            enabled: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    admin
        .update_key_properties(KEY, enable.try_into()?, None)
        .await?;
    encrypt(&service, KEY, alg, b"dek").await?;

    // The service may not create keys.
    let error = service
        .create_key(
            "sneaky",
            CreateKeyParameters {
                kty: Some(KeyType::Rsa),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await
        .expect_err("service");
    assert_eq!(kv_error(&error).2, "ForbiddenByRbac");
    Ok(())
}

#[tokio::test]
async fn ec_keys_refuse_encryption() -> TestResult {
    let lab = start().await;
    let admin = admin_client(&lab);
    let service = service_client(&lab);
    let created = admin
        .create_key(
            "ec-key",
            CreateKeyParameters {
                kty: Some(KeyType::Ec),
                curve: Some(CurveName::P256),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    let jwk = created.key.expect("jwk");
    assert_eq!(jwk.kty, Some(KeyType::Ec));
    assert_eq!(jwk.crv, Some(CurveName::P256));
    assert_eq!(
        (jwk.x.map(|x| x.len()), jwk.y.map(|y| y.len())),
        (Some(32), Some(32))
    );
    for client in [&admin, &service] {
        let error = encrypt(client, "ec-key", EncryptionAlgorithm::RsaOaep256, b"dek")
            .await
            .expect_err("EC cannot encrypt");
        assert_eq!(
            kv_error(&error),
            (403, "Forbidden".into(), "KeyOperationForbidden".into())
        );
    }
    let error = decrypt(
        &service,
        "ec-key",
        "",
        EncryptionAlgorithm::RsaOaep,
        &[0; 64],
    )
    .await
    .expect_err("EC cannot decrypt");
    assert_eq!(kv_error(&error).2, "KeyOperationForbidden");
    Ok(())
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() -> TestResult {
    let lab = start().await;
    let client = key_client_with(&lab, credential(&lab, SERVICE_APP, "wrong"), true);
    let error = client.get_key(KEY, None).await.expect_err("wrong secret");
    assert!(
        matches!(error.kind(), azure_core::error::ErrorKind::Credential),
        "{error:?}"
    );
    assert!(
        full_text(&error).contains("AADSTS7000215"),
        "{}",
        full_text(&error)
    );

    let unknown = key_client_with(&lab, credential(&lab, "nobody", "x"), true);
    let error = unknown.get_key(KEY, None).await.expect_err("unknown app");
    assert!(
        full_text(&error).contains("AADSTS700016"),
        "{}",
        full_text(&error)
    );

    let outcomes: Vec<String> = lab
        .mock
        .lab()
        .calls()
        .since(0)
        .calls
        .into_iter()
        .filter(|c| c.operation == "token")
        .map(|c| c.outcome)
        .collect();
    assert_eq!(outcomes, ["invalid_client", "unauthorized_client"]);
    Ok(())
}

/// `GET /keys/{KEY}` with a raw bearer token: the status and Key Vault's error message.
async fn read_key_with(lab: &Lab, token: &str) -> (u16, Value) {
    let response = http(lab)
        .get(format!(
            "{}/keys/{KEY}?api-version=7.6",
            lab.mock.https_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("Key Vault answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["message"].clone())
}

#[tokio::test]
async fn revoked_trust_refuses_new_tokens_and_issued_ones_live_to_their_lab_expiry() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep256;
    encrypt(&client, KEY, alg.clone(), b"dek").await?;
    let issued = token(
        &http(&lab),
        &lab.mock.https_url(),
        SERVICE_APP,
        SERVICE_SECRET,
    )
    .await;

    lab.mock.lab().apply(LAB_KEY, KeyAction::RevokeTrust)?;
    let fresh = service_client(&lab);
    let error = encrypt(&fresh, KEY, alg.clone(), b"dek")
        .await
        .expect_err("no service principal");
    // The app is known but the tenant holds no service principal for it: AADSTS7000229.
    assert!(
        full_text(&error).contains("AADSTS7000229"),
        "{}",
        full_text(&error)
    );
    // "Access tokens cannot be revoked": the SDK's cached one keeps working.
    encrypt(&client, KEY, alg.clone(), b"dek").await?;

    // The token's lab life, second by second around its expiry.
    let expired = json!("[TokenExpired] Error validating token: 'S2S12086'.");
    for (advance, expected) in [(3598, 200), (1, 401)] {
        lab.clock.advance(Duration::from_secs(advance));
        let (status, message) = read_key_with(&lab, &issued).await;
        assert_eq!(status, expected, "{advance}: {message}");
        if status == 401 {
            assert_eq!(message, expired);
        }
    }
    encrypt(&client, KEY, alg.clone(), b"dek")
        .await
        .expect_err("the cached token expired on the lab clock");

    // The owner is not affected; after restore-trust a new credential works.
    encrypt(&admin_client(&lab), KEY, alg.clone(), b"dek").await?;
    lab.mock.lab().apply(LAB_KEY, KeyAction::RestoreTrust)?;
    encrypt(&service_client(&lab), KEY, alg, b"dek").await?;
    Ok(())
}

#[tokio::test]
async fn revoke_sessions_is_refused_on_azure_naming_why() -> TestResult {
    let lab = start().await;
    let issued = token(
        &http(&lab),
        &lab.mock.https_url(),
        SERVICE_APP,
        SERVICE_SECRET,
    )
    .await;
    let error = lab
        .mock
        .lab()
        .apply(LAB_KEY, KeyAction::RevokeSessions)
        .expect_err("Entra tokens cannot be revoked");
    assert!(error.to_string().contains("cannot be revoked"), "{error}");
    assert_eq!(read_key_with(&lab, &issued).await.0, 200);
    Ok(())
}

#[tokio::test]
async fn revoked_access_is_forbidden_by_rbac() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep;
    let (version, ciphertext) = encrypt(&client, KEY, alg.clone(), b"dek").await?;
    lab.mock.lab().apply(LAB_KEY, KeyAction::RevokeAccess)?;
    let error = decrypt(&client, KEY, &version, alg.clone(), &ciphertext)
        .await
        .expect_err("access revoked");
    assert_eq!(
        kv_error(&error),
        (403, "Forbidden".into(), "ForbiddenByRbac".into())
    );
    let error = client.get_key(KEY, None).await.expect_err("no read either");
    assert_eq!(kv_error(&error).2, "ForbiddenByRbac");
    lab.mock.lab().apply(LAB_KEY, KeyAction::RestoreAccess)?;
    assert_eq!(
        decrypt(&client, KEY, &version, alg, &ciphertext).await?,
        b"dek"
    );
    Ok(())
}

#[tokio::test]
async fn pending_deletion_and_destroyed_keys_are_not_found() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let alg = EncryptionAlgorithm::RsaOaep256;
    let (version, ciphertext) = encrypt(&client, KEY, alg.clone(), b"dek").await?;
    lab.mock.lab().apply(LAB_KEY, KeyAction::ScheduleDeletion)?;
    let error = decrypt(&client, KEY, &version, alg.clone(), &ciphertext)
        .await
        .expect_err("soft-deleted");
    assert_eq!(kv_error(&error), (404, "KeyNotFound".into(), String::new()));
    let error = admin_client(&lab)
        .get_key(KEY, None)
        .await
        .expect_err("hidden from the owner too");
    assert_eq!(kv_error(&error).1, "KeyNotFound");

    lab.clock.advance(ekm_mock_kms::state::DELETION_WINDOW);
    assert_eq!(lab.mock.lab().key_info(LAB_KEY)?.state, "destroyed");
    // A week of lab time on, the old token has expired: sign in again.
    let client = service_client(&lab);
    let error = decrypt(&client, KEY, &version, alg, &ciphertext)
        .await
        .expect_err("destroyed");
    assert_eq!(kv_error(&error).1, "KeyNotFound");
    let error = client
        .get_key("no-such-key", None)
        .await
        .expect_err("unknown");
    assert_eq!(kv_error(&error).1, "KeyNotFound");
    Ok(())
}

#[tokio::test]
async fn faults_answer_in_key_vault_dialect() -> TestResult {
    let lab = start().await;
    let client = key_client_with(&lab, credential(&lab, SERVICE_APP, SERVICE_SECRET), false);
    let alg = EncryptionAlgorithm::RsaOaep256;
    encrypt(&client, KEY, alg.clone(), b"warm-up").await?;
    let faults = lab.mock.lab().faults();
    let cases = [
        (
            json!({"provider": "azure", "error": "unavailable"}),
            503,
            "ServiceUnavailable",
        ),
        (
            json!({"provider": "azure", "outage": true}),
            503,
            "ServiceUnavailable",
        ),
        (
            json!({"provider": "azure", "error": "internal"}),
            500,
            "InternalServerError",
        ),
        (
            json!({"provider": "azure", "error": "access-denied"}),
            403,
            "Forbidden",
        ),
        (
            json!({"provider": "azure", "throttle": {"limit": 0, "per_seconds": 10}}),
            429,
            "Throttled",
        ),
        (
            json!({"provider": "azure", "key": LAB_KEY, "error": "throttled"}),
            429,
            "Throttled",
        ),
    ];
    for (rule, status, code) in cases {
        lab.mock
            .lab()
            .set_faults(serde_json::from_value(json!([rule]))?)?;
        let error = encrypt(&client, KEY, alg.clone(), b"dek")
            .await
            .expect_err("fault");
        assert_eq!(
            (kv_error(&error).0, kv_error(&error).1.as_str()),
            (status, code),
            "{rule}"
        );
        if status == 429 {
            let azure_core::error::ErrorKind::HttpResponse {
                raw_response: Some(raw),
                ..
            } = error.kind()
            else {
                panic!("no raw response");
            };
            let retry_after = raw.headers().get_optional_str(&"retry-after".into());
            assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
        }
    }

    // Decrypt-only and other keys' rules leave encrypt alone; latency is a real delay.
    lab.mock.lab().set_faults(serde_json::from_value(json!([
        {"provider": "azure", "operation": "decrypt", "outage": true},
        {"provider": "azure", "key": "other", "outage": true},
        {"provider": "azure", "operation": "encrypt", "latency_ms": 150}
    ]))?)?;
    let watch = ekm_clock::Stopwatch::start();
    let (version, ciphertext) = encrypt(&client, KEY, alg.clone(), b"dek").await?;
    assert!(watch.elapsed() >= Duration::from_millis(150));
    let error = decrypt(&client, KEY, &version, alg.clone(), &ciphertext)
        .await
        .expect_err("decrypt outage");
    assert_eq!(kv_error(&error).0, 503);

    // Auth faults hit the token endpoint in Entra's dialect.
    lab.mock.lab().set_faults(serde_json::from_value(json!([
        {"provider": "azure", "operation": "auth", "error": "unavailable"}
    ]))?)?;
    let fresh = key_client_with(
        &lab,
        ClientSecretCredential::new(
            TENANT,
            SERVICE_APP.to_owned(),
            SERVICE_SECRET.to_owned().into(),
            Some(ClientSecretCredentialOptions {
                client_options: client_options(&lab, false),
            }),
        )?,
        false,
    );
    let error = encrypt(&fresh, KEY, alg.clone(), b"dek")
        .await
        .expect_err("token endpoint down");
    assert!(
        full_text(&error).contains("AADSTS90033"),
        "{}",
        full_text(&error)
    );
    faults.clear();
    encrypt(&fresh, KEY, alg, b"dek").await?;
    let outcomes: Vec<String> = lab
        .mock
        .lab()
        .calls()
        .since(0)
        .calls
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    for code in [
        "ServiceUnavailable",
        "Throttled",
        "ForbiddenByRbac",
        "temporarily_unavailable",
    ] {
        assert!(outcomes.iter().any(|o| o == code), "{code} in {outcomes:?}");
    }
    Ok(())
}

/// A client assertion signed by a certificate's key, in the header the Azure SDKs write.
#[derive(Debug)]
struct SignedAssertion {
    key_pkcs8: Vec<u8>,
    thumbprint: String,
    audience: String,
}

#[async_trait::async_trait]
impl ClientAssertion for SignedAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = ekm_clock::wall_time().unix_timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = json!({
            "aud": self.audience, "iss": SERVICE_APP, "sub": SERVICE_APP,
            "jti": "assertion-1", "nbf": now, "exp": now + 600,
        });
        let signed = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&self.key_pkcs8).map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Other, e.to_string())
        })?;
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Other, e.to_string())
        })?;
        Ok(format!("{signed}.{}", b64.encode(signature)))
    }
}

fn certificate() -> (Vec<u8>, String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let cert = rcgen::CertificateParams::new(vec!["ekm-service".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der()),
    );
    (key.serialize_der(), thumbprint, cert.pem())
}

#[tokio::test]
async fn client_assertion_signed_by_a_registered_certificate() -> TestResult {
    let (key_pkcs8, thumbprint, pem) = certificate();
    let mut tenant = Tenant::default();
    tenant.azure.client_certificates.push(AppCertificate {
        app_id: SERVICE_APP.to_owned(),
        certificate_pem: pem,
    });
    let lab = start_with(tenant).await;
    let audience = format!("{}/{TENANT}/oauth2/v2.0/token", lab.mock.https_url());
    let assertion_client = |key_pkcs8: Vec<u8>, thumbprint: String, audience: String| {
        let credential = ClientAssertionCredential::new(
            TENANT.to_owned(),
            SERVICE_APP.to_owned(),
            SignedAssertion {
                key_pkcs8,
                thumbprint,
                audience,
            },
            Some(ClientAssertionCredentialOptions {
                client_options: client_options(&lab, true),
            }),
        )
        .expect("credential");
        key_client_with(&lab, credential, true)
    };
    let client = assertion_client(key_pkcs8.clone(), thumbprint.clone(), audience.clone());
    let (version, ciphertext) =
        encrypt(&client, KEY, EncryptionAlgorithm::RsaOaep256, b"dek").await?;
    assert_eq!(
        decrypt(
            &client,
            KEY,
            &version,
            EncryptionAlgorithm::RsaOaep256,
            &ciphertext
        )
        .await?,
        b"dek"
    );

    // Another key claiming the registered thumbprint fails signature validation.
    let (other_key, _, _) = certificate();
    let forged = assertion_client(other_key, thumbprint.clone(), audience.clone());
    let error = forged.get_key(KEY, None).await.expect_err("forged");
    assert!(
        full_text(&error).contains("AADSTS700027"),
        "{}",
        full_text(&error)
    );
    // A wrong audience is refused.
    let misdirected = assertion_client(key_pkcs8, thumbprint, "https://elsewhere/token".into());
    let error = misdirected.get_key(KEY, None).await.expect_err("audience");
    assert!(
        full_text(&error).contains("AADSTS700027"),
        "{}",
        full_text(&error)
    );
    Ok(())
}

#[tokio::test]
async fn openid_configuration_and_instance_discovery() -> TestResult {
    let lab = start().await;
    let http = http(&lab);
    let base = lab.mock.https_url();
    for path in [
        format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
        format!("/{TENANT}/.well-known/openid-configuration"),
    ] {
        let config: Value = http
            .get(format!("{base}{path}"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(
            config["token_endpoint"],
            format!("{base}/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(config["issuer"], format!("{base}/{TENANT}/v2.0"));
        assert_eq!(
            config["authorization_endpoint"],
            format!("{base}/{TENANT}/oauth2/v2.0/authorize")
        );
    }
    let unknown = http
        .get(format!(
            "{base}/other-tenant/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await?;
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await?;
    assert_eq!(body["error"], "invalid_tenant");
    assert_eq!(body["error_codes"], json!([90002]));

    let discovery: Value = http
        .get(format!("{base}/common/discovery/instance?api-version=1.1"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        discovery["tenant_discovery_endpoint"],
        format!("{base}/{TENANT}/v2.0/.well-known/openid-configuration")
    );

    // The challenge names the authority and resource.
    let challenge = http
        .get(format!("{base}/keys/{KEY}?api-version=7.6"))
        .send()
        .await?;
    assert_eq!(challenge.status(), 401);
    assert_eq!(
        challenge.headers()["www-authenticate"],
        format!(r#"Bearer authorization="{base}/{TENANT}", resource="https://vault.azure.net""#)
            .as_str()
    );
    Ok(())
}

async fn token(http: &reqwest::Client, base: &str, app: &str, secret: &str) -> String {
    let response: Value = http
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", secret),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token JSON");
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 3599);
    response["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Broken requests at every Azure route: each gets a 4xx in Azure's format, never a 500, and
/// the server keeps serving.
#[tokio::test]
async fn bad_input_corpus_gets_azure_format_4xx() -> TestResult {
    let lab = start().await;
    let http = http(&lab);
    let base = lab.mock.https_url();
    let bearer = format!(
        "Bearer {}",
        token(&http, &base, ADMIN_APP, ADMIN_SECRET).await
    );
    let version = primary_version(&lab, LAB_KEY);
    let token_url = format!("/{TENANT}/oauth2/v2.0/token");
    let huge = "A".repeat(70 * 1024);
    let huge_json = format!(r#"{{"alg":"RSA-OAEP-256","value":"{huge}"}}"#);
    let too_long = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([1u8; 300]);

    // (method, path, authorized, body)
    let mut corpus: Vec<(reqwest::Method, String, bool, String)> = Vec::new();
    let crypto_paths = [
        format!("/keys/{KEY}/{version}/encrypt"),
        format!("/keys/{KEY}//decrypt"),
        format!("/keys/{KEY}/wrapkey"),
        format!("/keys/{KEY}/{version}/unwrapKey"),
    ];
    let bad_bodies = [
        String::new(),
        "{".to_owned(),
        "null".to_owned(),
        "[]".to_owned(),
        r#"{"alg":"RSA-OAEP-256"}"#.to_owned(),
        r#"{"value":"AAAA"}"#.to_owned(),
        r#"{"alg":"A256GCM","value":"AAAA"}"#.to_owned(),
        r#"{"alg":"RSA-OAEP-256","value":"!!not base64!!"}"#.to_owned(),
        r#"{"alg":"RSA-OAEP-256","value":12}"#.to_owned(),
        r#"{"alg":["RSA-OAEP"],"value":"AAAA"}"#.to_owned(),
        format!(r#"{{"alg":"RSA-OAEP-256","value":"{too_long}"}}"#),
        "\u{0}\u{1}binary".to_owned(),
        huge_json.clone(),
    ];
    for path in &crypto_paths {
        for body in &bad_bodies {
            corpus.push((reqwest::Method::POST, path.clone(), true, body.clone()));
        }
    }
    for (method, path, body) in [
        ("POST", format!("/keys/{KEY}/create"), "{}"),
        ("POST", format!("/keys/{KEY}/create"), r#"{"kty":"oct"}"#),
        (
            "POST",
            format!("/keys/{KEY}/create"),
            r#"{"kty":"RSA","key_size":1024}"#,
        ),
        (
            "POST",
            format!("/keys/{KEY}/create"),
            r#"{"kty":"EC","crv":"P-521"}"#,
        ),
        ("POST", format!("/keys/{KEY}/create"), r#"{"kty":"EC"}"#),
        (
            "POST",
            "/keys/bad%20name/create".to_owned(),
            r#"{"kty":"RSA"}"#,
        ),
        (
            "POST",
            "/keys/azure-demo/create".to_owned(),
            r#"{"kty":"RSA"}"#,
        ),
        ("POST", format!("/keys/{KEY}/create"), "not json"),
        ("PATCH", format!("/keys/{KEY}"), "{"),
        (
            "PATCH",
            format!("/keys/{KEY}"),
            r#"{"attributes":{"enabled":"yes"}}"#,
        ),
        (
            "PATCH",
            format!("/keys/{KEY}/nope"),
            r#"{"attributes":{"enabled":true}}"#,
        ),
        ("GET", format!("/keys/{KEY}/nope"), ""),
        ("GET", "/keys/unknown".to_owned(), ""),
        ("GET", "/keys".to_owned(), ""),
        ("GET", "/keys/".to_owned(), ""),
        ("GET", format!("/keys/{KEY}/a/b/c"), ""),
        ("DELETE", format!("/keys/{KEY}"), ""),
        ("PUT", format!("/keys/{KEY}/{version}"), "{}"),
        ("POST", format!("/keys/{KEY}/{version}/sign"), "{}"),
        ("POST", format!("/keys/{KEY}/{version}"), "{}"),
        ("GET", format!("/keys/{KEY}/{version}/encrypt"), ""),
        (
            "POST",
            "/keys/unknown/encrypt".to_owned(),
            r#"{"alg":"RSA-OAEP","value":"AAAA"}"#,
        ),
        (
            "POST",
            format!("/keys/{KEY}//decrypt"),
            r#"{"alg":"RSA-OAEP","value":"AAAA"}"#,
        ),
        (
            "POST",
            format!("/keys/{KEY}/{version}/unwrapkey"),
            r#"{"alg":"RSA1_5","value":"AAAA"}"#,
        ),
        ("GET", "/nothing/here".to_owned(), ""),
        ("GET", "/".to_owned(), ""),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        corpus.push((method, path, true, body.to_owned()));
    }
    // Unauthenticated and badly authenticated requests.
    for path in [format!("/keys/{KEY}"), format!("/keys/{KEY}//encrypt")] {
        corpus.push((reqwest::Method::POST, path, false, "{}".to_owned()));
    }

    for (method, path, authorized, body) in &corpus {
        let mut request = http
            .request(method.clone(), format!("{base}{path}?api-version=7.6"))
            .header("content-type", "application/json")
            .body(body.clone());
        if *authorized {
            request = request.header("authorization", &bearer);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        assert!(
            status.is_client_error(),
            "{method} {path} {body:.60}: {status} {text}"
        );
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(
            json["error"]["code"].is_string() && json["error"]["message"].is_string(),
            "{method} {path}: not Key Vault format: {text}"
        );
    }
    for header in ["Bearer", "Bearer nope", "Basic abc", "bearer", "\u{7f}"] {
        let response = http
            .get(format!("{base}/keys/{KEY}"))
            .header("authorization", header)
            .send()
            .await;
        if let Ok(response) = response {
            assert_eq!(response.status(), 401, "{header}");
            assert!(response.headers().contains_key("www-authenticate"));
        }
    }

    // The token endpoint: Entra's OAuth errors.
    let forms: Vec<(String, String)> = vec![
        (token_url.clone(), String::new()),
        (token_url.clone(), "%%%".to_owned()),
        (token_url.clone(), "grant_type=password".to_owned()),
        (
            token_url.clone(),
            "grant_type=client_credentials".to_owned(),
        ),
        (
            token_url.clone(),
            format!("grant_type=client_credentials&client_id={SERVICE_APP}"),
        ),
        (
            token_url.clone(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://management.azure.com/.default&client_secret={SERVICE_SECRET}"
            ),
        ),
        (
            token_url.clone(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://vault.azure.net/.default"
            ),
        ),
        (
            token_url.clone(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://vault.azure.net/.default&client_assertion=a.b.c"
            ),
        ),
        (
            token_url.clone(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://vault.azure.net/.default&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=not-a-jwt"
            ),
        ),
        (
            token_url.clone(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://vault.azure.net/.default&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.e30.AAAA"
            ),
        ),
        (
            "/wrong-tenant/oauth2/v2.0/token".to_owned(),
            format!(
                "grant_type=client_credentials&client_id={SERVICE_APP}&scope=https://vault.azure.net/.default&client_secret={SERVICE_SECRET}"
            ),
        ),
        (token_url.clone(), format!("client_secret={huge}")),
    ];
    for (path, form) in &forms {
        let response = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await?;
        let status = response.status();
        let json: Value = response.json().await?;
        assert!(
            status.is_client_error(),
            "{path} {form:.80}: {status} {json}"
        );
        assert!(
            json["error"].is_string() && json["error_codes"].is_array(),
            "{path}: not Entra format: {json}"
        );
    }
    let get_token = http.get(format!("{base}{token_url}")).send().await?;
    assert_eq!(get_token.status(), 400);

    // Still serving, and no answer was a 500.
    let key: Value = http
        .get(format!("{base}/keys/{KEY}?api-version=7.6"))
        .header("authorization", &bearer)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(key["key"]["kty"], "RSA");
    assert!(
        lab.mock
            .lab()
            .calls()
            .since(0)
            .calls
            .iter()
            .all(|c| !c.outcome.starts_with("Internal"))
    );
    Ok(())
}

#[tokio::test]
async fn tokens_expire_on_the_lab_clock_and_a_new_credential_signs_in_again() -> TestResult {
    // The SDK caches its token on real time; the lab clock ends it after `sessions.azure`
    // (3599 s), so a day of lab time needs new sign-ins — the engine renews from its side.
    let lab = start().await;
    let client = service_client(&lab);
    encrypt(&client, KEY, EncryptionAlgorithm::RsaOaep256, b"dek").await?;
    lab.clock.advance(Duration::from_secs(24 * 3600));
    let error = encrypt(&client, KEY, EncryptionAlgorithm::RsaOaep256, b"dek")
        .await
        .expect_err("expired on the lab clock");
    assert_eq!(kv_error(&error).0, 401);
    let renewed = service_client(&lab);
    let (version, ciphertext) =
        encrypt(&renewed, KEY, EncryptionAlgorithm::RsaOaep256, b"dek").await?;
    assert_eq!(
        decrypt(
            &renewed,
            KEY,
            &version,
            EncryptionAlgorithm::RsaOaep256,
            &ciphertext
        )
        .await?,
        b"dek"
    );
    let tokens = lab
        .mock
        .lab()
        .calls()
        .since(0)
        .calls
        .iter()
        .filter(|c| c.operation == "token")
        .count();
    assert_eq!(tokens, 2);
    Ok(())
}

#[tokio::test]
async fn token_lifetime_follows_the_tenant() -> TestResult {
    let mut tenant = Tenant::default();
    tenant.sessions.azure = 600;
    let lab = start_with(tenant).await;
    let response: Value = http(&lab)
        .post(format!(
            "{}/{TENANT}/oauth2/v2.0/token",
            lab.mock.https_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SERVICE_APP),
            ("client_secret", SERVICE_SECRET),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(response["expires_in"], 600);
    let issued = response["access_token"].as_str().unwrap_or_default();
    lab.clock.advance(Duration::from_secs(599));
    assert_eq!(read_key_with(&lab, issued).await.0, 200);
    lab.clock.advance(Duration::from_secs(1));
    assert_eq!(read_key_with(&lab, issued).await.0, 401);
    Ok(())
}

#[tokio::test]
async fn encrypt_options_name_a_version() -> TestResult {
    let lab = start().await;
    let client = service_client(&lab);
    let v1 = primary_version(&lab, LAB_KEY);
    lab.mock.lab().apply(LAB_KEY, KeyAction::Rotate)?;
    let result = client
        .encrypt(
            KEY,
            params(EncryptionAlgorithm::RsaOaep256, b"dek").try_into()?,
            Some(KeyClientEncryptOptions {
                key_version: Some(v1.clone()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    assert!(result.kid.unwrap_or_default().ends_with(&v1));
    Ok(())
}

/// A Microsoft Graph token of `app`, obtained by the real `azure_identity` credential.
async fn graph_token(lab: &Lab, app: &str, secret: &str) -> String {
    let token = credential(lab, app, secret)
        .get_token(&["https://graph.microsoft.com/.default"], None)
        .await
        .expect("a Graph token");
    token.token.secret().to_owned()
}

#[tokio::test]
async fn graph_service_principals_are_the_trust_and_role_assignments_the_access() -> TestResult {
    let lab = start().await;
    let http = http(&lab);
    let graph = format!("{}/v1.0/servicePrincipals", lab.mock.https_url());
    let admin = graph_token(&lab, ADMIN_APP, ADMIN_SECRET).await;
    let alg = EncryptionAlgorithm::RsaOaep256;
    let client = service_client(&lab);
    encrypt(&client, KEY, alg.clone(), b"dek").await?;

    // The service principal as Graph shows it; deleting it is revoking trust.
    let object_id = lab.mock.lab().tenant().azure.service_object_id.clone();
    let sp: Value = http
        .get(format!("{graph}/{object_id}"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(sp["appId"], SERVICE_APP);
    let delete = || {
        http.delete(format!("{graph}/{object_id}"))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(delete().await?.status(), 204);
    // Its token lives on (only new sign-ins are refused).
    encrypt(&client, KEY, alg.clone(), b"dek").await?;
    let error = encrypt(&service_client(&lab), KEY, alg.clone(), b"dek")
        .await
        .expect_err("no service principal");
    assert!(
        full_text(&error).contains("AADSTS7000229"),
        "{}",
        full_text(&error)
    );
    let info = lab.mock.lab().key_info(LAB_KEY)?;
    assert_eq!((info.access, info.trust), (true, false));

    // Graph's refusals.
    let cases = [
        (
            json!({"appId": "00000000-0000-4000-8000-000000000000"}),
            &admin,
            400,
            "Request_BadRequest",
        ),
        (
            json!({"displayName": "no app id"}),
            &admin,
            400,
            "Request_BadRequest",
        ),
        (
            json!({"appId": SERVICE_APP}),
            &"not-a-token".to_owned(),
            401,
            "InvalidAuthenticationToken",
        ),
    ];
    for (body, token, status, code) in cases {
        let response = http
            .post(&graph)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let reply: Value = response.json().await?;
        assert_eq!(reply["error"]["code"], code, "{body}: {reply}");
    }
    assert_eq!(delete().await?.status(), 404, "already deleted");

    // Creating it again is restoring trust; a second one for the app is refused.
    let create = || {
        http.post(&graph)
            .bearer_auth(&admin)
            .json(&json!({"appId": SERVICE_APP}))
            .send()
    };
    let created = create().await?;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await?;
    assert_eq!(
        (&created["id"], &created["appId"]),
        (&json!(object_id), &json!(SERVICE_APP))
    );
    assert_eq!(create().await?.status(), 400);
    let client = service_client(&lab);
    encrypt(&client, KEY, alg.clone(), b"dek").await?;

    // The service's own Graph token may not manage service principals.
    let service_token = graph_token(&lab, SERVICE_APP, SERVICE_SECRET).await;
    let denied = http
        .delete(format!("{graph}/{object_id}"))
        .bearer_auth(&service_token)
        .send()
        .await?;
    assert_eq!(denied.status(), 403);

    // Access: the role assignment; its removal is a 403 ForbiddenByRbac traced in the call log.
    lab.mock.lab().apply(LAB_KEY, KeyAction::RevokeAccess)?;
    let error = encrypt(&client, KEY, alg, b"dek")
        .await
        .expect_err("no assignment");
    let (status, code, inner) = kv_error(&error);
    assert_eq!(
        (status, code.as_str(), inner.as_str()),
        (403, "Forbidden", "ForbiddenByRbac")
    );
    let calls = lab.mock.lab().calls().since(0).calls;
    let last = calls
        .iter()
        .rev()
        .find(|c| c.operation == "encrypt")
        .expect("logged");
    assert_eq!(last.outcome, "ForbiddenByRbac");
    let trace = last.trace.as_deref().unwrap_or_default();
    assert!(
        trace.contains("does not cover the key") || trace.contains("no statement"),
        "{trace}"
    );
    Ok(())
}
