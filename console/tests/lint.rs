//! `ekm lint`, run as the real binary on document files as the clouds' CLIs print them.

use std::process::Output;

fn lint(files: &[(&str, &str)], extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["lint".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        args.push(path.display().to_string());
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_ekm"))
        .args(args)
        .output()
        .unwrap()
}

const GOOD_TRUST: &str = r#"{"Role":{"RoleName":"ekm","AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:role/ekm-service"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"proj_demo"}}}]}}}"#;
const DEPUTY_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:role/ekm-service"},"Action":"sts:AssumeRole"}]}"#;
const LIMITED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/k"}]}"#;
const WRONG_AZURE_ROLE: &str = r#"[{"principalId":"oid","roleDefinitionId":"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6","scope":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v"}]"#;

#[test]
fn clean_documents_exit_zero() {
    let out = lint(&[("trust.json", GOOD_TRUST), ("policy.json", LIMITED)], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 finding(s) in 2 file(s)"), "{stdout}");
}

#[test]
fn findings_are_one_line_each_and_exit_one() {
    let out = lint(
        &[
            ("trust.json", DEPUTY_TRUST),
            ("azure.json", WRONG_AZURE_ROLE),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("danger: ")
            && lines[0].contains("trust.json: trust policy Statement[0]")
            && lines[0].contains("confused deputy"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("azure.json") && lines[1].contains("cannot work"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("2 finding(s) in 2 file(s): 2 danger"),
        "{stdout}"
    );
}

#[test]
fn json_output_is_an_array_of_findings() {
    let out = lint(&[("trust.json", DEPUTY_TRUST)], &["--json"]);
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings[0]["severity"], "danger");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("sts:ExternalId")
    );
}

#[test]
fn bad_files_exit_two_with_the_path_of_the_problem() {
    let out = lint(
        &[
            (
                "bad.json",
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}]}"#,
            ),
            ("ok.json", LIMITED),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.json: $.Statement[0].Condition.StringEqualz: unknown condition operator `StringEqualz`"), "{stderr}");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_ekm"))
        .args(["lint", "/nonexistent/x.json"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read it"));
}
