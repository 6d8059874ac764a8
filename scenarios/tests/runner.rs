//! The runner beyond the library: step-by-step playback, a failing expectation, the disk
//! auditor catching a planted DEK, and the reports.

use ekm_engine::ObjectName;
use ekm_scenarios::report::{Style, render_json, render_junit, render_timeline};
use ekm_scenarios::runner::{LoadedScenario, Playback, run};
use ekm_scenarios::validate::parse;

const STORY: &str = r#"
name: playback
description: two objects, a rotation and a read
objects:
  a: { provider: gcp, content: "alpha" }
  b: { provider: azure, content: "beta" }
invariants:
  no_plaintext_dek_on_disk: true
steps:
  - at: 0s
    encrypt: [a, b]
  - after: 30m
    rotate: gcp-demo
  - after: 1h
    read-all:
    expect: { outcome: ok, readable: [a, b] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_runs_one_step_at_a_time_on_lab_time() {
    let scenario = parse(STORY, "story.yaml").unwrap();
    let mut playback = Playback::start(scenario).await.unwrap();
    assert_eq!(playback.next_step_at(), Some(std::time::Duration::ZERO));

    let first = playback.next_step().await.unwrap();
    assert_eq!((first.index, first.outcome.as_str()), (0, "ok"));
    assert!(
        first.kms_calls >= 2,
        "a wrap per cloud, plus any sign-in: {first:?}"
    );
    assert_eq!(playback.lab().engine().snapshot().entries.len(), 2);
    assert_eq!(
        playback.next_step_at(),
        Some(std::time::Duration::from_secs(1800))
    );

    let second = playback.next_step().await.unwrap();
    assert_eq!(second.action, "rotate gcp-demo");
    assert_eq!(playback.elapsed(), std::time::Duration::from_secs(1800));
    let versions = playback.lab().key("gcp-demo").unwrap().versions;
    assert_eq!(versions.len(), 2);

    let third = playback.next_step().await.unwrap();
    assert!(third.passed(), "{third:?}");
    assert!(playback.is_finished());
    assert!(playback.next_step().await.is_none());
    assert_eq!(playback.reports().len(), 3);
    let report = playback.finish().await;
    assert!(report.passed(), "{}", report.failure_summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_fails_the_scenario_and_every_report_says_so() {
    let text = r#"
name: wrong
description: expects a revoked key to keep working
objects:
  a: { provider: aws, content: "alpha" }
steps:
  - at: 0s
    encrypt: a
  - after: 0s
    revoke-access: aws-demo
  - after: 2h
    decrypt: a
    expect: { outcome: ok }
"#;
    let report = run(LoadedScenario {
        file: None,
        scenario: parse(text, "wrong.yaml").unwrap(),
    })
    .await;
    assert!(!report.passed());
    let failures = report.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].1.expected, "outcome ok");
    assert!(
        failures[0].1.actual.starts_with("AccessDenied"),
        "{failures:?}"
    );

    let timeline = render_timeline(&report, Style { color: false });
    assert!(timeline.contains("✗ outcome ok"), "{timeline}");
    assert!(timeline.contains("FAILED"), "{timeline}");
    assert!(
        !timeline.contains('\u{1b}'),
        "no colour when asked for none"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render_json(std::slice::from_ref(&report))).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["scenarios"][0]["steps"][2]["outcome"], "AccessDenied");
    let junit = render_junit(&[report]).unwrap();
    assert!(junit.contains("<testcase name=\"wrong\""), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_finds_a_dek_written_to_disk() {
    let scenario = parse(STORY, "story.yaml").unwrap();
    let mut playback = Playback::start(scenario).await.unwrap();
    let first = playback.next_step().await.unwrap();
    assert!(first.passed(), "{first:?}");
    assert!(
        first
            .checks
            .iter()
            .any(|c| c.expected.contains("no plaintext DEK")),
        "{first:?}"
    );

    // A buggy store that writes the DEK next to the data.
    let lab = playback.lab();
    let store = lab.engine().store().clone();
    let envelope = store.get(&ObjectName::new("a").unwrap()).unwrap();
    let dek = lab.recover_dek(&envelope).unwrap();
    store
        .put(
            &ObjectName::new("leak").unwrap(),
            &hex::encode(dek.as_slice()).into_bytes(),
        )
        .unwrap();

    let second = playback.next_step().await.unwrap();
    let audit = second
        .checks
        .iter()
        .find(|c| c.expected.contains("no plaintext DEK"))
        .unwrap();
    assert!(!audit.passed, "{audit:?}");
    assert!(
        audit.actual.contains("leak.ekm holds a DEK (hex)"),
        "{audit:?}"
    );
    playback.finish().await;
}
