//! `--state FILE` and `--config FILE`: the key store survives a restart (old ciphertext still
//! decrypts), a `kill -9` in the middle of writes never leaves a file that fails to load, and a
//! YAML config replaces the demo seed. Also the binary's start line and SIGTERM shutdown.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use common::{TestLab, owner_kms, service_kms};
use ekm_clock::{Clock as _, ManualClock};
use ekm_mock_kms::config::LabConfig;
use ekm_mock_kms::server::Options;
use serde_json::{Value, json};

fn options(clock: &Arc<ManualClock>, state: &Path) -> Options {
    Options {
        state_file: Some(state.to_owned()),
        ..Options::ephemeral_with_clock(clock.clone())
    }
}

/// Key JSON without Azure ids, which name the (per-start) https address.
fn without_azure_host(mut keys: Value) -> Value {
    for key in keys.as_array_mut().into_iter().flatten() {
        if key["provider"] == "azure" {
            key["id"] = Value::Null;
        }
    }
    keys
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());

    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    let service = service_kms(&lab.url()).await;
    let old = service
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(b"before restart"))
        .encryption_context("p", "q")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    lab.action("aws-demo", "rotate").await;
    lab.control(
        "POST",
        "/_mock/v1/keys",
        Some(json!({"name": "aws-2", "provider": "aws"})),
    )
    .await;
    lab.control(
        "PUT",
        "/_mock/v1/aliases/second",
        Some(json!({"target": "aws-2"})),
    )
    .await;
    lab.action("gcp-demo", "disable").await;
    lab.action("gcp-demo", "revoke-sessions").await;
    let before = without_azure_host(lab.control("GET", "/_mock/v1/keys", None).await.1);
    lab.shutdown().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    assert_eq!(
        without_azure_host(lab.control("GET", "/_mock/v1/keys", None).await.1),
        before
    );
    assert_eq!(
        lab.control("GET", "/_mock/v1/aliases", None).await.1,
        json!({"ekm-demo": "aws-demo", "second": "aws-2"})
    );
    let service = service_kms(&lab.url()).await;
    let plain = service
        .decrypt()
        .ciphertext_blob(old)
        .encryption_context("p", "q")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"before restart");
    assert_eq!(
        lab.mock
            .lab()
            .read(|s| s.session_epoch(ekm_vocab::Cloud::Gcp)),
        1
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn config_replaces_the_demo_seed() {
    let config = LabConfig::parse(
        "tenant:\n  project_id: proj_acme\nkeys:\n  - { name: aws-main, provider: aws }\n  - { name: aws-off, provider: aws, state: disabled, access: false }\n  - { name: az-ec, provider: azure, spec: EC_P256 }\naliases:\n  main: aws-main\n",
    )
    .unwrap();
    let clock = Arc::new(ManualClock::default());
    let options = Options {
        config: Some(config),
        ..Options::ephemeral_with_clock(clock.clone())
    };
    let lab = TestLab::start_with(options, clock).await;
    let keys = lab.control("GET", "/_mock/v1/keys", None).await.1;
    let summary: Vec<_> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].clone(),
                k["state"].clone(),
                k["access"].clone(),
                k["spec"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                json!("aws-main"),
                json!("enabled"),
                json!(true),
                json!("SYMMETRIC_DEFAULT")
            ),
            (
                json!("aws-off"),
                json!("disabled"),
                json!(false),
                json!("SYMMETRIC_DEFAULT")
            ),
            (
                json!("az-ec"),
                json!("enabled"),
                json!(true),
                json!("EC_P256")
            ),
        ]
    );
    // The owner still works through the alias; the tenant's project id is now the ExternalId.
    let owner = owner_kms(&lab.url()).await;
    let out = owner
        .encrypt()
        .key_id("alias/main")
        .plaintext(Blob::new(b"x"))
        .send()
        .await
        .unwrap();
    assert!(
        out.key_id()
            .unwrap()
            .starts_with("arn:aws:kms:us-east-1:111122223333:key/")
    );
    let service = common::service_kms_with(&lab.url(), common::ROLE, "proj_acme").await;
    assert!(
        service
            .encrypt()
            .key_id("alias/main")
            .plaintext(Blob::new(b"x"))
            .send()
            .await
            .is_ok()
    );
    lab.shutdown().await;
}

/// A running `mock-kms` binary and its start line.
struct Binary {
    child: Child,
    start: Value,
}

impl Binary {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-kms"))
            .args(["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock-kms starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("start line {line:?}: {e}"));
        Self { child, start }
    }

    fn url(&self) -> String {
        format!("http://{}", self.start["http"].as_str().unwrap())
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("mock-kms did not exit");
    }
}

#[tokio::test]
async fn binary_prints_its_start_line_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let binary = Binary::spawn(&["--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(binary.start["ca_cert"], json!(ca.to_str().unwrap()));
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        binary.start["https"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let keys: Value = reqwest::get(format!("{}/_mock/v1/keys", binary.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 3);
    binary.signal("-TERM");
    assert!(binary.wait().success());
}

#[tokio::test]
async fn binary_refuses_a_bad_config_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lab.yaml");
    std::fs::write(&config, "keys:\n  - name: a\n    provider: ibm\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mock-kms"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("column"),
        "{stderr}"
    );
}

#[tokio::test]
async fn kill_9_during_writes_never_leaves_an_unloadable_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    for round in 0..4u64 {
        let mut binary = Binary::spawn(&["--state", &state_arg]);
        let url = binary.url();
        let writer = {
            let http = http.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("k-{round}-{i}");
                    let create = http
                        .post(format!("{url}/_mock/v1/keys"))
                        .json(&json!({"name": name, "provider": "aws"}))
                        .send()
                        .await;
                    let rotate = http
                        .post(format!("{url}/_mock/v1/keys/aws-demo/rotate"))
                        .send()
                        .await;
                    if create.is_err() || rotate.is_err() {
                        break;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        binary.child.kill().unwrap();
        binary.child.wait().unwrap();
        let _ = writer.await;

        let restarted = Binary::spawn(&["--state", &state_arg]);
        let keys: Value = http
            .get(format!("{}/_mock/v1/keys", restarted.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(keys.as_array().unwrap().len() >= 3, "round {round}");
        restarted.signal("-TERM");
        assert!(restarted.wait().success());
    }
}

/// Every encoding of each version's material of key `name` in the state file at `path`
/// (base64 as stored, base64url, hex), to look for after the key is destroyed.
fn material_encodings(path: &Path, name: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key = file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name} in {file}"));
    let mut encodings = Vec::new();
    for version in key["versions"].as_array().unwrap() {
        let (_, b64) = version["material"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        let bytes = STANDARD.decode(b64.as_str().unwrap()).unwrap();
        // A 16-byte window is enough to find any copy of the key, whatever surrounds it.
        let window = &bytes[..16];
        encodings.extend([
            STANDARD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
            hex::encode(window),
            hex::encode_upper(window),
        ]);
    }
    encodings
}

fn assert_no_material(path: &Path, encodings: &[String]) {
    let text = std::fs::read_to_string(path).unwrap();
    for encoding in encodings {
        assert!(
            !text.contains(encoding.as_str()),
            "old key material still in the state file"
        );
    }
}

async fn key_state(lab: &TestLab, name: &str) -> Value {
    lab.control("GET", &format!("/_mock/v1/keys/{name}"), None)
        .await
        .1["state"]
        .clone()
}

#[tokio::test]
async fn destroyed_keys_leave_no_material_on_disk_and_stay_destroyed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    lab.action("aws-demo", "rotate").await;
    let aws = material_encodings(&state, "aws-demo");
    let gcp = material_encodings(&state, "gcp-demo");
    let azure = material_encodings(&state, "azure-demo");
    assert!(std::fs::read_to_string(&state).unwrap().contains(&aws[0]));

    // `destroy`: the material leaves the file with the answer.
    lab.action("aws-demo", "destroy").await;
    assert_no_material(&state, &aws);

    // A deletion date passed by a clock jump of the control API.
    lab.action("gcp-demo", "schedule-deletion").await;
    let (status, _) = lab
        .control(
            "POST",
            "/_mock/v1/clock/advance",
            Some(json!({"seconds": 8 * 24 * 3600})),
        )
        .await;
    assert_eq!(status, 200);
    assert_no_material(&state, &gcp);

    // A deletion date passed on the in-process clock, with no request at all: the sweeper
    // destroys it (polled for, up to 10 s of real time).
    lab.action("azure-demo", "schedule-deletion").await;
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    let swept = async {
        while std::fs::read_to_string(&state)
            .unwrap()
            .contains(azure[0].as_str())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), swept)
        .await
        .expect("the passed deletion date reaches the state file");
    assert_no_material(&state, &azure);
    let (_, before) = lab.control("GET", "/_mock/v1/clock", None).await;
    lab.shutdown().await;

    // A fresh clock that starts earlier resumes from the saved one: nothing is pending again.
    let fresh = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(options(&fresh, &state), fresh.clone()).await;
    for name in ["aws-demo", "gcp-demo", "azure-demo"] {
        assert_eq!(key_state(&lab, name).await, "destroyed", "{name}");
    }
    let (_, after) = lab.control("GET", "/_mock/v1/clock", None).await;
    let time = |clock: &Value| {
        time::OffsetDateTime::parse(
            clock["now"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(time(&after) >= time(&before), "{before} {after}");
    for encodings in [&aws, &gcp, &azure] {
        assert_no_material(&state, encodings);
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn a_change_that_cannot_be_saved_is_not_made_and_a_retry_makes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("lab");
    std::fs::create_dir(&state_dir).unwrap();
    let state = state_dir.join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    let before = lab.control("GET", "/_mock/v1/keys", None).await.1;
    let (_, clock_before) = lab.control("GET", "/_mock/v1/clock", None).await;

    std::fs::remove_dir_all(&state_dir).unwrap();
    let changes: Vec<(&str, &str, Option<Value>)> = vec![
        ("POST", "/_mock/v1/keys/aws-demo/rotate", None),
        ("POST", "/_mock/v1/keys/azure-demo/rotate", None),
        ("POST", "/_mock/v1/keys/gcp-demo/disable", None),
        ("POST", "/_mock/v1/keys/gcp-demo/destroy", None),
        ("POST", "/_mock/v1/keys/aws-demo/revoke-trust", None),
        (
            "POST",
            "/_mock/v1/keys",
            Some(json!({"name": "aws-2", "provider": "aws"})),
        ),
        (
            "PUT",
            "/_mock/v1/aliases/ekm-demo",
            Some(json!({"target": "aws-demo"})),
        ),
        (
            "POST",
            "/_mock/v1/clock/advance",
            Some(json!({"seconds": 60})),
        ),
    ];
    for (method, path, body) in &changes {
        let (status, answer) = lab.control(method, path, body.clone()).await;
        assert_eq!(status, 500, "{method} {path}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains("not made") && message.contains("state.json"),
            "{message}"
        );
    }
    // Through a cloud API too: the owner's DisableKey fails and the key stays enabled.
    let owner = owner_kms(&lab.url()).await;
    let disabled = owner.disable_key().key_id(common::DEMO_ARN).send().await;
    assert_eq!(common::code(disabled), "KMSInternalException");
    assert_eq!(lab.control("GET", "/_mock/v1/keys", None).await.1, before);
    assert_eq!(
        lab.control("GET", "/_mock/v1/clock", None).await.1["now"],
        clock_before["now"]
    );

    std::fs::create_dir(&state_dir).unwrap();
    let rotated = lab.action("aws-demo", "rotate").await;
    assert_eq!(rotated["versions"].as_array().unwrap().len(), 2);
    lab.shutdown().await;
    let lab = TestLab::start_with(options(&clock, &state), clock.clone()).await;
    let after = lab.control("GET", "/_mock/v1/keys/aws-demo", None).await.1;
    assert_eq!(after["versions"], rotated["versions"]);
    lab.shutdown().await;
}
