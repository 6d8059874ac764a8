//! Whole-screen snapshots of the console on ratatui's `TestBackend`, driven through the real
//! `update` and `view` over a real embedded lab on a `ManualClock` (fixed start 2026-01-01). The
//! only randomness on screen — DEK ids and real call latencies — is masked in the model before
//! drawing.

use std::collections::BTreeMap;
use std::sync::Arc;

use ekm_console::backend::Backend;
use ekm_console::driver::Driver;
use ekm_console::model::{Action, KeyCommand, Model};
use ekm_console::update::update;
use ekm_console::view::view;
use ekm_console::workload::Workload;
use ekm_engine::EngineEvent;
use ekm_engine::clock::{Clock, ManualClock};
use ekm_engine::config::EngineSettings;
use ekm_engine::events::CachePath;
use ekm_vocab::KeyAction;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{Mutex, broadcast};

struct Harness {
    clock: Arc<ManualClock>,
    driver: Driver,
    workload: Arc<Mutex<Workload>>,
    events: broadcast::Receiver<EngineEvent>,
    model: Model,
}

impl Harness {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::default());
        let backend = Arc::new(
            Backend::embedded(clock.clone(), EngineSettings::default())
                .await
                .expect("lab starts"),
        );
        let events = backend.engine().subscribe();
        let workload = Arc::new(Mutex::new(Workload::new(backend.clone())));
        let mut driver = Driver::new(None);
        driver.attach(backend.clone(), Some(workload.clone()));
        let mut harness = Self {
            clock,
            driver,
            workload,
            events,
            model: Model::new(1000, Some(60.0)),
        };
        harness
            .dispatch(Action::Started(Box::new(backend.info())))
            .await;
        let seeded = harness.workload.lock().await.step().await;
        for event in seeded {
            harness.dispatch(Action::Workload(Box::new(event))).await;
        }
        harness.dispatch(Action::Tick).await;
        harness
    }

    /// Applies `action` through the runtime's effect loop, each task awaited in turn, then the
    /// engine's events.
    async fn dispatch(&mut self, action: Action) {
        self.driver.settle(&mut self.model, action).await;
        while let Ok(event) = self.events.try_recv() {
            update(&mut self.model, Action::Engine(Box::new(event)));
        }
    }

    fn select(&mut self, name: &str) {
        let row = self
            .model
            .keys
            .as_ref()
            .and_then(|keys| keys.iter().position(|k| k.name == name))
            .expect("key exists");
        update(&mut self.model, Action::SelectKey(row));
    }

    /// The screen at `width`×`height` with DEK ids and latencies masked. Entries created at
    /// the same lab time come in random (DEK id) order, so they are put in a fixed order first:
    /// active DEKs (numbered first, one per key) before older ones.
    fn screen(&self, width: u16, height: u16) -> String {
        let mut model = self.model.clone();
        let mut ids = BTreeMap::new();
        for entry in model.cache.iter().filter(|e| e.path == CachePath::Encrypt) {
            let next = ids.len() + 1;
            ids.entry(entry.dek.clone()).or_insert(next);
        }
        model.cache.sort_by_key(|e| {
            let known = ids.get(&e.dek).copied().unwrap_or(usize::MAX);
            (e.path, e.kek.clone(), e.created_at, known)
        });
        for entry in &mut model.cache {
            let next = ids.len() + 1;
            let id = ids.entry(entry.dek.clone()).or_insert(next);
            entry.dek = format!("dek-{id:04}");
        }
        let mut calls = ekm_console::ring::Ring::new(model.calls.capacity());
        for call in model.calls.iter() {
            let mut call = call.clone();
            call.latency_ms = 0.0;
            calls.push(call);
        }
        model.calls = calls;
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        let now = self.driver.backend().expect("attached").clock().now();
        terminal
            .draw(|frame| view(&model, now, frame))
            .expect("draw");
        terminal.backend().to_string()
    }
}

#[tokio::test]
async fn start_up() {
    let lab = Harness::start().await;
    insta::assert_snapshot!("start_up_100x30", lab.screen(100, 30));
}

#[tokio::test]
async fn narrow_terminal() {
    let lab = Harness::start().await;
    insta::assert_snapshot!("start_up_80x24", lab.screen(80, 24));
}

#[tokio::test]
async fn help_overlay() {
    let mut lab = Harness::start().await;
    lab.dispatch(Action::ToggleHelp).await;
    insta::assert_snapshot!("help_100x30", lab.screen(100, 30));
    // At 80×24 the bindings do not fit: the first page, then the last, no line cut.
    lab.dispatch(Action::Resize(ratatui::layout::Rect::new(0, 0, 80, 24)))
        .await;
    insta::assert_snapshot!("help_80x24", lab.screen(80, 24));
    lab.dispatch(Action::Page(-5)).await;
    insta::assert_snapshot!("help_80x24_last_page", lab.screen(80, 24));
}

#[tokio::test]
async fn after_a_rotation_old_and_new_objects_are_readable() {
    let mut lab = Harness::start().await;
    lab.select("gcp-demo");
    lab.dispatch(Action::Key(KeyCommand::Lab(KeyAction::Rotate)))
        .await;
    // New wraps use the new version once the active DEK is replaced (dek_rotation, 24 h);
    // everything sealed before stays readable throughout.
    lab.clock.advance(std::time::Duration::from_secs(23 * 3600));
    lab.dispatch(Action::JumpHour).await;
    let objects = &lab.model.objects;
    assert!(
        objects.iter().any(|o| o.key == "gcp-demo v2"),
        "{objects:#?}"
    );
    assert!(
        objects.iter().any(|o| o.key == "gcp-demo v1"),
        "{objects:#?}"
    );
    assert!(
        objects
            .iter()
            .all(|o| o.status == ekm_console::model::Readability::Readable)
    );
    insta::assert_snapshot!("rotated_100x30", lab.screen(100, 30));
}

#[tokio::test]
async fn after_a_revocation_and_the_ttl_objects_are_unreadable() {
    let mut lab = Harness::start().await;
    lab.select("aws-demo");
    lab.dispatch(Action::Key(KeyCommand::Lab(KeyAction::RevokeAccess)))
        .await;
    let unreadable = |model: &Model| {
        model
            .objects
            .iter()
            .filter(|o| o.status != ekm_console::model::Readability::Readable)
            .count()
    };
    assert_eq!(
        unreadable(&lab.model),
        0,
        "cached DEKs still serve within the TTL"
    );
    lab.dispatch(Action::JumpHour).await;
    assert!(unreadable(&lab.model) > 0);
    insta::assert_snapshot!("revoked_after_ttl_100x30", lab.screen(100, 30));
}

/// The demo told to its end: every beat played through the runtime's effect loop.
async fn demo_told(beats: usize) -> Harness {
    story_told(
        ekm_console::story::DEMO_SCENARIO,
        "rotation-vs-revocation.yaml",
        beats,
    )
    .await
}

/// A story (`yaml`, named `origin`) played `beats` beats through the runtime's effect loop.
async fn story_told(yaml: &str, origin: &str, beats: usize) -> Harness {
    let scenario = ekm_scenarios::validate::parse(yaml, origin).expect("the story is valid");
    let backend = Arc::new(
        Backend::playback(ekm_scenarios::runner::LoadedScenario {
            file: None,
            scenario,
        })
        .await
        .expect("the demo starts"),
    );
    let events = backend.engine().subscribe();
    let mut driver = Driver::new(None);
    driver.attach(backend.clone(), None);
    let mut harness = Harness {
        clock: Arc::new(ManualClock::default()),
        driver,
        workload: Arc::new(Mutex::new(Workload::new(backend.clone()))),
        events,
        model: Model::new(1000, None),
    };
    harness
        .dispatch(Action::Started(Box::new(backend.info())))
        .await;
    for _ in 0..beats {
        harness.dispatch(Action::NextStep).await;
    }
    harness
}

#[tokio::test]
async fn the_demo_ends_with_rotated_readable_and_revoked_shredded() {
    use ekm_console::story::{Column, Readable};
    let lab = demo_told(6).await;
    let pinned = &lab.model.pinned;
    assert_eq!(pinned.len(), 7, "{pinned:#?}");
    for object in pinned {
        match object.column {
            Column::Rotated => assert_eq!(object.readable, Readable::Yes, "{object:#?}"),
            Column::Revoked => assert_eq!(
                object.readable,
                Readable::Shredded("key disabled".into()),
                "{object:#?}"
            ),
        }
    }
    let aws = pinned
        .iter()
        .find(|p| p.name == "aws-rotated")
        .expect("pinned");
    assert_eq!(
        aws.version.as_deref(),
        Some("v1"),
        "wrapped before the rotation"
    );
    let after = pinned
        .iter()
        .find(|p| p.name == "after-rotation")
        .expect("pinned");
    assert_eq!(
        after.version.as_deref(),
        Some("v2"),
        "wrapped after the rotation"
    );
    assert!(
        lab.model
            .played
            .iter()
            .all(|s| s.checks.iter().all(|c| c.2))
    );
    insta::assert_snapshot!("demo_end_160x45", lab.screen(160, 45));
    insta::assert_snapshot!("demo_end_80x24", lab.screen(80, 24));
}

/// The library's HSM outage story told up to the first failed re-validation: the KMS pane shows
/// each hop to the customer's external key manager as a row of its own — the cloud's side
/// (`↳ xks`) and the proxy's (`↳ proxy`) — with its own outcome, beside the KMS call.
#[tokio::test]
async fn hops_to_the_external_key_manager_are_rows_of_their_own() {
    let yaml = include_str!("../../scenarios/external-hsm-down.yaml");
    // Sealed and read once: the hops answered, on screen.
    let lab = story_told(yaml, "external-hsm-down.yaml", 2).await;
    let screen = lab.screen(160, 45);
    assert!(screen.contains("↳ xks Encrypt"), "{screen}");
    assert!(screen.contains("↳ proxy Decrypt"), "{screen}");
    insta::assert_snapshot!("hsm_down_hops_160x45", screen);
    // Re-validated while the HSMs are down: the failed hops (how often GCP's client retries
    // depends on real time, so this screen is not a snapshot).
    let lab = story_told(yaml, "external-hsm-down.yaml", 5).await;
    let hops: Vec<(&str, &str, &str)> = lab
        .model
        .calls
        .iter()
        .filter_map(|c| {
            c.hop
                .as_deref()
                .map(|hop| (hop, c.operation.as_str(), c.outcome.as_str()))
        })
        .collect();
    for side in ["xks", "xks-proxy"] {
        assert!(
            hops.contains(&(side, "Encrypt", "ok")),
            "no {side} Encrypt: {hops:?}"
        );
        assert!(
            hops.contains(&(side, "Decrypt", "InternalException")),
            "no failed {side} Decrypt while the HSMs are down: {hops:?}"
        );
    }
    let screen = lab.screen(160, 45);
    assert!(screen.contains("↳ xks Decrypt   gcp-hsm"), "{screen}");
}

#[tokio::test]
async fn the_demo_half_an_hour_after_the_revocation_reads_from_cache() {
    let lab = demo_told(4).await;
    let cached = lab
        .model
        .pinned
        .iter()
        .filter(|p| matches!(p.readable, ekm_console::story::Readable::FromCache(_)))
        .count();
    assert_eq!(cached, 3, "{:#?}", lab.model.pinned);
    insta::assert_snapshot!("demo_cached_80x24", lab.screen(80, 24));
}

/// A shredded object is asked about once, not once a second: a minute of the demo's end on
/// screen (60 re-reads of the pinned objects) sends no Decrypt at all after the first refusal
/// of each revoked object; a key event (the key enabled again) makes the console ask again.
#[tokio::test]
async fn the_demo_remembers_a_refusal_until_a_key_event() {
    use ekm_console::story::{Column, Readable};
    let lab = demo_told(6).await;
    let backend = lab.driver.backend().expect("attached").clone();
    let playback = backend.scenario().expect("story mode").clone();
    let calls_now = || async {
        let playback = playback.lock().await;
        playback.lab().calls_since(0).next
    };
    let before = calls_now().await;
    let mut pinned = Vec::new();
    for _ in 0..60 {
        pinned = backend.read_pinned().await.expect("story mode");
    }
    let revoked: Vec<_> = pinned
        .iter()
        .filter(|p| p.column == Column::Revoked)
        .collect();
    assert_eq!(revoked.len(), 3, "{pinned:#?}");
    assert!(
        revoked
            .iter()
            .all(|p| p.readable == Readable::Shredded("key disabled".into())),
        "{pinned:#?}"
    );
    let asked = calls_now().await - before;
    assert!(
        asked <= revoked.len() as u64,
        "60 re-reads sent {asked} KMS calls for {} shredded objects",
        revoked.len()
    );

    let aws = revoked
        .iter()
        .find(|p| p.cloud == ekm_engine::registration::Cloud::Aws)
        .expect("an AWS object on the right");
    {
        let playback = playback.lock().await;
        playback
            .lab()
            .apply(&aws.key, KeyAction::Enable)
            .expect("enable");
    }
    let again = backend.read_pinned().await.expect("story mode");
    let aws_now = again.iter().find(|p| p.name == aws.name).expect("pinned");
    assert_eq!(aws_now.readable, Readable::Yes, "{aws_now:#?}");
}

/// `w` in the story writes the report of what was played so far: the HTML page with a lane per
/// pinned object and the key events, and the Markdown summary.
#[tokio::test]
async fn the_story_writes_its_report_so_far() {
    let lab = demo_told(6).await;
    let backend = lab.driver.backend().expect("attached").clone();
    let dir = tempfile::tempdir().unwrap();
    let files = backend
        .write_report(&dir.path().join("report"))
        .await
        .expect("written");
    assert!(files.html.is_absolute(), "{}", files.html.display());
    let html = std::fs::read_to_string(&files.html).unwrap();
    for object in ["aws-rotated", "azure-revoked", "after-rotation"] {
        assert!(html.contains(object), "no lane for {object}");
    }
    assert!(html.contains("disable aws-revoked"), "no key marker");
    let summary = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(summary.contains("rotation-vs-revocation"), "{summary}");
    let mut model = lab.model.clone();
    assert_eq!(
        ekm_console::update::update(&mut model, Action::WriteReport),
        [ekm_console::model::Effect::WriteReport]
    );
}
