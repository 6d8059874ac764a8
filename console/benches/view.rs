//! The cost of one frame: `view` over a full model — 10 000 logged KMS calls, 1 000 cached
//! DEKs, a dozen keys and objects, sparkline history — at 200×60 on a `TestBackend`, and the
//! story screen of `ekm demo` at its end (every beat played, twelve pinned objects, the
//! timeline, 10 000 calls), beside drawing an empty frame on the same terminal (the baseline:
//! buffer swap and diff only). Budget: < 5 ms a frame.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ekm_console::model::{
    Action, CacheRow, CallRow, KeyRow, LabInfo, Model, ObjectRow, ProjectRow, Readability, Refresh,
    ScenarioInfo, StepView, WorkloadEvent,
};
use ekm_console::story::{Column, DEMO_SCENARIO, Pinned, Readable};
use ekm_console::update::update;
use ekm_console::view::view;
use ekm_engine::events::CachePath;
use ekm_engine::registration::Cloud;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use time::macros::datetime;

const START: time::OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// 10 000 calls across the three clouds, errors and throttling among them, every fourth a hop.
fn calls() -> Vec<CallRow> {
    let clouds = ["aws", "gcp", "azure"];
    let outcomes = [
        "ok",
        "ok",
        "ok",
        "AccessDeniedException",
        "ThrottlingException",
    ];
    (0..10_000i64)
        .map(|i| CallRow {
            time: START + time::Duration::seconds(i),
            provider: clouds[(i % 3) as usize].into(),
            operation: "Decrypt".into(),
            key: Some(format!("{}-k0", clouds[(i % 3) as usize])),
            outcome: outcomes[(i % 5) as usize].into(),
            latency_ms: 1.5,
            // Every fourth row a hop to an external key manager, drawn in its own style.
            hop: (i % 4 == 3).then(|| "xks".to_owned()),
        })
        .collect()
}

fn full_model() -> Model {
    let start = START;
    let mut model = Model::new(10_000, Some(60.0));
    update(
        &mut model,
        Action::Started(Box::new(LabInfo {
            source: "bench".into(),
            key_actions: true,
            dek_rotation: Duration::from_secs(86_400),
            revalidate_after: Duration::from_secs(3600),
            engine_calls: false,
            scenario: None,
        })),
    );
    let clouds = ["aws", "gcp", "azure"];
    let keys = (0..12)
        .map(|i| KeyRow {
            name: format!("{}-k{i}", clouds[i % 3]),
            provider: clouds[i % 3].into(),
            state: "enabled".into(),
            versions: i + 1,
            access: Some(i % 4 != 0),
            trust: Some(true),
            aliases: Vec::new(),
        })
        .collect();
    let projects = Cloud::ALL
        .iter()
        .map(|cloud| ProjectRow {
            cloud: *cloud,
            project: format!("proj_demo/{cloud}"),
            key: format!("{cloud}-k0"),
            key_name: Some(format!("{cloud}-k0")),
        })
        .collect();
    let cache = (0..1000i64)
        .map(|i| CacheRow {
            path: if i < 3 {
                CachePath::Encrypt
            } else {
                CachePath::Decrypt
            },
            dek: format!("{:08x}", i * 7919),
            kek: format!("{}-k0", clouds[(i % 3) as usize]),
            project: format!("proj_demo/{}", clouds[(i % 3) as usize]),
            created_at: start + time::Duration::seconds(i),
            expires_at: start + time::Duration::seconds(3600 + i),
            next_rotation: (i < 3).then_some(start + time::Duration::days(1)),
            uses: i as u64,
        })
        .collect();
    update(
        &mut model,
        Action::Refreshed(Box::new(Refresh {
            keys: Some(keys),
            projects,
            cache,
            calls: calls(),
        })),
    );
    for i in 0..12 {
        let object = ObjectRow {
            name: format!("{}-{i:03}", clouds[i % 3]),
            cloud: Cloud::ALL[i % 3],
            key: format!("{}-k0 v1", clouds[i % 3]),
            status: if i % 2 == 0 {
                Readability::Readable
            } else {
                Readability::Unreadable("access denied".into())
            },
            checked_at: start,
        };
        let event = WorkloadEvent::Sealed {
            object,
            forget: None,
        };
        update(&mut model, Action::Workload(Box::new(event)));
    }
    model
}

/// `ekm demo` at its end: every beat played, every check passed, two objects per cloud and
/// column pinned (rotated ✓, revoked ✗ or read from cache), 10 000 calls in the log.
fn story_model() -> Model {
    let scenario = ekm_scenarios::validate::parse(DEMO_SCENARIO, "rotation-vs-revocation.yaml")
        .expect("the demo is valid");
    let mut model = Model::new(10_000, None);
    let info = ScenarioInfo::new(&scenario, START);
    let steps = info.steps.len();
    update(
        &mut model,
        Action::Started(Box::new(LabInfo {
            source: "bench".into(),
            key_actions: false,
            dek_rotation: Duration::from_secs(86_400),
            revalidate_after: Duration::from_secs(3600),
            engine_calls: false,
            scenario: Some(info),
        })),
    );
    let refresh = Refresh {
        calls: calls(),
        ..Refresh::default()
    };
    update(&mut model, Action::Refreshed(Box::new(refresh)));
    let step = |i: usize| StepView {
        at: Duration::from_secs(600 * i as u64),
        outcome: "ok".into(),
        note: Some("the rotated key's old data still opens".into()),
        checks: vec![("readable".into(), "readable".into(), true); 2],
    };
    while model.played.len() < steps {
        update(&mut model, Action::NextStep);
        while model.stepping {
            let next = step(model.played.len());
            update(&mut model, Action::Stepped(Some(Box::new(next))));
        }
    }
    let pinned = Cloud::ALL
        .iter()
        .flat_map(|cloud| {
            [Column::Rotated, Column::Revoked]
                .into_iter()
                .flat_map(move |column| (0..2).map(move |i| (*cloud, column, i)))
        })
        .map(|(cloud, column, i)| Pinned {
            name: format!("{cloud}-{column:?}-{i}"),
            cloud,
            column,
            key: format!("{cloud}-demo"),
            version: Some(format!("v{}", i + 1)),
            key_now: "enabled · primary v2".into(),
            readable: match (column, i) {
                (Column::Rotated, _) => Readable::Yes,
                (Column::Revoked, 0) => Readable::Shredded("key disabled".into()),
                (Column::Revoked, _) => Readable::FromCache(START + time::Duration::minutes(200)),
            },
            cached_until: Some(START + time::Duration::minutes(200)),
        })
        .collect();
    update(&mut model, Action::Pinned(pinned));
    model
}

fn frames(c: &mut Criterion) {
    let model = full_model();
    let now = datetime!(2026-01-01 03:00 UTC);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
    let mut group = c.benchmark_group("frame_200x60");
    group.bench_function("empty_frame", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| {
                    black_box(frame.area());
                })
                .map(|done| done.area)
        })
    });
    group.bench_function("view_10k_calls_1k_deks", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| view(black_box(&model), now, frame))
                .map(|done| done.area)
        })
    });
    let story = story_model();
    assert!(story.story().is_some() && !story.played.is_empty());
    group.bench_function("story_end_10k_calls", |b| {
        b.iter(|| {
            terminal
                .draw(|frame| view(black_box(&story), now, frame))
                .map(|done| done.area)
        })
    });
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
