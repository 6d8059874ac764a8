//! The engine's Azure Key Vault provider (real `azure_security_keyvault_keys` + `azure_identity`
//! `ClientSecretCredential` in the customer's tenant) against the mock KMS over HTTPS: the
//! shared suite, plus Azure-only behaviours (RSA only, the versioned key id in the eDEK, what
//! connecting checks, re-authentication after restored trust).

use ekm_engine::config::Config;
use ekm_engine::provider::azure::SELECT_RSA;
use ekm_engine::registration::{self, Cloud, SetupError};
use ekm_engine::{EncryptionContext, KmsError};
use ekm_tests::Lab;
use ekm_tests::suite::{self, CloudCase, Revocation};
use serde_json::{Value, json};

const AZURE: CloudCase = CloudCase {
    cloud: Cloud::Azure,
    provider: "azure",
    demo_key: "azure-demo",
    spec: "RSA_2048",
    wrap_op: "encrypt",
    unwrap_op: "decrypt",
    throttled_outcome: "Throttled",
    hinted_version: Some(version_of_kid),
    register_key: register_key_name,
};

/// The provider's version hint is the versioned key id Key Vault answered with
/// (`https://VAULT/keys/NAME/VERSION`).
fn version_of_kid(hint: &str) -> String {
    let (key, version) = hint
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("`{hint}` is not a versioned key id"));
    assert!(key.contains("/keys/"), "`{hint}` is not a Key Vault key id");
    version.to_owned()
}

/// Registers the created key (its id is `https://VAULT/keys/NAME`) in the same vault.
fn register_key_name(config: &mut Config, created: &Value) {
    let id = created["id"].as_str().expect("key id");
    let (vault, name) = id.rsplit_once("/keys/").expect("a Key Vault key id");
    let azure = config.azure.as_mut().expect("the demo registers Azure");
    assert_eq!(format!("{vault}/"), azure.vault_uri, "{id}");
    name.clone_into(&mut azure.key_name);
}

#[tokio::test]
async fn round_trip() {
    suite::round_trip(AZURE).await;
}

#[tokio::test]
async fn rotation_keeps_old_data_readable() {
    suite::rotation_keeps_old_data_readable(AZURE).await;
}

#[tokio::test]
async fn disable_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AZURE, Revocation::Disable, "KeyDisabled").await;
}

/// Key Vault hides soft-deleted keys: a key pending deletion is not found.
#[tokio::test]
async fn schedule_deletion_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(
        AZURE,
        Revocation::ScheduleDeletion,
        "KeyNotFound",
    )
    .await;
}

/// A purged key is indistinguishable from one that never existed.
#[tokio::test]
async fn destroy_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AZURE, Revocation::Destroy, "KeyNotFound").await;
}

#[tokio::test]
async fn revoke_access_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(AZURE, Revocation::RevokeAccess, "AccessDenied")
        .await;
}

#[tokio::test]
async fn revoke_trust_revokes_at_revalidation() {
    suite::revocation_takes_effect_at_revalidation(
        AZURE,
        Revocation::RevokeTrust,
        "Authentication",
    )
    .await;
}

#[tokio::test]
async fn switch_key_revokes_old_data() {
    suite::switch_key_revokes_old_data(AZURE).await;
}

#[tokio::test]
async fn outage_is_served_from_cache_until_the_ttl() {
    suite::outage_is_served_from_cache_until_the_ttl(AZURE).await;
}

#[tokio::test]
async fn throttling_is_retried() {
    suite::throttling_is_retried(AZURE).await;
}

#[tokio::test]
async fn a_day_of_traffic() {
    let traffic = suite::a_day_of_traffic(AZURE).await;
    eprintln!("azure: {traffic:?}");
}

/// The lab clock, as the engine takes it.
fn lab_clock(lab: &Lab) -> ekm_engine::clock::SharedClock {
    lab.clock.clone()
}

fn azure_config(lab: &Lab, key_name: &str) -> Config {
    let mut config = lab.config.clone();
    config
        .azure
        .as_mut()
        .expect("the demo registers Azure")
        .key_name = key_name.to_owned();
    config
}

#[tokio::test]
async fn an_ec_key_is_refused_at_connect() {
    let lab = Lab::start().await;
    lab.create_key("azure-ec", "azure", "EC_P256").await;
    let error = registration::connect(
        &azure_config(&lab, "azure-ec"),
        Cloud::Azure,
        &lab_clock(&lab),
    )
    .await
    .expect_err("an EC key cannot wrap DEKs");
    assert!(
        matches!(
            error,
            SetupError::Unusable {
                cloud: Cloud::Azure,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(SELECT_RSA), "{message}");
    assert!(message.contains("/keys/azure-ec"), "{message}");
    assert_eq!(lab.count_calls("azure", "encrypt", None).await, 0);
}

#[tokio::test]
async fn a_wrong_client_secret_is_an_authentication_failure() {
    let lab = Lab::start().await;
    let mut config = lab.config.clone();
    config
        .service
        .azure
        .as_mut()
        .expect("the demo has the service app")
        .client_secret = "not-the-secret".into();
    let error = registration::connect(&config, Cloud::Azure, &lab_clock(&lab))
        .await
        .expect_err("wrong secret");
    let SetupError::Kms { source, .. } = &error else {
        panic!("expected a KMS error, got {error:?}");
    };
    assert!(source.is_authentication(), "{source}");
    assert!(source.to_string().contains("AADSTS7000215"), "{source}");
    // One token request per attempt: the first, and the one retry on a fresh credential.
    assert_eq!(
        lab.count_calls("azure", "token", Some("invalid_client"))
            .await,
        2
    );
}

/// Connecting reads the key: a refused role assignment or a missing key is visible at once (as
/// `ekm check` needs), while an outage does not stop the provider from connecting.
#[tokio::test]
async fn connect_reports_refusals_and_tolerates_outages() {
    let lab = Lab::start().await;
    lab.key_action("azure-demo", "revoke-access").await;
    let error = registration::connect(&lab.config, Cloud::Azure, &lab_clock(&lab))
        .await
        .expect_err("no role assignment");
    assert!(
        matches!(
            &error,
            SetupError::Kms {
                source: KmsError::AccessDenied { .. },
                ..
            }
        ),
        "{error:?}"
    );
    lab.key_action("azure-demo", "restore-access").await;

    let error = registration::connect(
        &azure_config(&lab, "no-such-key"),
        Cloud::Azure,
        &lab_clock(&lab),
    )
    .await
    .expect_err("missing key");
    assert!(
        matches!(
            &error,
            SetupError::Kms {
                source: KmsError::KeyNotFound { .. },
                ..
            }
        ),
        "{error:?}"
    );

    lab.set_faults(json!([{ "provider": "azure", "operation": "*", "outage": true }]))
        .await;
    let kek = lab.kek(Cloud::Azure).await;
    lab.clear_faults().await;
    let (engine, project) = lab.engine(kek);
    let context = EncryptionContext::new().with("object", "after-outage");
    let envelope = engine
        .seal(&project, &context, b"data")
        .await
        .expect("seal");
    let opened = engine
        .open(&project, &envelope, &context)
        .await
        .expect("open");
    assert_eq!(opened.as_slice(), b"data");
}

/// The eDEK's version hint is the full versioned key id, and unwrap decrypts with that version.
#[tokio::test]
async fn the_edek_records_the_versioned_key_id() {
    let lab = Lab::start().await;
    let kek = lab.kek(Cloud::Azure).await;
    let info = lab.key_info("azure-demo").await;
    let id = info["id"].as_str().expect("key id");
    assert_eq!(kek.key_reference().key(), id);
    assert!(id.ends_with("/keys/ekm-key"), "{id}");

    let (engine, project) = lab.engine(kek.clone());
    let context = EncryptionContext::new().with("object", "o");
    let envelope = engine.seal(&project, &context, b"o").await.expect("seal");
    let (edek, hint) = suite::edek_of(&envelope);
    let primary = info["primary_version"].as_str().expect("primary version");
    assert_eq!(hint, format!("{id}/{primary}"));
    assert_eq!(edek.len(), 256, "RSA-2048 OAEP ciphertext");

    // A hint naming another key or no version is refused without asking the vault.
    let wrap_context = EncryptionContext::new().with("ekm:project", "proj_demo");
    let decrypts = lab.count_calls("azure", "decrypt", None).await;
    for bad in [id.to_owned(), format!("{id}x/{primary}"), String::new()] {
        let error = kek
            .unwrap(&edek, &bad, &wrap_context)
            .await
            .expect_err("not a version of this key");
        assert!(
            matches!(error, KmsError::InvalidCiphertext { .. }),
            "{bad}: {error}"
        );
    }
    assert_eq!(lab.count_calls("azure", "decrypt", None).await, decrypts);
    // A corrupt eDEK is the vault's BadParameter.
    let mut corrupt = edek.clone();
    corrupt[0] ^= 1;
    let error = kek
        .unwrap(&corrupt, &hint, &wrap_context)
        .await
        .expect_err("corrupt eDEK");
    assert!(
        matches!(error, KmsError::InvalidCiphertext { .. }),
        "{error}"
    );
}

/// A trust removal leaves the provider's token to its lab expiry; its renewal is then refused;
/// after the trust is restored the same provider works again at once: the credential holding
/// the refused sign-in is replaced after the authentication failure.
#[tokio::test]
async fn restored_trust_works_without_reconnecting() {
    let lab = Lab::start().await;
    let kek = lab.kek(Cloud::Azure).await;
    let (engine, project) = lab.engine(kek.clone());
    let context = EncryptionContext::new().with("object", "o");
    let envelope = engine.seal(&project, &context, b"o").await.expect("seal");
    let (edek, hint) = suite::edek_of(&envelope);
    let wrap_context = EncryptionContext::new().with("ekm:project", "proj_demo");

    lab.key_action("azure-demo", "revoke-trust").await;
    kek.unwrap(&edek, &hint, &wrap_context)
        .await
        .expect("the token already issued lives on");
    lab.advance(std::time::Duration::from_secs(3599));
    let error = kek
        .unwrap(&edek, &hint, &wrap_context)
        .await
        .expect_err("its renewal is refused");
    assert!(error.is_authentication(), "{error}");
    // The app is known, the tenant holds no service principal for it.
    assert!(error.to_string().contains("AADSTS7000229"), "{error}");

    lab.key_action("azure-demo", "restore-trust").await;
    kek.unwrap(&edek, &hint, &wrap_context)
        .await
        .expect("a new credential after restore-trust");
}

/// RSA-OAEP has no AAD, so the provider binds the wrap context inside the eDEK: one Azure key
/// registered for two projects does not let one project unwrap the other's eDEKs, and the
/// plaintext the vault returns is not a bare DEK.
#[tokio::test]
async fn one_key_for_two_projects_does_not_unwrap_across_projects() {
    let lab = Lab::start().await;
    let kek = lab.kek(Cloud::Azure).await;
    let (engine, project) = lab.engine(kek.clone());
    let context = EncryptionContext::new().with("object", "theirs");
    let envelope = engine
        .seal(&project, &context, b"project A's data")
        .await
        .expect("seal");
    let parsed = ekm_engine::envelope::parse(&envelope).expect("parse");
    let header = parsed.header();
    let wrap = |project: &str| EncryptionContext::new().with("ekm:project", project);
    let own = kek
        .unwrap(header.edek(), header.key_version(), &wrap(project.as_str()))
        .await
        .expect("the owning project unwraps");
    let other = kek
        .unwrap(header.edek(), header.key_version(), &wrap("proj_other"))
        .await
        .expect_err("another project's context is refused");
    assert!(
        matches!(&other, KmsError::InvalidCiphertext { message } if message.contains("another wrap context")),
        "{other:?}"
    );
    let dek = own.expose_secret();
    let plaintext = lab
        .owner()
        .owner_plaintext(&envelope)
        .expect("the key owner decrypts");
    assert_eq!(
        plaintext.len(),
        ekm_engine::provider::azure::bound_dek::BOUND_LEN
    );
    assert_eq!(&plaintext[5..37], dek.as_slice(), "DEK ‖ context digest");
}
