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

/// The lab shows each cloud's audit log of its engine's calls: one record per call the cloud
/// logs, the same whether read a page at a time (`audit_since`) or rendered a call at a time
/// (`audit_record`), with the engine's project in AWS's encryption context.
#[tokio::test]
async fn the_engines_calls_are_in_each_clouds_audit_log() {
    let lab = EmbeddedLab::start(LabOptions::new(Arc::new(ManualClock::default())))
        .await
        .expect("lab starts");
    let context = EncryptionContext::new().with("object", "a");
    for cloud in lab.clouds() {
        let project = lab.project(cloud).unwrap();
        lab.engine()
            .seal(&project, &context, b"data")
            .await
            .unwrap();
    }
    let calls = lab.calls_since(0).calls;
    for cloud in Cloud::ALL {
        let page = lab.audit_since(cloud, 0);
        let one_by_one: Vec<_> = calls
            .iter()
            .filter(|call| call.provider == cloud)
            .filter_map(|call| lab.audit_record(call))
            .collect();
        // The engine may still sign in in the background: what was read first is a prefix.
        assert!(!one_by_one.is_empty(), "{cloud}");
        assert_eq!(
            page.records.get(..one_by_one.len()),
            Some(one_by_one.as_slice())
        );
    }
    let cloudtrail = lab.audit_since(Cloud::Aws, 0).records;
    let encrypt = cloudtrail
        .iter()
        .find(|event| event["eventName"] == "Encrypt")
        .expect("the engine's wrap is logged");
    assert_eq!(
        encrypt["requestParameters"]["encryptionContext"]["ekm:project"],
        "proj_demo/aws"
    );
    lab.shutdown().await;
}

/// `max_connections` reaches the mock's listeners: with a cap of two held by idle connections,
/// a third connection's request waits unanswered until one of them closes.
#[tokio::test]
async fn the_connection_cap_is_the_labs_to_set() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let lab = EmbeddedLab::start(LabOptions {
        register_demo_keys: false,
        max_connections: Some(2),
        ..LabOptions::new(Arc::new(ManualClock::default()))
    })
    .await
    .expect("lab starts");
    let connect = || TcpStream::connect(lab.http_addr());
    let mut idle = vec![connect().await.unwrap(), connect().await.unwrap()];
    let mut third = connect().await.unwrap();
    third
        .write_all(
            b"GET /_mock/v1/identity/jwks HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut head)).await;
    assert!(waited.is_err(), "answered beyond the cap");
    drop(idle.pop());
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut head))
        .await
        .expect("answered once a slot is free")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}
