//! The behaviours every cloud provider must show against the mock KMS, written once and run per
//! cloud from `tests/aws.rs`, `tests/gcp.rs` and `tests/azure.rs`:
//!
//! - data round-trips and a cold engine reopens it with exactly one unwrap;
//! - a master-key rotation keeps old data readable while new data uses the new version;
//! - every revocation method leaves data readable until `revalidate_after` and unreadable (with
//!   the right typed error) right after, and a new key never opens old data;
//! - an outage is served from cache until the TTL, then fails `Unavailable`;
//! - throttling is retried and succeeds;
//! - a simulated day of steady traffic makes exactly the expected KMS calls.

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::config::Config;
use ekm_engine::registration::Cloud;
use ekm_engine::{
    EncryptionContext, Engine, EngineConfig, EngineError, KeyEncryptionKey, KmsError, ProjectId,
    RetryPolicy,
};
use serde_json::json;

use crate::Lab;

/// What differs between clouds, as the suite sees them.
#[derive(Debug, Clone, Copy)]
pub struct CloudCase {
    /// The engine's provider.
    pub cloud: Cloud,
    /// The mock's provider name (`aws`, `gcp`, `azure`) in keys, faults and the call log.
    pub provider: &'static str,
    /// Lab name of the demo key.
    pub demo_key: &'static str,
    /// Key spec of keys the suite creates.
    pub spec: &'static str,
    /// The cloud's operation name for a wrap in the call log.
    pub wrap_op: &'static str,
    /// The cloud's operation name for an unwrap in the call log.
    pub unwrap_op: &'static str,
    /// The call-log outcome of a throttled call.
    pub throttled_outcome: &'static str,
    /// The key version the provider's key-version hint names, where the hint names one (GCP's
    /// `…/cryptoKeyVersions/N`, Azure's versioned key id); it must be the version the key owner
    /// sees wrapped the eDEK.
    pub hinted_version: Option<fn(key_version_hint: &str) -> String>,
    /// `config` re-registered on key `created` (the control API's JSON of a new key).
    pub register_key: fn(config: &mut Config, created: &serde_json::Value),
}

/// How a customer takes a key away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Disable the key.
    Disable,
    /// Schedule its deletion.
    ScheduleDeletion,
    /// Destroy its material.
    Destroy,
    /// Remove the service's policy / role assignment.
    RevokeAccess,
    /// Remove the trust in the service identity.
    RevokeTrust,
    /// Repoint the registered alias at another key (AWS).
    AliasSwap,
}

impl Revocation {
    fn control_action(self) -> Option<&'static str> {
        match self {
            Revocation::Disable => Some("disable"),
            Revocation::ScheduleDeletion => Some("schedule-deletion"),
            Revocation::Destroy => Some("destroy"),
            Revocation::RevokeAccess => Some("revoke-access"),
            Revocation::RevokeTrust => Some("revoke-trust"),
            Revocation::AliasSwap => None,
        }
    }
}

/// The class of a KMS error, for comparing with expectations.
pub fn kind(error: &KmsError) -> &'static str {
    error.kind().as_str()
}

/// The typed KMS error class of an engine result (`ok` when it succeeded).
pub fn kms_kind(result: &Result<impl Sized, EngineError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.kms_error().map_or("not a KMS error", kind),
    }
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
    assert_opens_bytes(engine, project, envelope, object, object.as_bytes()).await;
}

async fn assert_opens_bytes(
    engine: &Engine,
    project: &ProjectId,
    envelope: &[u8],
    object: &str,
    expected: &[u8],
) {
    let plaintext = engine
        .open(project, envelope, &context(object))
        .await
        .unwrap_or_else(|e| panic!("open {object}: {e}"));
    assert_eq!(plaintext.as_slice(), expected);
}

fn revalidate_after(lab: &Lab) -> Duration {
    lab.config.engine.revalidate_after
}

/// The eDEK and version hint in an envelope's header.
pub fn edek_of(envelope: &[u8]) -> (Vec<u8>, String) {
    let parsed = ekm_engine::envelope::parse(envelope).expect("a well-formed envelope");
    let header = parsed.header();
    (header.edek().to_vec(), header.key_version().to_owned())
}

/// Seals, opens, and reopens from a cold engine with exactly one unwrap.
pub async fn round_trip(case: CloudCase) {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let envelope = seal(&engine, &project, "report.pdf").await;
    assert_opens(&engine, &project, &envelope, "report.pdf").await;
    assert!(matches!(
        engine
            .open(&project, &envelope, &context("other.pdf"))
            .await,
        Err(EngineError::Envelope(_))
    ));
    assert_eq!(
        lab.count_calls(case.provider, case.wrap_op, Some("ok"))
            .await,
        1
    );

    let unwraps = lab.count_calls(case.provider, case.unwrap_op, None).await;
    let (cold, _) = lab.engine(lab.kek(case.cloud).await);
    assert_opens(&cold, &project, &envelope, "report.pdf").await;
    assert_opens(&cold, &project, &envelope, "report.pdf").await;
    assert_eq!(
        lab.count_calls(case.provider, case.unwrap_op, None).await,
        unwraps + 1,
        "a cold open costs exactly one unwrap, a warm one none"
    );
}

/// Rotating the master key: old data stays readable, new data uses the new version.
pub async fn rotation_keeps_old_data_readable(case: CloudCase) {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let before = lab.key_info(case.demo_key).await;
    let old = seal(&engine, &project, "before-rotation").await;

    let rotated = lab.key_action(case.demo_key, "rotate").await;
    assert_ne!(rotated["primary_version"], before["primary_version"]);
    lab.advance(lab.config.engine.dek_rotation);
    let new = seal(&engine, &project, "after-rotation").await;

    let version = |envelope: &[u8]| {
        let wrapped = lab
            .owner()
            .wrapping_key(envelope)
            .unwrap_or_else(|e| panic!("the key owner attributes the eDEK: {e}"));
        assert_eq!(wrapped.key, case.demo_key);
        if let Some(hinted_version) = case.hinted_version {
            let (_, hint) = edek_of(envelope);
            assert_eq!(hinted_version(&hint), wrapped.version, "hint `{hint}`");
        }
        wrapped.version
    };
    assert_eq!(version(&old), before["primary_version"].as_str().unwrap());
    assert_eq!(version(&new), rotated["primary_version"].as_str().unwrap());

    let (cold, _) = lab.engine(lab.kek(case.cloud).await);
    assert_opens(&cold, &project, &old, "before-rotation").await;
    assert_opens(&cold, &project, &new, "after-rotation").await;
}

/// A revocation takes effect exactly at `revalidate_after`: before it cached DEKs keep data
/// readable and sealable, right after both fail with `expected` (a [`kind`]); and a new key
/// never opens the old data.
pub async fn revocation_takes_effect_at_revalidation(
    case: CloudCase,
    method: Revocation,
    expected: &str,
) {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let envelope = seal(&engine, &project, "contract.txt").await;
    assert_opens(&engine, &project, &envelope, "contract.txt").await;

    let replacement_name = format!("{}-replacement", case.provider);
    match method.control_action() {
        Some(action) => {
            lab.key_action(case.demo_key, action).await;
        }
        None => {
            lab.create_key(&replacement_name, case.provider, case.spec)
                .await;
            lab.set_alias("ekm-demo", &replacement_name).await;
        }
    }

    lab.advance(revalidate_after(&lab) - Duration::from_secs(1));
    assert_opens(&engine, &project, &envelope, "contract.txt").await;
    seal(&engine, &project, "still-working.txt").await;

    lab.advance(Duration::from_secs(1));
    let opened = engine
        .open(&project, &envelope, &context("contract.txt"))
        .await;
    assert_eq!(
        kms_kind(&opened),
        expected,
        "open right after revalidate_after: {opened:?}"
    );
    let sealed = engine.seal(&project, &context("new.txt"), b"new").await;
    assert_eq!(
        kms_kind(&sealed),
        expected,
        "seal right after revalidate_after"
    );
    let resealed = engine.seal(&project, &context("new.txt"), b"new").await;
    if method == Revocation::AliasSwap {
        // The failed DEK is dropped; a fresh one is wrapped by the alias's new key.
        let fresh = resealed.expect("after an alias swap new data is sealed under the new key");
        assert_opens_bytes(&engine, &project, &fresh, "new.txt", b"new").await;
    } else {
        assert_eq!(
            kms_kind(&resealed),
            expected,
            "a fresh DEK cannot be wrapped either"
        );
    }

    // Trust is the tenant's (the role, provider or service principal), not the key's: put it
    // back so the new key can be reached at all — it must still not open the old data.
    if method == Revocation::RevokeTrust {
        lab.key_action(case.demo_key, "restore-trust").await;
    }
    let replacement = match method {
        Revocation::AliasSwap => lab.key_info(&replacement_name).await,
        _ => {
            lab.create_key(&replacement_name, case.provider, case.spec)
                .await
        }
    };
    new_key_never_opens_old_data(case, &lab, &envelope, &replacement).await;
}

async fn new_key_never_opens_old_data(
    case: CloudCase,
    lab: &Lab,
    envelope: &[u8],
    replacement: &serde_json::Value,
) {
    let mut config = lab.config.clone();
    (case.register_key)(&mut config, replacement);
    let new_kek = lab.kek_for(&config, case.cloud).await;
    let (edek, hint) = edek_of(envelope);
    let wrap_context = EncryptionContext::new().with("ekm:project", lab.config.project_id.as_str());
    let unwrapped = new_kek.unwrap(&edek, &hint, &wrap_context).await;
    assert!(unwrapped.is_err(), "a new key opened old data");
}

/// Switching the project to another key (the seed's "switching the KMS identifier is a
/// revocation"): old data opens while its DEK is cached, then never again; new data uses the
/// new key.
pub async fn switch_key_revokes_old_data(case: CloudCase) {
    let lab = Lab::start().await;
    let old_kek = lab.kek(case.cloud).await;
    let old_reference = old_kek.key_reference().clone();
    let (engine, project) = lab.engine(old_kek);
    let envelope = seal(&engine, &project, "old.txt").await;
    assert_opens(&engine, &project, &envelope, "old.txt").await;

    let created = lab
        .create_key(&format!("{}-next", case.provider), case.provider, case.spec)
        .await;
    let mut config = lab.config.clone();
    (case.register_key)(&mut config, &created);
    let new_kek: Arc<dyn KeyEncryptionKey> = lab.kek_for(&config, case.cloud).await;
    let new_reference = new_kek.key_reference().clone();
    engine.register(project.clone(), new_kek);
    assert!(engine.unregister(&project, &old_reference));

    let fresh = seal(&engine, &project, "new.txt").await;
    let parsed = ekm_engine::envelope::parse(&fresh).unwrap();
    assert!(parsed.header().names_key(&new_reference));
    lab.advance(revalidate_after(&lab) - Duration::from_secs(1));
    assert_opens(&engine, &project, &envelope, "old.txt").await;

    lab.advance(Duration::from_secs(1));
    let opened = engine.open(&project, &envelope, &context("old.txt")).await;
    assert!(
        matches!(opened, Err(EngineError::UnknownKey { .. })),
        "old data after the switch: {opened:?}"
    );
    assert_opens(&engine, &project, &fresh, "new.txt").await;
    new_key_never_opens_old_data(case, &lab, &envelope, &created).await;
}

/// During a KMS outage cached DEKs keep serving until the TTL; then `Unavailable`; afterwards
/// everything recovers.
pub async fn outage_is_served_from_cache_until_the_ttl(case: CloudCase) {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let envelope = seal(&engine, &project, "ledger").await;
    assert_opens(&engine, &project, &envelope, "ledger").await;

    lab.set_faults(json!([{ "provider": case.provider, "operation": "*", "outage": true }]))
        .await;
    lab.advance(revalidate_after(&lab) - Duration::from_secs(1));
    assert_opens(&engine, &project, &envelope, "ledger").await;
    seal(&engine, &project, "during-outage").await;

    lab.advance(Duration::from_secs(1));
    let opened = engine.open(&project, &envelope, &context("ledger")).await;
    assert_eq!(kms_kind(&opened), "Unavailable", "{opened:?}");
    let sealed = engine.seal(&project, &context("x"), b"x").await;
    assert_eq!(kms_kind(&sealed), "Unavailable", "{sealed:?}");

    lab.clear_faults().await;
    assert_opens(&engine, &project, &envelope, "ledger").await;
}

/// A throttled unwrap is retried by the engine and the open succeeds.
pub async fn throttling_is_retried(case: CloudCase) {
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let envelope = seal(&engine, &project, "hot-object").await;
    // Every second decrypt is throttled (the mock's error rates are deterministic): the first
    // passes, so the next miss is throttled once and its retry passes.
    lab.set_faults(json!([{
        "provider": case.provider, "operation": "decrypt", "error": "throttled", "probability": 0.5
    }]))
    .await;
    // Azure's 429 carries `Retry-After` (at least 1 s), which the engine honours only within its
    // retry budget (200 ms by default: it fails fast rather than keep a caller waiting). The cold
    // engine gets a budget that admits it; clouds without a hint retry after the usual backoff.
    let config = EngineConfig {
        retry: RetryPolicy {
            max_total_backoff: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..lab.config.engine.engine_config()
    };
    let cold = Engine::builder(lab.clock.clone())
        .config(config)
        .provider(project.clone(), lab.kek(case.cloud).await)
        .build();
    assert_opens(&cold, &project, &envelope, "hot-object").await;
    lab.advance(revalidate_after(&lab));
    assert_opens(&cold, &project, &envelope, "hot-object").await;
    assert_eq!(
        lab.count_calls(case.provider, case.unwrap_op, Some(case.throttled_outcome))
            .await,
        1
    );
    assert_eq!(
        lab.count_calls(case.provider, case.unwrap_op, Some("ok"))
            .await,
        2
    );
}

/// The KMS calls of a simulated day of steady traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOfTraffic {
    /// Engine operations (seals + opens).
    pub operations: usize,
    /// KMS wraps (Encrypt).
    pub wraps: usize,
    /// KMS unwraps (Decrypt).
    pub unwraps: usize,
    /// Sign-ins the cloud granted (AssumeRole, STS exchange and impersonation, Entra token).
    pub sign_ins: usize,
}

/// 100,000 operations (half seals, half opens of earlier objects) spread evenly over 24 h with
/// the default timings: exactly one wrap (one DEK per `dek_rotation`) and one unwrap per eDEK
/// per `revalidate_after` on each path.
pub async fn a_day_of_traffic(case: CloudCase) -> DayOfTraffic {
    const OPERATIONS: usize = 100_000;
    let lab = Lab::start().await;
    let (engine, project) = lab.engine(lab.kek(case.cloud).await);
    let day = Duration::from_secs(24 * 3600);
    let step = day / OPERATIONS as u32;
    let mut sealed: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..OPERATIONS {
        if i % 2 == 0 {
            let name = format!("msg-{i}");
            let envelope = seal(&engine, &project, &name).await;
            sealed.push((name, envelope));
        } else {
            let (name, envelope) = &sealed[(i * 7919) % sealed.len()];
            assert_opens(&engine, &project, envelope, name).await;
        }
        lab.advance(step);
    }
    let traffic = DayOfTraffic {
        operations: OPERATIONS,
        // Answered calls: a renewed Key Vault client's first request is the 401 that fetches
        // the authentication challenge.
        wraps: lab
            .count_calls(case.provider, case.wrap_op, Some("ok"))
            .await,
        unwraps: lab
            .count_calls(case.provider, case.unwrap_op, Some("ok"))
            .await,
        sign_ins: lab
            .calls()
            .await
            .iter()
            .filter(|c| c["provider"] == case.provider && c["kind"] == "sign-in")
            .filter(|c| c["outcome"] == "ok")
            .count(),
    };
    let hours = (day.as_secs() / revalidate_after(&lab).as_secs()) as usize;
    assert_eq!(traffic.wraps, 1, "one DEK for the day: {traffic:?}");
    assert_eq!(
        traffic.unwraps,
        2 * hours - 1,
        "the active DEK re-validated every hour after the first, and its decrypt-path entry \
         fetched once an hour: {traffic:?}"
    );
    // Sessions end on the lab clock (an hour): the provider signs in again about once an hour,
    // not once a day as the SDK's wall-clock cache alone would.
    assert!(
        (hours - 1..=hours + 2).contains(&traffic.sign_ins)
            || (2 * (hours - 1)..=2 * (hours + 2)).contains(&traffic.sign_ins),
        "about one sign-in per lab hour (two calls each where a cloud signs in in two steps): \
         {traffic:?}"
    );
    traffic
}
