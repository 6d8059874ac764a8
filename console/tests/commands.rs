//! `ekm encrypt`, `ekm decrypt` and `ekm check`, run as the real binary against the mock KMS of
//! a lab started by the test (port 0) with a registration file pointing at it.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use ekm_engine::clock::SystemClock;
use ekm_lab::{EmbeddedLab, LabOptions};
use ekm_vocab::KeyAction;

/// Which registration file a test writes for its lab.
enum Registration {
    /// The example registration (`ekm.example.yaml`) moved to the lab's ports, with the CA file
    /// by absolute path.
    Example,
    /// The one the mock writes (`mock-kms --write-config`), with the CA file by relative path.
    Written,
}

/// Starts a lab (the mock KMS with the demo tenant on port 0, on wall time), writes its CA
/// certificate to `dir/ekm-lab-ca.pem` and `registration` to `dir/ekm.yaml`: the lab and the
/// registration file's path.
async fn lab_with_registration(dir: &Path, registration: Registration) -> (EmbeddedLab, String) {
    let lab = EmbeddedLab::start(LabOptions::new(Arc::new(SystemClock::new())))
        .await
        .expect("the lab starts");
    let ca = dir.join("ekm-lab-ca.pem");
    std::fs::write(&ca, lab.ca_cert_pem()).expect("CA certificate written");
    let yaml = match registration {
        Registration::Example => include_str!("../../ekm.example.yaml")
            .replace("127.0.0.1:4599", &lab.http_addr().to_string())
            .replace("127.0.0.1:4600", &lab.https_addr().to_string())
            .replace(
                "ca_file: ekm-lab-ca.pem",
                &format!("ca_file: {}", ca.display()),
            ),
        Registration::Written => lab.registration_yaml(Path::new("ekm-lab-ca.pem")),
    };
    let config = dir.join("ekm.yaml");
    std::fs::write(&config, yaml).expect("registration written");
    (lab, config.to_str().expect("a UTF-8 path").to_owned())
}

/// Runs `ekm` (off the runtime: the mock serving it runs on this test's runtime).
async fn ekm(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ekm"))
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("ekm runs")
    })
    .await
    .expect("the ekm process is awaited")
}

/// `ekm decrypt` of `sealed` into `opened` with the context `doc=<doc>`.
async fn decrypt(config: &str, sealed: &str, opened: &str, doc: &str) -> Output {
    let context = format!("doc={doc}");
    ekm(&[
        "decrypt",
        "--config",
        config,
        "--in",
        sealed,
        "--out",
        opened,
        "--context",
        &context,
    ])
    .await
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_decrypt_and_check_through_a_registration_file() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, config) = lab_with_registration(dir.path(), Registration::Example).await;
    let config = config.as_str();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("plain.txt"), b"quarterly numbers").unwrap();

    for provider in ["aws", "gcp", "azure"] {
        let sealed = path(&format!("plain.{provider}.ekm"));
        let out = ekm(&[
            "encrypt",
            "--config",
            config,
            "--provider",
            provider,
            "--in",
            &path("plain.txt"),
            "--out",
            &sealed,
            "--context",
            "doc=q3",
        ])
        .await;
        assert!(out.status.success(), "encrypt {provider}: {}", text(&out));
        let envelope = std::fs::read(&sealed).unwrap();
        assert!(
            !envelope.windows(9).any(|w| w == b"quarterly"),
            "plaintext in the envelope"
        );

        let opened = path(&format!("opened.{provider}.txt"));
        let out = decrypt(config, &sealed, &opened, "q3").await;
        assert!(out.status.success(), "decrypt {provider}: {}", text(&out));
        assert_eq!(std::fs::read(&opened).unwrap(), b"quarterly numbers");

        let out = decrypt(config, &sealed, &opened, "q4").await;
        assert!(!out.status.success());
        assert!(
            text(&out).contains("encryption context does not match"),
            "{}",
            text(&out)
        );
    }

    let mut tampered = std::fs::read(path("plain.aws.ekm")).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(path("tampered.ekm"), tampered).unwrap();
    let out = decrypt(config, &path("tampered.ekm"), &path("x"), "q3").await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("failed authentication"),
        "{}",
        text(&out)
    );
    assert!(
        !dir.path().join("x").exists(),
        "no output is written for a refused envelope"
    );

    let out = ekm(&["check", "--config", config]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches('✓').count(), 9, "{}", text(&out));

    lab.apply("gcp-demo", KeyAction::RevokeAccess).unwrap();
    lab.apply("azure-demo", KeyAction::RevokeTrust).unwrap();
    let out = ekm(&["check", "--config", config]).await;
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    let section = |cloud: &str| {
        let start = report
            .find(&format!("{cloud}\n"))
            .expect("a section per cloud");
        report[start..]
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(section("aws").matches('✓').count(), 3, "{report}");
    let gcp = section("gcp");
    assert!(
        gcp.contains("✓ 1.") && gcp.contains("✗ 2.") && gcp.contains("cryptoKeyEncrypterDecrypter"),
        "{gcp}"
    );
    let azure = section("azure");
    assert!(azure.contains("✗ 1.") && azure.contains("· 2."), "{azure}");

    // --explain reads the mock's documents through its control API (found behind the
    // registration's loopback endpoints) and names what decided each condition.
    let out = ekm(&["check", "--config", config, "--explain"]).await;
    let explained = text(&out);
    assert!(
        explained.contains("the customer's documents for key gcp-demo")
            && explained.contains("2+3. Encrypt: denied (nothing grants it)")
            && explained.contains("looked at IAM policy on"),
        "{explained}"
    );
    assert!(
        explained.contains("1. sign-in: denied") && explained.contains("servicePrincipal"),
        "the Azure trust removal is named: {explained}"
    );

    let out = ekm(&[
        "encrypt",
        "--config",
        config,
        "--in",
        &path("plain.txt"),
        "--out",
        &path("y"),
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("choose one with --provider"),
        "{}",
        text(&out)
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_broken_registration_file_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ekm.yaml");
    std::fs::write(
        &config,
        "project_id: p\naws:\n  role_arn: nope\n  key_arn: nope\n",
    )
    .unwrap();
    let out = ekm(&["check", "--config", config.to_str().unwrap()]).await;
    assert!(!out.status.success());
    let report = text(&out);
    assert!(
        report.contains("aws.role_arn") && report.contains("example:"),
        "{report}"
    );
}

/// `mock-kms --write-config` writes a registration `ekm check` accepts as is; a relative
/// `ca_file` in it is found beside the file, whatever the working directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registration_the_mock_writes_works_as_is_with_a_relative_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, config) = lab_with_registration(dir.path(), Registration::Written).await;
    let out = ekm(&["check", "--config", &config]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches('✓').count(), 9, "{}", text(&out));
    assert_revocation_lines(
        &text(&out),
        [
            "removing the key or role policy takes effect within 1h (revalidate_after); removing the role's trust within 2h (1h + the 1h role session, which lives on) — revoking the role's active sessions (AWSRevokeOlderSessions; the lab's revoke-sessions) cuts it to 1h",
            "removing the IAM binding takes effect within 1h (revalidate_after); removing the provider within 2h (1h + the 1h federated token, which lives on) — disabling the workload-identity pool also refuses the tokens it issued (the lab's revoke-sessions), which cuts it to 1h",
            "removing the role assignment takes effect within 1h (revalidate_after); removing the service principal within 1h59m59s (1h + the 59m59s Entra token, which lives on) — Entra tokens cannot be revoked, so this bound stays",
        ],
    );
    lab.shutdown().await;
}

/// Asserts each cloud's section of an `ekm check` report ends with its revocation line, and
/// that the lines hold `expected` (AWS, GCP, Azure).
fn assert_revocation_lines(report: &str, expected: [&str; 3]) {
    for (cloud, expected) in ["aws", "gcp", "azure"].into_iter().zip(expected) {
        let start = report
            .find(&format!("{cloud}\n"))
            .expect("a section per cloud");
        let line = report[start..]
            .lines()
            .skip(1)
            .find(|l| !l.starts_with("  ✓") && !l.starts_with("  ✗") && !l.starts_with("      "))
            .unwrap_or_default();
        assert_eq!(line, format!("  revocation: {expected}"), "{report}");
    }
}

/// `ekm check` states each cloud's two revocation bounds from its registration, not from
/// defaults: `revalidate_after: 15m` and sessions of 2h, 30m and 1h30m (what a mock with
/// `tenant.sessions: {aws: 7200, gcp: 1800, azure: 5400}` writes) give 15m for a policy and
/// 2h15m, 45m and 1h45m for a trust removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_states_the_revocation_bounds_of_its_registration() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, config) = lab_with_registration(dir.path(), Registration::Written).await;
    let written = std::fs::read_to_string(&config).unwrap();
    let mut yaml = format!("engine: {{ revalidate_after: 15m }}\n{written}");
    for (cloud, default, ours) in [
        ("aws", 3600, 7200),
        ("gcp", 3600, 1800),
        ("azure", 3599, 5400),
    ] {
        let section = yaml
            .find(&format!("\n{cloud}:\n"))
            .expect("a section per cloud");
        let line = format!("session_lifetime: {default}s");
        let at = section
            + yaml[section..]
                .find(&line)
                .expect("the mock writes its sessions");
        yaml.replace_range(at..at + line.len(), &format!("session_lifetime: {ours}s"));
    }
    std::fs::write(&config, yaml).unwrap();
    let out = ekm(&["check", "--config", &config]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_revocation_lines(
        &text(&out),
        [
            "removing the key or role policy takes effect within 15m (revalidate_after); removing the role's trust within 2h15m (15m + the 2h role session, which lives on) — revoking the role's active sessions (AWSRevokeOlderSessions; the lab's revoke-sessions) cuts it to 15m",
            "removing the IAM binding takes effect within 15m (revalidate_after); removing the provider within 45m (15m + the 30m federated token, which lives on) — disabling the workload-identity pool also refuses the tokens it issued (the lab's revoke-sessions), which cuts it to 15m",
            "removing the role assignment takes effect within 15m (revalidate_after); removing the service principal within 1h45m (15m + the 1h30m Entra token, which lives on) — Entra tokens cannot be revoked, so this bound stays",
        ],
    );
    lab.shutdown().await;
}

/// `ekm encrypt` without a registration refuses; `--ephemeral` seals and says the file can
/// never be opened again.
#[tokio::test]
async fn encrypt_without_a_registration_refuses_unless_ephemeral() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, b"x").unwrap();
    let (plain, sealed) = (
        plain.to_str().unwrap().to_owned(),
        dir.path().join("x.ekm").to_str().unwrap().to_owned(),
    );
    let out = ekm(&["encrypt", "--in", &plain, "--out", &sealed]).await;
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("no registration: pass --config"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(!Path::new(&sealed).exists());
    let out = ekm(&[
        "encrypt",
        "--ephemeral",
        "--provider",
        "aws",
        "--in",
        &plain,
        "--out",
        &sealed,
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("can never be opened again"),
        "{}",
        text(&out)
    );
    assert!(Path::new(&sealed).exists());
}

/// Errors are one line each and never say the same thing twice: a missing registration file
/// (`cannot read …: No such file or directory (os error 2)` once), an input that is not an
/// envelope (`bad magic` once), a missing input file; no SDK debug dump anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_and_never_repeat_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, config) = lab_with_registration(dir.path(), Registration::Example).await;
    let config = config.as_str();
    let garbage = dir.path().join("garbage.ekm");
    std::fs::write(&garbage, b"this is not an envelope at all").unwrap();
    let (garbage, opened, missing) = (
        garbage.to_str().unwrap(),
        dir.path().join("opened").to_str().unwrap().to_owned(),
        dir.path().join("missing").to_str().unwrap().to_owned(),
    );

    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec![
                "decrypt", "--config", &missing, "--in", garbage, "--out", &opened,
            ],
            "No such file or directory",
        ),
        (
            vec![
                "decrypt",
                "--config",
                config,
                "--provider",
                "aws",
                "--in",
                garbage,
                "--out",
                &opened,
                "--context",
                "doc=x",
            ],
            "bad magic",
        ),
        (
            vec![
                "encrypt",
                "--config",
                config,
                "--provider",
                "aws",
                "--in",
                &missing,
                "--out",
                &opened,
                "--context",
                "doc=x",
            ],
            "No such file or directory",
        ),
    ];
    for (args, fact) in cases {
        let out = ekm(&args).await;
        assert!(!out.status.success(), "{args:?}");
        let said = text(&out);
        assert_eq!(said.trim_end().lines().count(), 1, "{args:?}: {said}");
        assert_eq!(said.matches(fact).count(), 1, "{args:?}: {said}");
        for dump in ["ServiceError", "SdkBody", "Error {", "Os {"] {
            assert!(!said.contains(dump), "{args:?}: {said}");
        }
    }
    // `-v`: the whole chain, a cause a line, each fact still once.
    let out = ekm(&[
        "decrypt", "-v", "--config", &missing, "--in", garbage, "--out", &opened,
    ])
    .await;
    let said = text(&out);
    assert!(!out.status.success());
    assert!(said.lines().count() >= 2, "{said}");
    assert!(
        said.lines().skip(1).all(|l| l.starts_with("  caused by: ")),
        "{said}"
    );
    assert_eq!(
        said.matches("No such file or directory").count(),
        1,
        "{said}"
    );
    lab.shutdown().await;
}
