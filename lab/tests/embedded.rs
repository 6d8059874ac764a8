//! The embedded lab end to end: every demo cloud seals and opens through its real SDK, and
//! switching a project's key leaves old data readable only until its DEK expires.

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock};
use ekm_engine::{EncryptionContext, EngineError};
use ekm_lab::{EmbeddedLab, KeySpec, LabError, LabOptions};
use ekm_vocab::Cloud;

#[tokio::test]
async fn every_demo_cloud_round_trips_and_a_switched_key_revokes_old_data() {
    let clock = Arc::new(ManualClock::default());
    let lab = EmbeddedLab::start(LabOptions::new(clock.clone()))
        .await
        .expect("lab starts");
    let clouds: Vec<String> = lab.clouds().map(|c| c.to_string()).collect();
    assert_eq!(clouds, ["aws", "gcp", "azure"]);

    let context = EncryptionContext::new().with("object", "a");
    let mut sealed = Vec::new();
    for cloud in lab.clouds() {
        let project = lab.project(cloud).unwrap();
        assert_eq!(project.as_str(), format!("proj_demo/{cloud}"));
        let envelope = lab
            .engine()
            .seal(&project, &context, b"data")
            .await
            .unwrap();
        assert_eq!(
            lab.engine()
                .open(&project, &envelope, &context)
                .await
                .unwrap()
                .as_slice(),
            b"data"
        );
        sealed.push((cloud, envelope));
    }

    let (cloud, old) = &sealed[0];
    lab.create_key("aws-next", Cloud::Aws, KeySpec::SymmetricDefault)
        .unwrap();
    let new_key = lab.switch_key(*cloud, "aws-next").await.unwrap();
    let project = lab.project(*cloud).unwrap();
    assert_eq!(lab.engine().active_key(&project), Some(new_key));
    assert!(
        lab.engine().open(&project, old, &context).await.is_ok(),
        "cached DEK still opens"
    );
    clock.advance(lab.config().engine.revalidate_after + Duration::from_secs(1));
    assert!(matches!(
        lab.engine().open(&project, old, &context).await,
        Err(EngineError::UnknownKey { .. })
    ));

    let wrong = lab.switch_key(*cloud, "gcp-demo").await;
    assert!(matches!(wrong, Err(LabError::UnknownKey(_))), "{wrong:?}");
    lab.shutdown().await;
}

/// A lab started without the demo keys registered makes no KMS call of its own, so a harness
/// that builds its own engines counts only its own calls.
#[tokio::test]
async fn a_lab_without_demo_keys_calls_no_kms() {
    let lab = EmbeddedLab::start(LabOptions {
        register_demo_keys: false,
        ..LabOptions::new(Arc::new(ManualClock::default()))
    })
    .await
    .expect("lab starts");
    assert_eq!(lab.clouds().count(), 0);
    assert!(lab.config().registers(Cloud::Gcp));
    assert_eq!(lab.calls_since(0).calls, []);
}
