//! The engine under an adversary, a crowd and faults at the worst moment: forged envelopes,
//! concurrent misses during an outage, an outage at rotation time, sweeping on lab time, KMS
//! latency on the lab clock, and a seal racing `unregister`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{HOUR, Lab, SECOND, dek_id, quick_retries};
use ekm_engine::clock::{Clock, ManualClock};
use ekm_engine::provider::KmsFuture;
use ekm_engine::provider::memory::MemoryKek;
use ekm_engine::{
    CachePath, Dek, DekId, EncryptionContext, EngineConfig, EngineError, EventKind,
    KeyEncryptionKey, KeyReference, KmsError, WrappedDek,
};
use tokio::sync::broadcast;

/// `envelope` with its DEK id replaced by `id` (the bytes are unauthenticated until the open).
fn with_dek_id(envelope: &[u8], id: DekId) -> Vec<u8> {
    let own = dek_id(envelope);
    let at = envelope
        .windows(own.as_bytes().len())
        .position(|w| w == own.as_bytes())
        .expect("dek id in header");
    let mut forged = envelope.to_vec();
    forged[at..at + own.as_bytes().len()].copy_from_slice(id.as_bytes());
    forged
}

#[tokio::test]
async fn a_forged_envelope_under_todays_dek_id_harms_no_genuine_envelope() {
    let lab = Lab::new();
    let old = lab.seal(b"yesterday").await;
    lab.advance(25 * HOUR);
    let today = lab.seal(b"today").await;
    let today_id = dek_id(&today);
    assert_ne!(dek_id(&old), today_id, "rotated");

    let forged = with_dek_id(&old, today_id);
    let error = lab
        .open(&forged)
        .await
        .expect_err("the forgery never opens");
    assert!(
        matches!(error, EngineError::Envelope(_)),
        "refused as a bad envelope: {error}"
    );
    assert_eq!(
        lab.open(&today)
            .await
            .expect("today's envelope still opens"),
        b"today"
    );
    assert_eq!(
        lab.open(&old).await.expect("and so does the old one"),
        b"yesterday"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_during_an_outage_share_one_leaders_attempts_and_its_failure() {
    let lab = Lab::with_config(EngineConfig {
        retry: quick_retries(),
        ..EngineConfig::default()
    });
    let sealed = Arc::new(lab.seal(b"hot object").await);
    lab.open(&sealed).await.expect("warm");
    lab.advance(HOUR);
    lab.kek.set_outage(true);
    lab.kek.set_latency(Duration::from_millis(20));
    let before = lab.kek.unwrap_calls();
    let opens: Vec<_> = (0..200)
        .map(|_| {
            let (engine, sealed) = (lab.engine.clone(), sealed.clone());
            let (project, context) = (lab.project.clone(), lab.context.clone());
            tokio::spawn(async move { engine.open(&project, &sealed, &context).await })
        })
        .collect();
    for open in opens {
        let error = open.await.expect("task").expect_err("outage");
        assert!(
            matches!(error.kms_error(), Some(KmsError::Unavailable { .. })),
            "every waiter gets the failure: {error}"
        );
    }
    let calls = lab.kek.unwrap_calls() - before;
    assert!(
        calls <= u64::from(quick_retries().max_attempts) * 2,
        "{calls} unwraps for 200 opens: at most one leader's attempts per flight"
    );
    lab.kek.set_outage(false);
    lab.kek.set_latency(Duration::ZERO);
    assert_eq!(
        lab.open(&sealed)
            .await
            .expect("no failure outlives the restore"),
        b"hot object"
    );
}

#[tokio::test]
async fn an_outage_at_rotation_time_keeps_the_current_dek_until_its_validation_expires() {
    let lab = Lab::with_config(EngineConfig {
        retry: quick_retries(),
        ..EngineConfig::default()
    });
    let mut events = lab.engine.subscribe();
    let first = dek_id(&lab.seal(b"a").await);
    lab.advance(23 * HOUR + 40 * 60 * SECOND);
    assert_eq!(
        dek_id(&lab.seal(b"b").await),
        first,
        "re-validated at 23:40"
    );
    lab.kek.set_outage(true);
    lab.advance(30 * 60 * SECOND);
    assert_eq!(
        dek_id(&lab.seal(b"c").await),
        first,
        "rotation due at 24:00 but the KMS is down: the DEK validated at 23:40 keeps sealing"
    );
    let wraps = lab.kek.wrap_calls();
    assert_eq!(dek_id(&lab.seal(b"d").await), first);
    assert_eq!(
        lab.kek.wrap_calls(),
        wraps,
        "the rotation is not retried on every seal"
    );
    assert!(
        drain(&mut events)
            .iter()
            .any(|kind| matches!(kind, EventKind::RotationDeferred { dek, .. } if *dek == first)),
        "the deferral is reported"
    );
    lab.advance(30 * 60 * SECOND - SECOND);
    assert_eq!(dek_id(&lab.seal(b"e").await), first, "24:39:59");
    lab.advance(SECOND);
    let error = lab
        .engine
        .seal(&lab.project, &lab.context, b"f")
        .await
        .expect_err("validation expired at 24:40");
    assert!(
        matches!(error.kms_error(), Some(KmsError::Unavailable { .. })),
        "the typed transient error: {error}"
    );
    lab.kek.set_outage(false);
    assert_ne!(
        dek_id(&lab.seal(b"g").await),
        first,
        "rotated once the KMS is back"
    );
}

fn drain(events: &mut broadcast::Receiver<ekm_engine::EngineEvent>) -> Vec<EventKind> {
    std::iter::from_fn(|| events.try_recv().ok().map(|e| e.kind)).collect()
}

#[tokio::test]
async fn expired_entries_are_swept_within_one_tick_with_an_event_and_never_shown() {
    let lab = Lab::with_config(EngineConfig {
        sweep_every: Duration::from_millis(10),
        ..EngineConfig::default()
    });
    let sealed = lab.seal(b"x").await;
    lab.open(&sealed).await.expect("open");
    let mut events = lab.engine.subscribe();
    assert_eq!(lab.engine.snapshot().entries.len(), 2, "both paths cached");
    lab.advance(HOUR);
    let mut expired = Vec::new();
    let swept = tokio::time::timeout(Duration::from_secs(10), async {
        while expired.len() < 2 {
            if let EventKind::DekExpired { path, dek, .. } =
                events.recv().await.expect("event").kind
            {
                expired.push((path, dek));
            }
        }
    })
    .await;
    assert!(swept.is_ok(), "swept by the background task: {expired:?}");
    expired.sort();
    let id = dek_id(&sealed);
    assert_eq!(
        expired,
        vec![(CachePath::Encrypt, id), (CachePath::Decrypt, id)]
    );
    assert!(lab.engine.snapshot().entries.is_empty());
    assert_eq!(lab.open(&sealed).await.expect("unwrapped again"), b"x");
    assert_eq!(lab.kek.unwrap_calls(), 2);
}

#[tokio::test]
async fn a_snapshot_never_shows_an_entry_past_its_expiry() {
    let lab = Lab::with_config(EngineConfig {
        sweep_every: Duration::from_secs(3600),
        ..EngineConfig::default()
    });
    let sealed = lab.seal(b"x").await;
    lab.open(&sealed).await.expect("open");
    lab.advance(HOUR - SECOND);
    assert_eq!(lab.engine.snapshot().entries.len(), 2);
    lab.advance(SECOND);
    let snapshot = lab.engine.snapshot();
    assert!(
        snapshot.entries.iter().all(|e| e.expires_at > snapshot.at),
        "{snapshot:?}"
    );
    assert!(snapshot.entries.is_empty());
    let dek = lab.seal(b"y").await;
    assert_eq!(
        dek_id(&dek),
        dek_id(&sealed),
        "the swept active DEK is re-validated, not replaced"
    );
    assert_eq!((lab.kek.wrap_calls(), lab.kek.unwrap_calls()), (1, 2));
}

/// The sweep visits only the entries that are due: each decrypt entry is wiped once, at its
/// own expiry and not before, and an entry loaded again after expiring is not removed by the
/// expiry of the entry it replaced.
#[tokio::test]
async fn a_sweep_wipes_each_entry_once_at_its_own_expiry_and_spares_a_reloaded_one() {
    let lab = Lab::with_config(EngineConfig {
        sweep_every: 24 * HOUR,
        ..EngineConfig::default()
    });
    let projects: Vec<ekm_engine::ProjectId> = (0..4)
        .map(|p| ekm_engine::ProjectId::from(format!("proj_{p}").as_str()))
        .collect();
    let mut sealed = Vec::new();
    for project in &projects {
        lab.engine.register(project.clone(), lab.kek.clone());
        let envelope = lab.engine.seal(project, &lab.context, b"m").await.unwrap();
        sealed.push(envelope);
    }
    let open = |p: usize| lab.engine.open(&projects[p], &sealed[p], &lab.context);
    let mut events = lab.engine.subscribe();
    let expired_decrypt = |events: &mut broadcast::Receiver<ekm_engine::EngineEvent>| {
        let mut ids: Vec<DekId> = drain(events)
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::DekExpired {
                    path: CachePath::Decrypt,
                    dek,
                    ..
                } => Some(dek),
                _ => None,
            })
            .collect();
        ids.sort();
        ids
    };
    let ids = |ps: &[usize]| {
        let mut ids: Vec<DekId> = ps.iter().map(|p| dek_id(&sealed[*p])).collect();
        ids.sort();
        ids
    };
    for p in [0, 1] {
        open(p).await.unwrap();
    }
    lab.advance(HOUR / 2);
    for p in [2, 3] {
        open(p).await.unwrap();
    }
    lab.advance(HOUR / 2 - SECOND);
    lab.engine.sweep();
    assert_eq!(expired_decrypt(&mut events), ids(&[]), "nothing due yet");
    lab.advance(SECOND);
    open(0).await.unwrap();
    assert_eq!(
        expired_decrypt(&mut events),
        ids(&[0]),
        "the open found its entry expired and loaded it again"
    );
    lab.engine.sweep();
    assert_eq!(expired_decrypt(&mut events), ids(&[1]), "due at 1 h");
    let decrypt = |lab: &Lab| lab.engine.snapshot().path(CachePath::Decrypt).count();
    assert_eq!(decrypt(&lab), 3, "the reloaded entry and the two of 30 min");
    lab.advance(HOUR / 2);
    lab.engine.sweep();
    assert_eq!(expired_decrypt(&mut events), ids(&[2, 3]), "due at 1 h 30");
    lab.engine.sweep();
    assert_eq!(expired_decrypt(&mut events), ids(&[]), "each once");
    lab.advance(HOUR / 2);
    lab.engine.sweep();
    assert_eq!(
        expired_decrypt(&mut events),
        ids(&[0]),
        "the reload's own hour"
    );
    assert_eq!(decrypt(&lab), 0);
    assert_eq!(lab.kek.unwrap_calls(), 5);
}

/// A KEK whose calls take `delay` of lab time.
#[derive(Debug)]
struct SlowKek {
    inner: Arc<MemoryKek>,
    clock: Arc<ManualClock>,
    delay: Duration,
}

impl KeyEncryptionKey for SlowKek {
    fn key_reference(&self) -> &KeyReference {
        self.inner.key_reference()
    }

    fn wrap<'a>(
        &'a self,
        dek: &'a Dek,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, WrappedDek> {
        self.clock.advance(self.delay);
        self.inner.wrap(dek, context)
    }

    fn unwrap<'a>(
        &'a self,
        edek: &'a [u8],
        key_version: &'a str,
        context: &'a EncryptionContext,
    ) -> KmsFuture<'a, Dek> {
        self.clock.advance(self.delay);
        self.inner.unwrap(edek, key_version, context)
    }
}

#[tokio::test]
async fn kms_latency_on_the_lab_clock_never_stretches_an_entrys_lifetime() {
    let lab = Lab::new();
    let delay = 10 * 60 * SECOND;
    lab.engine.register(
        lab.project.clone(),
        Arc::new(SlowKek {
            inner: lab.kek.clone(),
            clock: lab.clock.clone(),
            delay,
        }),
    );
    let sealed_at = lab.clock.now();
    let sealed = lab.seal(b"x").await;
    let opened_at = lab.clock.now();
    lab.open(&sealed).await.expect("open");
    let snapshot = lab.engine.snapshot();
    for entry in &snapshot.entries {
        let started = match entry.path {
            CachePath::Encrypt => sealed_at,
            CachePath::Decrypt => opened_at,
        };
        assert_eq!(entry.fetched_at, started, "{entry:?}");
        assert_eq!(entry.expires_at, started + HOUR, "{entry:?}");
    }
    assert_eq!(snapshot.entries.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_racing_unregister_never_recreates_the_old_keys_slot() {
    for round in 0..50 {
        let lab = Lab::new();
        let old = lab.kek.key_reference().clone();
        let next = Arc::new(MemoryKek::new(&format!("next-{round}")));
        let seal = {
            let (engine, project, context) =
                (lab.engine.clone(), lab.project.clone(), lab.context.clone());
            tokio::spawn(async move { engine.seal(&project, &context, b"racing").await })
        };
        lab.engine.register(lab.project.clone(), next);
        assert!(lab.engine.unregister(&lab.project, &old));
        let _ = seal.await.expect("task");
        let stale: Vec<_> = lab
            .engine
            .snapshot()
            .entries
            .into_iter()
            .filter(|e| e.path == CachePath::Encrypt && e.key == old)
            .collect();
        assert!(stale.is_empty(), "round {round}: {stale:?}");
    }
}
