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
    };
    assert_eq!(run(run_failing).await, ExitCode::from(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");

    let passing = ScenarioCommand::Run {
        paths: vec![dir().join("alias-swap.yaml")],
        json: false,
        junit: None,
    };
    assert_eq!(run(passing).await, ExitCode::from(0));

    let missing = ScenarioCommand::Run {
        paths: vec![dir().join("no-such-file.yaml")],
        json: false,
        junit: None,
    };
    assert_eq!(run(missing).await, ExitCode::from(2));
}
