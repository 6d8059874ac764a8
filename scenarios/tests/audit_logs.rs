//! A run's audit logs as the customer sees them: a revocation on each cloud (the service's
//! permission removed) and the reads an hour later, written by `write_audit_logs` as JSON lines
//! per cloud. Each file holds that cloud's records of the run — the service's sign-ins and
//! wraps, and the denied unwraps with the error a customer filters on — and no object's content.

use std::path::Path;

use ekm_scenarios::report::write_audit_logs;
use ekm_scenarios::runner::{LoadedScenario, run};
use ekm_scenarios::validate;
use serde_json::Value;

const CONTENT: &str = "payroll-audit-7d1f";

fn scenario() -> LoadedScenario {
    let yaml = format!(
        "name: audit trail\n\
         description: the customer's audit logs of a revoked permission\n\
         providers: [aws, gcp, azure]\n\
         keys:\n\
         \x20 - {{ name: aws-access, provider: aws }}\n\
         \x20 - {{ name: gcp-access, provider: gcp }}\n\
         \x20 - {{ name: azure-access, provider: azure }}\n\
         objects:\n\
         \x20 aws-doc: {{ provider: aws, key: aws-access, content: \"{CONTENT}\" }}\n\
         \x20 gcp-doc: {{ provider: gcp, key: gcp-access, content: \"{CONTENT}\" }}\n\
         \x20 azure-doc: {{ provider: azure, key: azure-access, content: \"{CONTENT}\" }}\n\
         steps:\n\
         \x20 - at: 0s\n\
         \x20   encrypt: [aws-doc, gcp-doc, azure-doc]\n\
         \x20 - {{ at: 1m, revoke-access: aws-access }}\n\
         \x20 - {{ after: 0s, revoke-access: gcp-access }}\n\
         \x20 - {{ after: 0s, revoke-access: azure-access }}\n\
         \x20 - at: 2h\n\
         \x20   read-all:\n\
         \x20   expect:\n\
         \x20     unreadable: {{ aws-doc: AccessDenied, gcp-doc: AccessDenied, azure-doc: AccessDenied }}\n"
    );
    LoadedScenario {
        file: None,
        scenario: validate::parse(&yaml, "audit-trail.yaml").expect("the story is valid"),
    }
}

fn read_lines(path: &Path) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(path).expect("the file is written");
    let records = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record a line"))
        .collect();
    (text, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_audit_logs_show_each_clouds_denied_unwrap() {
    let report = run(scenario()).await;
    assert!(report.passed(), "{}", report.failure_summary());
    let temp = tempfile::tempdir().expect("a temporary directory");
    let written = write_audit_logs(temp.path(), std::slice::from_ref(&report)).expect("written");
    let dir = temp.path().join("audit-trail");
    assert_eq!(written, std::slice::from_ref(&dir));

    let (text, events) = read_lines(&dir.join("aws.jsonl"));
    let named =
        |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["eventName"] == name).collect() };
    assert!(!named("AssumeRole").is_empty(), "{text}");
    let encrypts = named("GenerateDataKey").len() + named("Encrypt").len();
    assert!(encrypts >= 1, "{text}");
    let denied: Vec<_> = named("Decrypt")
        .into_iter()
        .filter(|e| e["errorCode"] == "AccessDeniedException")
        .collect();
    assert!(!denied.is_empty(), "{text}");
    assert_eq!(denied[0]["userIdentity"]["type"], "AssumedRole");
    assert!(denied[0]["requestParameters"]["encryptionContext"].is_object());
    let times: Vec<&str> = events
        .iter()
        .filter_map(|e| e["eventTime"].as_str())
        .collect();
    assert!(times.is_sorted(), "lab time, oldest first: {times:?}");
    assert!(!text.contains(CONTENT));

    let (text, entries) = read_lines(&dir.join("gcp.jsonl"));
    let refused: Vec<_> = entries
        .iter()
        .filter(|e| e["protoPayload"]["status"]["code"] == 7)
        .collect();
    assert!(!refused.is_empty(), "{text}");
    assert_eq!(refused[0]["protoPayload"]["methodName"], "Decrypt");
    assert!(!text.contains(CONTENT));

    let (text, audit_events) = read_lines(&dir.join("azure.jsonl"));
    let forbidden: Vec<_> = audit_events
        .iter()
        .filter(|e| e["resultSignature"] == "Forbidden")
        .collect();
    assert!(!forbidden.is_empty(), "{text}");
    assert_eq!(forbidden[0]["properties"]["isRbacAuthorized"], false);
    assert!(
        audit_events.iter().all(|e| e["category"] == "AuditEvent"),
        "{text}"
    );
    assert!(!text.contains(CONTENT));
}
