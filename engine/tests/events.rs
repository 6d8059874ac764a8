//! The event stream and the cache snapshot.

mod common;

use common::{HOUR, Lab};
use ekm_engine::clock::Clock;
use ekm_engine::events::Operation;
use ekm_engine::{CachePath, EngineConfig, EventKind, KeyEncryptionKey, KmsOp};

#[tokio::test]
async fn events_tell_the_dek_story_in_lab_time() {
    // No background sweep during the test: the open itself finds the entry expired.
    let lab = Lab::with_config(EngineConfig {
        sweep_every: 24 * HOUR,
        ..EngineConfig::default()
    });
    let mut events = lab.engine.subscribe();
    let start = lab.clock.now();
    let sealed = lab.seal(b"a").await;
    lab.open(&sealed).await.expect("open");
    lab.open(&sealed).await.expect("open");
    lab.advance(HOUR);
    lab.open(&sealed).await.expect("open");
    let _ = lab.open(b"garbage").await;

    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert!(event.at == start || event.at == start + HOUR, "{event:?}");
        kinds.push(event.kind);
    }
    let dek = common::dek_id(&sealed);
    let key = lab.kek.key_reference().clone();
    let expected_prefix = [
        EventKind::CacheMiss {
            path: CachePath::Encrypt,
            dek: None,
            key: key.clone(),
        },
        EventKind::DekCreated {
            project: lab.project.clone(),
            key: key.clone(),
            dek,
        },
        EventKind::CacheMiss {
            path: CachePath::Decrypt,
            dek: Some(dek),
            key: key.clone(),
        },
    ];
    let without_calls: Vec<_> = kinds
        .iter()
        .filter(|k| !matches!(k, EventKind::KmsCall { .. }))
        .cloned()
        .collect();
    assert_eq!(without_calls[..3], expected_prefix);
    assert_eq!(
        without_calls[3..],
        [
            EventKind::CacheHit {
                path: CachePath::Decrypt,
                dek,
                key: key.clone()
            },
            EventKind::DekExpired {
                path: CachePath::Decrypt,
                dek,
                key: key.clone()
            },
            EventKind::CacheMiss {
                path: CachePath::Decrypt,
                dek: Some(dek),
                key: key.clone()
            },
            EventKind::OperationFailed {
                op: Operation::Open,
                project: Some(lab.project.clone()),
                error: "envelope: not an EKM envelope (bad magic)".into()
            },
        ]
    );
    let calls: Vec<_> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::KmsCall { op, outcome, .. } => Some((*op, outcome.is_ok())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            (KmsOp::Wrap, true),
            (KmsOp::Unwrap, true),
            (KmsOp::Unwrap, true)
        ]
    );
}

#[tokio::test]
async fn the_snapshot_shows_both_caches_with_timers() {
    let lab = Lab::new();
    let start = lab.clock.now();
    let sealed = lab.seal(b"a").await;
    lab.seal(b"b").await;
    lab.open(&sealed).await.expect("open");
    lab.advance(HOUR / 2);
    let snapshot = lab.engine.snapshot();
    assert_eq!(snapshot.at, start + HOUR / 2);
    let encrypt: Vec<_> = snapshot.path(CachePath::Encrypt).collect();
    let decrypt: Vec<_> = snapshot.path(CachePath::Decrypt).collect();
    assert_eq!((encrypt.len(), decrypt.len()), (1, 1));
    let active = encrypt[0];
    assert_eq!(active.dek, common::dek_id(&sealed));
    assert_eq!(active.uses, 2);
    assert_eq!(active.project, lab.project);
    assert_eq!(active.created_at, start);
    assert_eq!(active.expires_at, start + HOUR);
    assert_eq!(active.next_rotation, Some(start + 24 * HOUR));
    assert_eq!(active.age, HOUR / 2);
    assert!(!active.expired);
    let cached = decrypt[0];
    assert_eq!((cached.uses, cached.next_rotation), (1, None));
    assert_eq!(cached.expires_at, start + HOUR);
    assert_eq!(cached.dek.short().len(), 8);
    lab.advance(HOUR / 2);
    assert!(lab.engine.snapshot().entries.iter().all(|e| e.expired));
}
