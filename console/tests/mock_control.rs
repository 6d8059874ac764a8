//! `ekm --config` on a registration whose endpoints are a lab mock KMS in another process: the
//! console finds the mock's control API and its panes and key actions work as with the
//! embedded lab — driven here through the runtime's own effect loop.

use std::sync::Arc;

use ekm_console::backend::Backend;
use ekm_console::driver::Driver;
use ekm_console::model::{Action, KeyCommand, Model};
use ekm_console::update::update;
use ekm_engine::EncryptionContext;
use ekm_engine::clock::ManualClock;
use ekm_lab::{EmbeddedLab, LabOptions};
use ekm_vocab::{Cloud, KeyAction};

#[tokio::test]
async fn a_registration_on_a_lab_mock_shows_its_keys_and_calls_and_takes_key_actions() {
    let clock = Arc::new(ManualClock::default());
    // The lab plays the standalone mock: the console's backend reaches it only through the
    // registration's endpoints.
    let lab = EmbeddedLab::start(LabOptions::new(clock.clone()))
        .await
        .expect("lab starts");
    let backend = Arc::new(
        Backend::registered(lab.config(), "ekm.yaml", clock)
            .await
            .expect("the registration connects"),
    );
    assert!(
        backend.remote().is_some(),
        "the mock's control API is found"
    );
    let info = backend.info();
    assert!(info.key_actions, "key actions work against the mock");
    assert!(!info.engine_calls, "the call log is the mock's own");
    assert!(
        info.source.contains(&lab.http_addr().to_string()),
        "{}",
        info.source
    );

    let (_, project) = backend
        .projects()
        .into_iter()
        .find(|(cloud, _)| *cloud == Cloud::Aws)
        .expect("AWS is registered");
    let context = EncryptionContext::new().with("object", "a");
    backend
        .engine()
        .seal(&project, &context, b"x")
        .await
        .unwrap();

    let mut model = Model::new(100, None);
    let mut driver = Driver::new(None);
    driver.attach(backend.clone(), None);
    driver
        .settle(&mut model, Action::Started(Box::new(info)))
        .await;
    let keys = model.keys.clone().expect("the mock's keys are shown");
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["aws-demo", "azure-demo", "gcp-demo"]);
    assert!(
        model
            .calls
            .iter()
            .any(|c| c.provider == "aws" && c.operation == "Encrypt" && c.outcome == "ok"),
        "the mock logged the engine's Encrypt"
    );

    let row = keys.iter().position(|k| k.name == "aws-demo").unwrap();
    update(&mut model, Action::SelectKey(row));
    driver
        .settle(&mut model, Action::Key(KeyCommand::Lab(KeyAction::Disable)))
        .await;
    assert_eq!(lab.key("aws-demo").unwrap().state, "disabled");
    let notice = model.notice.clone().expect("the action is answered");
    assert!(
        !notice.error && notice.text.contains("aws-demo"),
        "{notice:?}"
    );
    driver.settle(&mut model, Action::Tick).await;
    let state = |model: &Model| model.keys.as_ref().unwrap()[row].state.clone();
    assert_eq!(
        state(&model),
        "disabled",
        "the Keys pane shows the mock's state"
    );

    driver
        .settle(
            &mut model,
            Action::ToggleFault(ekm_console::model::FaultKind::Outage),
        )
        .await;
    assert_eq!(lab.faults().len(), 1, "the fault reached the mock");

    driver
        .settle(&mut model, Action::Key(KeyCommand::SwitchKey))
        .await;
    let refused = model.notice.clone().unwrap();
    assert!(
        refused.error && refused.text.contains("ekm.yaml"),
        "{refused:?}"
    );

    // One read at a time: a second refresh while the first is on its way is skipped.
    let first = backend.remote_refresh().expect("a read");
    assert!(backend.remote_refresh().is_none());
    first.await.expect("the mock answers");
    assert!(backend.remote_refresh().is_some());
}
