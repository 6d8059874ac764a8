//! `ekm scenario …` exit codes: 0 all passed, 1 an expectation failed, 2 a file is invalid.

use std::path::PathBuf;
use std::process::ExitCode;

use ekm_scenarios::cli::{ScenarioCommand, run};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_outcome() {
    let invalid = ScenarioCommand::Validate {
        paths: vec![dir().join("tests/invalid")],
    };
    assert_eq!(run(invalid).await, ExitCode::from(2));

    let valid = ScenarioCommand::Validate { paths: vec![dir()] };
    assert_eq!(run(valid).await, ExitCode::from(0));

    let listed = ScenarioCommand::List { dir: Some(dir()) };
    assert_eq!(run(listed).await, ExitCode::from(0));

    let temp = tempfile::tempdir().unwrap();
    let failing = temp.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "name: failing\ndescription: expects a read of nothing to fail\nsteps:\n  - at: 0s\n    read-all:\n    expect: { outcome: Unavailable }\n",
    )
    .unwrap();
    let junit = temp.path().join("junit.xml");
    let run_failing = ScenarioCommand::Run {
        paths: vec![failing],
        json: true,
        junit: Some(junit.clone()),
        shard: None,
        durations: None,
        report: None,
        audit_logs: None,
    };
    assert_eq!(run(run_failing).await, ExitCode::from(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");

    let audit_logs = temp.path().join("audit-logs");
    let passing = ScenarioCommand::Run {
        paths: vec![dir().join("alias-swap.yaml")],
        json: false,
        junit: None,
        shard: None,
        durations: None,
        report: None,
        audit_logs: Some(audit_logs.clone()),
    };
    assert_eq!(run(passing).await, ExitCode::from(0));
    let cloudtrail = std::fs::read_to_string(audit_logs.join("alias-swap/aws.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = cloudtrail
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["eventName"] == "Decrypt"),
        "{cloudtrail}"
    );
    for cloud in ["gcp", "azure"] {
        assert!(
            audit_logs
                .join(format!("alias-swap/{cloud}.jsonl"))
                .is_file()
        );
    }

    let missing = ScenarioCommand::Run {
        paths: vec![dir().join("no-such-file.yaml")],
        json: false,
        junit: None,
        shard: None,
        durations: None,
        report: None,
        audit_logs: None,
    };
    assert_eq!(run(missing).await, ExitCode::from(2));
}

/// `--shard I/N` over a directory: each scenario runs in exactly one shard, and the shards'
/// JUnit files together name every scenario once — with and without recorded durations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_run_every_scenario_exactly_once_and_their_junit_merges() {
    let temp = tempfile::tempdir().unwrap();
    let library = temp.path().join("library");
    std::fs::create_dir(&library).unwrap();
    let names: Vec<String> = (1..=5).map(|i| format!("story-{i}")).collect();
    for name in &names {
        std::fs::write(
            library.join(format!("{name}.yaml")),
            format!(
                "name: {name}\ndescription: reads nothing\nsteps:\n  - at: 0s\n    read-all:\n"
            ),
        )
        .unwrap();
    }
    let durations = temp.path().join("previous.json");
    std::fs::write(
        &durations,
        r#"{"passed": true, "scenarios": [{"name": "story-3", "wall": 40.0},
            {"name": "story-1", "wall": 2.0}]}"#,
    )
    .unwrap();
    for recorded in [None, Some(durations)] {
        let mut merged = Vec::new();
        for i in 1..=3 {
            let junit = temp.path().join(format!("junit-{i}.xml"));
            let command = ScenarioCommand::Run {
                paths: vec![library.clone()],
                json: true,
                junit: Some(junit.clone()),
                shard: Some(format!("{i}/3").parse().unwrap()),
                durations: recorded.clone(),
                report: None,
                audit_logs: None,
            };
            assert_eq!(run(command).await, ExitCode::from(0));
            merged.extend(test_case_names(&std::fs::read_to_string(&junit).unwrap()));
        }
        merged.sort();
        assert_eq!(merged, names, "recorded durations: {recorded:?}");
    }

    let bad_durations = ScenarioCommand::Run {
        paths: vec![library],
        json: true,
        junit: None,
        shard: Some("1/2".parse().unwrap()),
        durations: Some(temp.path().join("missing.json")),
        report: None,
        audit_logs: None,
    };
    assert_eq!(run(bad_durations).await, ExitCode::from(2));
}

/// The `name` of every `<testcase>` in a JUnit document.
fn test_case_names(xml: &str) -> Vec<String> {
    xml.split("<testcase ")
        .skip(1)
        .filter_map(|case| {
            // ` name="`, not the tail of `classname="`.
            let case = format!(" {case}");
            let start = case.find(" name=\"")? + " name=\"".len();
            let end = start + case[start..].find('"')?;
            Some(case[start..end].to_owned())
        })
        .collect()
}

/// One invalid file among valid ones: the valid ones run, the invalid one is a failed case in
/// JUnit and in the HTML/Markdown report, and the exit code is 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_is_a_failed_case_while_the_valid_ones_run() {
    let temp = tempfile::tempdir().unwrap();
    let scenarios = temp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::copy(
        dir().join("alias-swap.yaml"),
        scenarios.join("a-valid.yaml"),
    )
    .unwrap();
    std::fs::write(
        scenarios.join("b-broken.yaml"),
        "name: broken\ndescription: a typo\nsteps:\n  - at: 0s\n    rotat: aws-demo\n",
    )
    .unwrap();
    let junit = temp.path().join("junit.xml");
    let report = temp.path().join("report");
    let command = ScenarioCommand::Run {
        paths: vec![scenarios],
        json: true,
        junit: Some(junit.clone()),
        shard: None,
        durations: None,
        report: Some(report.clone()),
        audit_logs: None,
    };
    assert_eq!(run(command).await, ExitCode::from(2));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("invalid scenario file"), "{xml}");
    assert!(xml.contains("did you mean `rotate`"), "{xml}");
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(
        summary.contains("**1 of 2 scenario(s) passed.**"),
        "{summary}"
    );
    assert!(summary.contains("| alias-swap | ✅ passed |"), "{summary}");
    assert!(report.join("index.html").is_file());
}
