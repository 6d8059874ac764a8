//! The access vocabulary as the loader reads it: every word valid, and what it refuses.

use crate::schema::{AccessEdit, Action, AzureScope, PolicyWord};
use crate::validate::{ScenarioError, parse};

const EDITS: &str = r#"
name: every-access-word
description: each access edit, valid
providers: [aws, gcp, azure]
access:
  aws:
    key_policies:
      aws-demo: { PolicyName: default, Policy: '{"Version":"2012-10-17","Statement":[]}' }
  gcp:
    policies:
      gcp-demo: { bindings: [], etag: ACAB, version: 1 }
  azure:
    role_assignments: []
projects:
  other: { provider: gcp, subject: "100000000000000000002" }
steps:
  - at: 0s
    put-statement: { policy: role, name: extra, statement: { Effect: Deny, Action: "kms:*", Resource: "*" } }
  - { after: 0s, remove-statement: { policy: trust, sid: TrustEkmService } }
  - { after: 0s, put-binding: { key: gcp-demo, role: roles/cloudkms.cryptoKeyDecrypter, members: "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*", condition: { title: t, expression: "resource.name.endsWith('x')" } } }
  - { after: 0s, remove-binding: { resource: projects/demo-project-12345, role: roles/cloudkms.admin } }
  - { after: 0s, put-assignment: { role: Key Vault Crypto Service Encryption User, scope: resource-group } }
  - { after: 0s, remove-assignment: { role: 12338af0-0e69-4776-bea7-57ae8d297424, key: azure-demo, principal: someone } }
  - { after: 0s, delete-service-principal: }
  - { after: 0s, put-access: { aws: { trust_policy: { Version: "2012-10-17", Statement: [] } } } }
"#;

fn edits(text: &str) -> Vec<AccessEdit> {
    let scenario = parse(text, "edits.yaml").unwrap_or_else(|e| panic!("{e}"));
    scenario
        .steps
        .into_iter()
        .filter_map(|s| match s.action {
            Action::Access(edit) => Some(edit),
            _ => None,
        })
        .collect()
}

#[test]
fn every_access_word_reads_and_an_aws_cli_output_gives_its_policy() {
    let scenario = parse(EDITS, "edits.yaml").unwrap_or_else(|e| panic!("{e}"));
    let access = scenario.access.as_ref().unwrap();
    let key_policy = &access.aws.as_ref().unwrap().key_policies["aws-demo"].json;
    assert_eq!(key_policy["Statement"], serde_json::json!([]));
    let edits = edits(EDITS);
    let words: Vec<&str> = edits
        .iter()
        .map(|e| crate::schema::AccessWord::of(e).as_str())
        .collect();
    assert_eq!(
        words,
        [
            "put-statement",
            "remove-statement",
            "put-binding",
            "remove-binding",
            "put-assignment",
            "remove-assignment",
            "delete-service-principal",
            "put-access"
        ]
    );
    assert!(matches!(&edits[0], AccessEdit::PutStatement(p) if p.policy == PolicyWord::Role));
    assert!(
        matches!(&edits[4], AccessEdit::PutAssignment(a) if a.scope == Some(AzureScope::ResourceGroup))
    );
}

fn refusal(text: &str) -> String {
    match parse(text, "x.yaml") {
        Err(ScenarioError::Invalid(found)) => found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("accepted or unreadable: {other:?}"),
    }
}

fn scenario_with(step: &str) -> String {
    format!("name: x\ndescription: y\nsteps:\n  - at: 0s\n    {step}\n")
}

#[test]
fn edits_missing_what_they_edit_are_refused_naming_the_field() {
    for (step, wanted) in [
        (
            "remove-statement: { policy: role, sid: S }",
            "a role policy edit needs the policy's `name:`",
        ),
        (
            "remove-statement: { policy: trust, key: aws-demo, sid: S }",
            "steps[0].remove-statement.key: `key` names a key policy",
        ),
        (
            "put-binding: { role: roles/cloudkms.admin, key: aws-demo, members: [allUsers] }",
            "`aws-demo` is a aws key, not gcp",
        ),
        (
            "put-binding: { role: roles/cloudkms.admin }",
            "a binding needs `members:`",
        ),
        (
            "put-assignment: { role: Key Vault Reader, scope: tenant }",
            "unknown scope `tenant`",
        ),
        (
            "put-statement: { policy: key, statement: [1] }",
            "$: a statement is a map",
        ),
        (
            "put-binding: { resource: folders/1, role: r, members: [allUsers] }",
            "`folders/1` is not a project or key ring",
        ),
    ] {
        let found = refusal(&scenario_with(step));
        assert!(found.contains(wanted), "{step}: {found}");
    }
}

#[test]
fn a_statement_from_a_file_is_read_relative_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let statement =
        r#"{"Sid": "D", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#;
    std::fs::write(dir.path().join("deny.json"), statement).unwrap();
    let file = dir.path().join("s.yaml");
    let text = scenario_with("put-statement: { policy: key, statement: { file: deny.json } }");
    std::fs::write(&file, &text).unwrap();
    let scenario = crate::validate::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let Action::Access(AccessEdit::PutStatement(put)) = &scenario.steps[0].action else {
        panic!("not a put-statement");
    };
    assert_eq!(put.statement.json["Sid"], "D");
    std::fs::write(dir.path().join("deny.json"), "{\"Sid\": ").unwrap();
    let error = crate::validate::load(&file).unwrap_err().to_string();
    assert!(error.contains("deny.json: $: not valid JSON"), "{error}");
}
