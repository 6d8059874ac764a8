//! A lab mock held through its control API, as a console with `--config` holds a `mock-kms` in
//! another process: found behind the registration's loopback endpoints, then keys, actions,
//! aliases, faults and the call log, with the mock's refusals as typed errors.

use std::sync::Arc;

use ekm_engine::EncryptionContext;
use ekm_engine::clock::ManualClock;
use ekm_lab::{EmbeddedLab, KeySpec, LabOptions, MockControl, RemoteError};
use ekm_vocab::{Cloud, Fault, FaultEffect, FaultScope, KeyAction, Probability, VersionAction};

#[tokio::test]
async fn a_mock_behind_the_registration_is_found_and_driven_through_its_control_api() {
    let lab = EmbeddedLab::start(LabOptions::new(Arc::new(ManualClock::default())))
        .await
        .expect("lab starts");
    let control = MockControl::find(lab.config())
        .await
        .expect("the registration's endpoints are the lab's mock");
    assert_eq!(control.base(), format!("http://{}", lab.http_addr()));

    let keys = control.keys().await.unwrap();
    assert_eq!(keys, lab.keys(), "the same keys as in process");
    let rotated = control.apply("gcp-demo", KeyAction::Rotate).await.unwrap();
    assert_eq!(rotated.versions.len(), 2);
    assert_eq!(lab.key("gcp-demo").unwrap(), rotated);

    let created = control
        .create_key("aws-spare", Cloud::Aws, KeySpec::default_for(Cloud::Aws))
        .await
        .unwrap();
    control.set_alias("ekm-demo", "aws-spare").await.unwrap();
    assert_eq!(control.aliases().await.unwrap()["ekm-demo"], created.name);

    let outage = Fault::new(
        FaultScope::cloud(Cloud::Gcp),
        FaultEffect::Outage {
            probability: Probability::ALWAYS,
        },
    );
    control.set_faults(vec![outage.clone()]).await.unwrap();
    assert_eq!(lab.faults(), [outage]);
    control.set_faults(Vec::new()).await.unwrap();

    let project = lab.project(Cloud::Azure).unwrap();
    let context = EncryptionContext::new().with("object", "remote");
    lab.engine().seal(&project, &context, b"x").await.unwrap();
    // The engine may still be making calls of its own (a sign-in refreshed in the background):
    // what the control API read is what the lab reads just after begins with, in order. (The
    // latency is compared to the microsecond: JSON floats are not bit-exact.)
    let page = control.calls_since(0).await.unwrap();
    let local = lab.calls_since(0).calls;
    let seen = |calls: &[ekm_lab::CallRecord]| -> Vec<_> {
        calls
            .iter()
            .map(|c| {
                let micros = (c.latency_ms * 1000.0).round() as u64;
                (
                    c.seq,
                    c.time,
                    c.provider,
                    c.operation.clone(),
                    c.kind,
                    c.key.clone(),
                    c.caller.clone(),
                    c.outcome.clone(),
                    micros,
                    c.hop.clone(),
                    c.trace.clone(),
                )
            })
            .collect()
    };
    assert!(!page.calls.is_empty() && seen(&local).starts_with(&seen(&page.calls)));
    assert!(local.iter().any(|c| c.provider == Cloud::Azure));
    let rest = control.calls_since(page.next).await.unwrap().calls;
    assert!(
        rest.iter().all(|c| c.seq > page.next),
        "only newer calls after `next`"
    );

    match control.apply("no-such-key", KeyAction::Disable).await {
        Err(RemoteError::Refused { status, message }) => {
            assert_eq!(status, 404);
            assert!(message.contains("no-such-key"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    control
        .apply("aws-spare", KeyAction::Destroy)
        .await
        .unwrap();
    match control.apply("aws-spare", KeyAction::Enable).await {
        Err(RemoteError::Refused { status: 409, .. }) => {}
        other => panic!("enabling a destroyed key: {other:?}"),
    }

    // Key versions: GCP's old version disabled and enabled again; AWS has no version state.
    let disabled = control
        .apply_version("gcp-demo", "1", VersionAction::Disable)
        .await
        .unwrap();
    assert_eq!(disabled.version_states[0].state, "disabled");
    assert_eq!(disabled.state, "enabled");
    control
        .apply_version("gcp-demo", "1", VersionAction::Enable)
        .await
        .unwrap();
    let aws = control.keys().await.unwrap()[0].primary_version.clone();
    match control
        .apply_version("aws-demo", &aws, VersionAction::Disable)
        .await
    {
        Err(RemoteError::Refused {
            status: 400,
            message,
        }) => {
            assert!(message.contains("no per-version state"), "{message}");
        }
        other => panic!("an AWS version action: {other:?}"),
    }
    match control
        .apply_version("gcp-demo", "7", VersionAction::Disable)
        .await
    {
        Err(RemoteError::Refused { status: 404, .. }) => {}
        other => panic!("an unknown version: {other:?}"),
    }
}

#[tokio::test]
async fn endpoints_that_are_not_the_lab_mock_are_not_taken_for_it() {
    let lab = EmbeddedLab::start(LabOptions::new(Arc::new(ManualClock::default())))
        .await
        .expect("lab starts");
    // A loopback port where nothing listens, and one where something else answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = other.accept().await {
            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    for port in [closed_port, other_port] {
        let mut config = lab.config().clone();
        let endpoint = format!("http://127.0.0.1:{port}");
        if let Some(aws) = config.aws.as_mut() {
            aws.endpoint = Some(endpoint.clone());
        }
        if let Some(gcp) = config.gcp.as_mut() {
            gcp.endpoint = Some(endpoint);
        }
        assert!(MockControl::find(&config).await.is_none(), "port {port}");
    }
    let unreachable = MockControl::at(format!("http://127.0.0.1:{closed_port}"));
    assert!(matches!(
        unreachable.keys().await,
        Err(RemoteError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn explain_reads_the_same_decisions_in_process_and_through_the_control_api() {
    let lab = EmbeddedLab::start(LabOptions::new(Arc::new(ManualClock::default())))
        .await
        .expect("lab starts");
    let control = MockControl::find(lab.config()).await.expect("a lab mock");
    lab.apply("aws-demo", KeyAction::RevokeAccess).unwrap();
    let arn = lab.key("aws-demo").unwrap().id;
    let sign_in = ekm_access::SignInAs {
        external_id: Some("proj_other & more".into()),
        ..Default::default()
    };
    let remote = control.explain(Cloud::Aws, &arn, &sign_in).await.unwrap();
    assert_eq!(remote, lab.explain(Cloud::Aws, &arn, &sign_in).unwrap());
    assert_eq!(remote.key, "aws-demo");
    assert!(
        remote.sign_in.explain().contains("proj_other & more"),
        "the ExternalId travels intact: {}",
        remote.sign_in.explain()
    );
    assert_eq!(remote.decrypt.verdict, ekm_access::Verdict::ExplicitDeny);
    let missing = control
        .explain(Cloud::Gcp, "no-such-key", &ekm_access::SignInAs::default())
        .await;
    assert!(
        matches!(missing, Err(RemoteError::Refused { status: 404, .. })),
        "{missing:?}"
    );
    lab.shutdown().await;
}
