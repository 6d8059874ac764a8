//! DEK lifecycle on lab time: rotation, re-validation, revocation, outages, throttling, single
//! flight, switch-key and customer key rotation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{HOUR, Lab, SECOND, dek_id, quick_retries};
use ekm_engine::provider::memory::{MemoryKek, MemoryKeyState};
use ekm_engine::{CachePath, EngineConfig, EngineError, KeyEncryptionKey, KmsError, KmsOp};

#[tokio::test]
async fn the_active_dek_rotates_exactly_at_dek_rotation() {
    let lab = Lab::new();
    let first = dek_id(&lab.seal(b"a").await);
    lab.advance(24 * HOUR - SECOND);
    assert_eq!(dek_id(&lab.seal(b"b").await), first, "one second early");
    lab.advance(SECOND);
    let second = dek_id(&lab.seal(b"c").await);
    assert_ne!(second, first, "rotated at 24 h");
    assert_eq!(lab.kek.wrap_calls(), 2);
    lab.advance(24 * HOUR - SECOND);
    assert_eq!(dek_id(&lab.seal(b"d").await), second);
}

#[tokio::test]
async fn rotation_period_is_configurable() {
    let lab = Lab::with_config(EngineConfig {
        dek_rotation: HOUR,
        revalidate_after: HOUR,
        ..EngineConfig::default()
    });
    let first = dek_id(&lab.seal(b"a").await);
    lab.advance(HOUR - SECOND);
    assert_eq!(dek_id(&lab.seal(b"a").await), first);
    lab.advance(SECOND);
    assert_ne!(dek_id(&lab.seal(b"a").await), first);
    assert_eq!((lab.kek.wrap_calls(), lab.kek.unwrap_calls()), (2, 0));
}

#[tokio::test]
async fn the_active_dek_is_revalidated_by_unwrap_every_revalidate_after() {
    let lab = Lab::new();
    let first = dek_id(&lab.seal(b"a").await);
    lab.advance(HOUR - SECOND);
    lab.seal(b"a").await;
    assert_eq!(lab.kek.unwrap_calls(), 0);
    lab.advance(SECOND);
    assert_eq!(dek_id(&lab.seal(b"a").await), first);
    assert_eq!((lab.kek.wrap_calls(), lab.kek.unwrap_calls()), (1, 1));
    lab.seal(b"a").await;
    assert_eq!(lab.kek.unwrap_calls(), 1, "re-validated for another hour");
}

#[tokio::test]
async fn after_a_revocation_opens_succeed_until_revalidate_after_and_fail_right_after() {
    for revoke in [
        |kek: &MemoryKek| kek.set_access(false),
        |kek: &MemoryKek| kek.set_state(MemoryKeyState::Disabled),
        |kek: &MemoryKek| kek.set_state(MemoryKeyState::Destroyed),
    ] {
        let lab = Lab::new();
        let sealed = lab.seal(b"customer data").await;
        lab.open(&sealed).await.expect("first open unwraps");
        revoke(&lab.kek);
        lab.advance(HOUR - SECOND);
        assert_eq!(lab.open(&sealed).await.expect("cached"), b"customer data");
        lab.seal(b"still encrypting from cache").await;
        lab.advance(SECOND);
        let error = lab.open(&sealed).await.expect_err("revoked");
        assert!(error.is_revocation(), "{error}");
        assert!(matches!(
            error,
            EngineError::Kms {
                op: KmsOp::Unwrap,
                ..
            }
        ));
        let sealing = lab
            .engine
            .seal(&lab.project, &lab.context, b"x")
            .await
            .expect_err("cannot encrypt either");
        assert!(sealing.is_revocation(), "{sealing}");
        assert!(
            lab.engine.snapshot().entries.is_empty(),
            "revoked entries are dropped at once"
        );
    }
}

#[tokio::test]
async fn an_outage_is_served_from_cache_until_the_ttl_then_is_unavailable() {
    let lab = Lab::with_config(EngineConfig {
        retry: quick_retries(),
        ..EngineConfig::default()
    });
    let sealed = lab.seal(b"data").await;
    lab.open(&sealed).await.expect("open");
    lab.kek.set_outage(true);
    lab.advance(HOUR - SECOND);
    lab.open(&sealed).await.expect("served from cache");
    lab.seal(b"more").await;
    lab.advance(SECOND);
    let before = lab.kek.unwrap_calls();
    let error = lab.open(&sealed).await.expect_err("outage past TTL");
    assert!(matches!(
        error.kms_error(),
        Some(KmsError::Unavailable { .. })
    ));
    assert_eq!(
        lab.kek.unwrap_calls() - before,
        3,
        "retried up to max_attempts"
    );
    assert!(
        lab.engine
            .snapshot()
            .path(CachePath::Decrypt)
            .all(|e| e.expired),
        "never served past its TTL"
    );
    lab.kek.set_outage(false);
    assert_eq!(lab.open(&sealed).await.expect("recovered"), b"data");
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let lab = Lab::new();
    let sealed = lab.seal(b"data").await;
    lab.kek.throttle_next(2, Some(Duration::from_millis(2)));
    assert_eq!(lab.open(&sealed).await.expect("retried"), b"data");
    assert_eq!(lab.kek.unwrap_calls(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_fails_without_waiting() {
    let lab = Lab::new();
    let sealed = lab.seal(b"data").await;
    lab.kek.throttle_next(5, Some(Duration::from_secs(30)));
    let error = lab.open(&sealed).await.expect_err("throttled");
    assert!(matches!(
        error.kms_error(),
        Some(KmsError::Throttled { .. })
    ));
    assert_eq!(lab.kek.unwrap_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_opens_after_expiry_make_exactly_one_unwrap() {
    let lab = Lab::new();
    let sealed = Arc::new(lab.seal(b"hot object").await);
    lab.open(&sealed).await.expect("warm");
    assert_eq!(lab.kek.unwrap_calls(), 1);
    lab.advance(HOUR);
    lab.kek.set_latency(Duration::from_millis(20));
    let opens: Vec<_> = (0..1000)
        .map(|_| {
            let engine = lab.engine.clone();
            let sealed = sealed.clone();
            let context = lab.context.clone();
            let project = lab.project.clone();
            tokio::spawn(async move {
                engine
                    .open(&project, &sealed, &context)
                    .await
                    .map(|p| p.to_vec())
            })
        })
        .collect();
    for open in opens {
        assert_eq!(open.await.expect("task").expect("open"), b"hot object");
    }
    assert_eq!(lab.kek.unwrap_calls(), 2, "exactly one unwrap after expiry");
    let entry = lab
        .engine
        .snapshot()
        .path(CachePath::Decrypt)
        .next()
        .cloned()
        .expect("entry");
    assert_eq!(entry.uses, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_seals_make_one_wrap() {
    let lab = Lab::new();
    lab.kek.set_latency(Duration::from_millis(20));
    let seals: Vec<_> = (0..100)
        .map(|_| {
            let engine = lab.engine.clone();
            let (project, context) = (lab.project.clone(), lab.context.clone());
            tokio::spawn(async move { engine.seal(&project, &context, b"x").await })
        })
        .collect();
    for seal in seals {
        seal.await.expect("task").expect("seal");
    }
    assert_eq!(lab.kek.wrap_calls(), 1);
}

#[tokio::test]
async fn customer_key_rotation_keeps_old_edeks_readable() {
    let lab = Lab::new();
    let old = lab.seal(b"old").await;
    lab.kek.rotate();
    lab.advance(24 * HOUR);
    let new = lab.seal(b"new").await;
    let version = |sealed: &[u8]| {
        ekm_engine::envelope::parse(sealed)
            .expect("parse")
            .header()
            .key_version()
            .to_owned()
    };
    assert_ne!(version(&old), version(&new));
    assert_eq!(lab.open(&old).await.expect("old version"), b"old");
    assert_eq!(lab.open(&new).await.expect("new version"), b"new");
}

#[tokio::test]
async fn switching_keys_routes_old_envelopes_to_their_key_until_it_is_unregistered() {
    let lab = Lab::new();
    let old = lab.seal(b"under the old key").await;
    let new_kek = Arc::new(MemoryKek::new("second"));
    lab.engine.register(lab.project.clone(), new_kek.clone());
    assert_eq!(
        lab.engine.active_key(&lab.project).as_ref(),
        Some(new_kek.key_reference())
    );
    let new = lab.seal(b"under the new key").await;
    assert_eq!(lab.open(&old).await.expect("old key"), b"under the old key");
    assert_eq!(lab.open(&new).await.expect("new key"), b"under the new key");
    assert_eq!((lab.kek.unwrap_calls(), new_kek.unwrap_calls()), (1, 1));

    let old_key = lab.kek.key_reference().clone();
    assert!(lab.engine.unregister(&lab.project, &old_key));
    lab.advance(HOUR - SECOND);
    lab.open(&old).await.expect("still cached");
    lab.advance(SECOND);
    match lab.open(&old).await {
        Err(EngineError::UnknownKey { key, project }) => {
            assert_eq!(key, old_key);
            assert_eq!(project, lab.project.as_str());
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert_eq!(lab.open(&new).await.expect("new key"), b"under the new key");
}

#[tokio::test]
async fn sealing_for_an_unknown_project_names_it() {
    let lab = Lab::new();
    let stranger = ekm_engine::ProjectId::from("proj_unknown");
    assert!(matches!(
        lab.engine.seal(&stranger, &lab.context, b"x").await,
        Err(EngineError::NoProvider { project }) if project == stranger
    ));
}
