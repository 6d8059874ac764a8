//! The control API (DESIGN.md §4) over real HTTP: keys, actions, aliases, faults, call log and
//! clock, with their error answers.

mod common;

use common::TestLab;
use serde_json::{Value, json};

#[tokio::test]
async fn keys_are_listed_created_and_refused_by_contract() {
    let lab = TestLab::start().await;
    let (status, keys) = lab.control("GET", "/_mock/v1/keys", None).await;
    assert_eq!(status, 200);
    let names: Vec<_> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("aws-demo"), json!("azure-demo"), json!("gcp-demo")]
    );
    let aws = &keys[0];
    for field in [
        "name",
        "provider",
        "id",
        "spec",
        "state",
        "access",
        "trust",
        "versions",
        "primary_version",
    ] {
        assert!(aws.get(field).is_some(), "missing {field}");
    }
    assert_eq!(aws["state"], "enabled");

    let (status, created) = lab
        .control(
            "POST",
            "/_mock/v1/keys",
            Some(json!({"name": "gcp-2", "provider": "gcp", "spec": "SYMMETRIC_DEFAULT"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["id"],
        "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/gcp-2"
    );
    assert!(created["access"] == true && created["trust"] == true);
    let (status, _) = lab
        .control(
            "POST",
            "/_mock/v1/keys",
            Some(json!({"name": "gcp-2", "provider": "gcp", "spec": "SYMMETRIC_DEFAULT"})),
        )
        .await;
    assert_eq!(status, 409);
    for bad in [
        json!({"name": "x", "provider": "ibm", "spec": "SYMMETRIC_DEFAULT"}),
        json!({"name": "x", "provider": "aws", "spec": "RSA_2048"}),
        json!({"name": "x"}),
        json!({"name": "x", "provider": "aws", "colour": "red"}),
        json!(["not", "an", "object"]),
    ] {
        let (status, body) = lab
            .control("POST", "/_mock/v1/keys", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, key) = lab.control("GET", "/_mock/v1/keys/gcp-2", None).await;
    assert_eq!((status, key["name"].clone()), (200, json!("gcp-2")));
    assert_eq!(lab.control("GET", "/_mock/v1/keys/nope", None).await.0, 404);
    lab.shutdown().await;
}

#[tokio::test]
async fn actions_answer_the_key_and_repeat_idempotently() {
    let lab = TestLab::start().await;
    let rotated = lab.action("aws-demo", "rotate").await;
    assert_eq!(rotated["versions"].as_array().unwrap().len(), 2);
    assert_eq!(rotated["primary_version"], rotated["versions"][1]);
    assert_eq!(lab.action("aws-demo", "disable").await["state"], "disabled");
    assert_eq!(lab.action("aws-demo", "disable").await["state"], "disabled");
    assert_eq!(lab.action("aws-demo", "enable").await["state"], "enabled");
    assert_eq!(
        lab.action("gcp-demo", "revoke-access").await["access"],
        false
    );
    assert_eq!(
        lab.action("gcp-demo", "restore-access").await["access"],
        true
    );
    assert_eq!(lab.action("gcp-demo", "revoke-trust").await["trust"], false);
    assert_eq!(lab.action("gcp-demo", "restore-trust").await["trust"], true);
    let pending = lab.action("azure-demo", "schedule-deletion").await;
    assert_eq!(pending["state"], "pending-deletion");
    assert_eq!(pending["deletion_date"], "2026-01-08T00:00:00Z");

    let (status, body) = lab
        .control("POST", "/_mock/v1/keys/aws-demo/explode", None)
        .await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    for action in [
        "rotate",
        "disable",
        "enable",
        "schedule-deletion",
        "destroy",
        "revoke-access",
        "restore-access",
        "revoke-trust",
        "restore-trust",
    ] {
        assert!(message.contains(action), "{message}");
    }
    lab.expect_statuses(vec![
        ("POST", "/_mock/v1/keys/nope/rotate", None, 404),
        ("POST", "/_mock/v1/keys/azure-demo/enable", None, 409),
    ])
    .await;

    // Pending deletion becomes destroyed on the lab clock.
    let (status, clock) = lab
        .control(
            "POST",
            "/_mock/v1/clock/advance",
            Some(json!({"seconds": 7 * 24 * 3600})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(clock["now"], "2026-01-08T00:00:00Z");
    assert_eq!(
        lab.control("GET", "/_mock/v1/keys/azure-demo", None)
            .await
            .1["state"],
        "destroyed"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn aliases_faults_calls_and_clock() {
    let lab = TestLab::start().await;
    lab.control(
        "POST",
        "/_mock/v1/keys",
        Some(json!({"name": "aws-2", "provider": "aws"})),
    )
    .await;
    let (status, body) = lab
        .control(
            "PUT",
            "/_mock/v1/aliases/ekm-demo",
            Some(json!({"target": "aws-2"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"alias": "ekm-demo", "target": "aws-2"}))
    );
    assert_eq!(
        lab.control("GET", "/_mock/v1/aliases", None).await.1,
        json!({"ekm-demo": "aws-2"})
    );
    lab.expect_statuses(vec![
        (
            "PUT",
            "/_mock/v1/aliases/ekm-demo",
            Some(json!({"target": "nope"})),
            404,
        ),
        (
            "PUT",
            "/_mock/v1/aliases/ekm-demo",
            Some(json!({"target": "gcp-demo"})),
            400,
        ),
        (
            "PUT",
            "/_mock/v1/aliases/ekm-demo",
            Some(json!({"to": "aws-2"})),
            400,
        ),
    ])
    .await;

    let rules = json!([
        {"provider": "aws", "operation": "encrypt", "key": "aws-demo", "latency_ms": 5},
        {"provider": "gcp", "throttle": {"limit": 2, "per_seconds": 10}},
        {"provider": "azure", "operation": "*", "error": "unavailable", "probability": 0.5},
    ]);
    let (status, set) = lab
        .control("PUT", "/_mock/v1/faults", Some(rules.clone()))
        .await;
    assert_eq!((status, set.clone()), (200, rules.clone()));
    assert_eq!(lab.control("GET", "/_mock/v1/faults", None).await.1, rules);
    for bad in [
        json!([{"provider": "aws"}]),
        json!([{"provider": "aws", "error": "boom"}]),
        json!([{"provider": "aws", "outage": true, "probability": 2}]),
        json!({"provider": "aws", "outage": true}),
    ] {
        let (status, body) = lab
            .control("PUT", "/_mock/v1/faults", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = lab
        .control(
            "PUT",
            "/_mock/v1/faults",
            Some(json!([{"provider": "aws", "latency_ms": u64::MAX}])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("latency_ms must be at most 600000 (10 minutes)")),
        "{body}"
    );
    assert_eq!(
        lab.control(
            "PUT",
            "/_mock/v1/faults",
            Some(json!([{"provider": "aws", "key": "nope", "outage": true}]))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        lab.control("DELETE", "/_mock/v1/faults", None).await,
        (200, json!([]))
    );
    assert_eq!(
        lab.control("GET", "/_mock/v1/faults", None).await.1,
        json!([])
    );

    let (status, page) = lab.control("GET", "/_mock/v1/calls", None).await;
    assert_eq!(
        (status, page.clone()),
        (200, json!({"calls": [], "next": 0}))
    );
    assert_eq!(
        lab.control("GET", "/_mock/v1/calls?since=abc", None)
            .await
            .0,
        400
    );

    let (status, clock) = lab.control("GET", "/_mock/v1/clock", None).await;
    assert_eq!(status, 200);
    assert_eq!(clock["now"], "2026-01-01T00:00:00Z");
    assert!(clock["offset_seconds"].as_i64().unwrap() < 0, "{clock}");
    for bad in [
        json!({"seconds": -1}),
        json!({"seconds": "soon"}),
        json!({}),
        json!({"seconds": 1, "x": 2}),
    ] {
        assert_eq!(
            lab.control("POST", "/_mock/v1/clock/advance", Some(bad.clone()))
                .await
                .0,
            400,
            "{bad}"
        );
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn errors_are_json_never_422_or_plain_text() {
    let lab = TestLab::start().await;
    let http = reqwest::Client::new();
    let url = lab.url();
    let cases: Vec<(&str, &str, Option<&str>, &str, u16)> = vec![
        (
            "POST",
            "/_mock/v1/keys",
            Some("application/json"),
            "{not json",
            400,
        ),
        ("POST", "/_mock/v1/keys", Some("application/json"), "", 400),
        (
            "POST",
            "/_mock/v1/keys",
            Some("text/plain"),
            r#"{"name":"a","provider":"aws"}"#,
            400,
        ),
        (
            "PUT",
            "/_mock/v1/faults",
            Some("application/json"),
            r#"[{"provider": 7}]"#,
            400,
        ),
        (
            "POST",
            "/_mock/v1/clock/advance",
            Some("application/json"),
            "[]",
            400,
        ),
        ("GET", "/_mock/v1/nothing/here", None, "", 404),
        ("DELETE", "/_mock/v1/keys", None, "", 405),
        ("GET", "/_mock/v1/keys/aws-demo/rotate", None, "", 405),
    ];
    for (method, path, content_type, body, expected) in cases {
        let mut request = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{url}{path}"),
            )
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let json: Value = response.json().await.expect("error body is JSON");
        assert_eq!(status, expected, "{method} {path} {body}");
        assert!(json["error"].is_string(), "{method} {path}: {json}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn the_clock_stops_at_its_horizon_and_the_server_keeps_answering() {
    let lab = TestLab::start().await;
    let century = json!({"seconds": 100.0 * 365.0 * 24.0 * 3600.0});
    let mut refusal = None;
    for _ in 0..100 {
        let (status, body) = lab
            .control("POST", "/_mock/v1/clock/advance", Some(century.clone()))
            .await;
        if status != 200 {
            refusal = Some((status, body));
            break;
        }
    }
    let (status, body) = refusal.expect("8000 years of jumps were all accepted");
    assert_eq!(status, 400, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("horizon 9999-01-01"), "{message}");

    // Still answering: the clock, the key list, and a real SDK call.
    let (status, clock) = lab.control("GET", "/_mock/v1/clock", None).await;
    assert_eq!(status, 200);
    let now = time::OffsetDateTime::parse(
        clock["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(now.year() >= 9900, "{clock}");

    // Three days before the horizon: a 7-day deletion window would end past it.
    let room = (ekm_clock::HORIZON - now - time::Duration::days(3)).whole_seconds();
    let (status, _) = lab
        .control(
            "POST",
            "/_mock/v1/clock/advance",
            Some(json!({"seconds": room})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = lab
        .control("POST", "/_mock/v1/keys/gcp-demo/schedule-deletion", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("horizon"),
        "{body}"
    );
    let owner = common::owner_kms(&lab.url()).await;
    let scheduled = owner
        .schedule_key_deletion()
        .key_id(common::DEMO_ARN)
        .pending_window_in_days(7)
        .send()
        .await;
    assert_eq!(common::code(scheduled), "ValidationException");
    // A fault window ending past the horizon is refused the same way; a shorter one is taken.
    let (status, body) = lab
        .control(
            "PUT",
            "/_mock/v1/faults",
            Some(json!([{"provider": "aws", "outage": true, "window_seconds": 4 * 86_400}])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("horizon"),
        "{body}"
    );
    let (status, body) = lab
        .control(
            "PUT",
            "/_mock/v1/faults",
            Some(json!([{"provider": "aws", "latency_ms": 1, "window_seconds": 86_400}])),
        )
        .await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    let encrypted = owner
        .encrypt()
        .key_id(common::DEMO_ARN)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"still here"))
        .send()
        .await;
    assert!(encrypted.is_ok(), "{encrypted:?}");
    let (status, keys) = lab.control("GET", "/_mock/v1/keys", None).await;
    assert_eq!((status, keys.as_array().map(Vec::len)), (200, Some(3)));
    lab.shutdown().await;
}

#[tokio::test]
async fn the_index_lists_every_route_and_every_listed_route_is_served() {
    let lab = TestLab::start().await;
    let (status, index) = lab.control("GET", "/_mock/v1", None).await;
    assert_eq!(status, 200, "{index}");
    assert_eq!(index["service"], "ekm-mock-kms");
    let routes = index["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), ekm_mock_kms::control::index::ROUTES.len());
    let listed = |method: &str, path: &str| {
        routes
            .iter()
            .any(|r| r["method"] == method && r["path"] == path)
    };
    for (method, path) in [
        ("GET", "/_mock/v1/keys"),
        ("POST", "/_mock/v1/keys/{name}/{action}"),
        ("PUT", "/_mock/v1/faults"),
        ("GET", "/_mock/v1/calls"),
        ("GET", "/_mock/v1/audit/{cloud}"),
        ("POST", "/_mock/v1/clock/advance"),
        ("GET", "/_mock/v1/identity/jwks"),
        ("PUT", "/_mock/v1/xks/fleet"),
    ] {
        assert!(listed(method, path), "{method} {path} is not in the index");
    }
    // Every listed route is served: no 405 and no unknown-route 404. The placeholders name
    // things that do not exist, and the bodies are absent: nothing but the faults (cleared) changes.
    for route in routes {
        let method = route["method"].as_str().unwrap();
        let path = route["path"]
            .as_str()
            .unwrap()
            .replace("{name}", "no-such-key")
            .replace("{alias}", "no-such-alias")
            .replace("{id}", "no-such-external-key")
            .replace("{version}", "1")
            .replace("{action}", "rotate")
            .replace("{cloud}", "aws");
        let (status, reply) = lab.control(method, &path, None).await;
        assert_ne!(status, 405, "{method} {path}: {reply}");
        assert!(
            !(status == 404 && reply["error"] == "no such control API route"),
            "{method} {path} is listed but not served"
        );
        assert!(
            route["does"].as_str().is_some_and(|d| !d.is_empty()),
            "{route}"
        );
    }
    let actions = routes
        .iter()
        .find(|r| r["path"] == "/_mock/v1/keys/{name}/{action}")
        .and_then(|r| r["does"].as_str())
        .unwrap();
    for word in <ekm_vocab::KeyAction as ekm_vocab::Vocabulary>::words() {
        assert!(
            actions.contains(word),
            "the index omits the action `{word}`"
        );
    }
    assert_eq!(lab.control("DELETE", "/_mock/v1", None).await.0, 405);
    lab.shutdown().await;
}
