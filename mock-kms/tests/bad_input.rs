//! A corpus of broken requests thrown at every AWS and control route over raw HTTP (signed where
//! needed): each must answer a 4xx in the right format — `{"__type"}` JSON for KMS, an
//! `ErrorResponse` XML for STS, `{"error"}` JSON for the control API — never a 500, and the
//! server must stay up.

mod common;

use axum::http::{HeaderMap, HeaderValue};
use common::TestLab;
use ekm_mock_kms::aws::sigv4::{self, Credentials, SignedRequestMut};
use serde_json::{Value, json};

const OWNER: Credentials<'static> = Credentials {
    access_key_id: "AKIAEKMLABCUSTOMER01",
    secret_access_key: "ekm-lab-customer-secret",
    session_token: None,
};
const SERVICE: Credentials<'static> = Credentials {
    access_key_id: "AKIAEKMLABSERVICE001",
    secret_access_key: "ekm-lab-service-secret",
    session_token: None,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Kms,
    Sts,
}

/// One broken AWS request.
struct AwsCase {
    what: String,
    target: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    signer: Option<(Credentials<'static>, &'static str)>,
    dialect: Dialect,
}

fn kms(what: &str, op: &str, body: impl Into<Vec<u8>>) -> AwsCase {
    AwsCase {
        what: what.to_owned(),
        target: Some(format!("TrentService.{op}")),
        content_type: Some("application/x-amz-json-1.1"),
        body: body.into(),
        signer: Some((OWNER, "kms")),
        dialect: Dialect::Kms,
    }
}

fn sts(what: &str, body: impl Into<Vec<u8>>) -> AwsCase {
    AwsCase {
        what: what.to_owned(),
        target: None,
        content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
        body: body.into(),
        signer: Some((SERVICE, "sts")),
        dialect: Dialect::Sts,
    }
}

const OPERATIONS: [&str; 13] = [
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "DescribeKey",
    "ListAliases",
    "CreateKey",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "CreateAlias",
    "UpdateAlias",
];

fn aws_corpus() -> Vec<AwsCase> {
    let mut cases = Vec::new();
    for op in OPERATIONS {
        cases.push(kms("malformed JSON", op, "{\"KeyId\": "));
        cases.push(kms("JSON array", op, "[1, 2]"));
        cases.push(kms("wrongly typed fields", op, r#"{"KeyId": 7, "Plaintext": [], "CiphertextBlob": {}, "AliasName": 1, "TargetKeyId": false, "PendingWindowInDays": "x", "NumberOfBytes": -1, "KeySpec": 5, "Description": []}"#));
        cases.push(kms("not UTF-8", op, vec![0xff, 0xfe, 0x00, 0x7b]));
        for key in [
            "alias/nope",
            "arn:aws:kms:us-east-1:111122223333:key/nope",
            "00000000-0000-0000-0000-000000000000",
            "arn:aws:kms:us-east-1:111122223333:alias/nope",
            "",
        ] {
            let body = json!({
                "KeyId": key, "Plaintext": "eA==", "CiphertextBlob": "eA==",
                "AliasName": "alias/x", "TargetKeyId": key, "KeySpec": "AES_256",
            });
            if op != "CreateKey" && op != "ListAliases" {
                cases.push(kms(&format!("unknown key {key:?}"), op, body.to_string()));
            }
        }
    }
    for (what, body) in [
        ("missing Plaintext", json!({"KeyId": "alias/ekm-demo"})),
        (
            "bad base64",
            json!({"KeyId": "alias/ekm-demo", "Plaintext": "***"}),
        ),
        (
            "empty plaintext",
            json!({"KeyId": "alias/ekm-demo", "Plaintext": ""}),
        ),
        (
            "plaintext over 4096 bytes",
            json!({"KeyId": "alias/ekm-demo", "Plaintext": "A".repeat(5464)}),
        ),
        (
            "bad algorithm",
            json!({"KeyId": "alias/ekm-demo", "Plaintext": "eA==", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        ),
        (
            "context not a map",
            json!({"KeyId": "alias/ekm-demo", "Plaintext": "eA==", "EncryptionContext": ["a"]}),
        ),
    ] {
        cases.push(kms(what, "Encrypt", body.to_string()));
    }
    for (what, blob) in [
        ("bad base64", "%%%"),
        ("garbage", "Z2FyYmFnZQ=="),
        ("empty", ""),
        ("truncated header", "RUtNawEJYXdzLWRlbW8="),
    ] {
        cases.push(kms(
            what,
            "Decrypt",
            json!({"CiphertextBlob": blob}).to_string(),
        ));
    }
    cases.push(kms(
        "too many bytes",
        "GenerateDataKey",
        json!({"KeyId": "alias/ekm-demo", "NumberOfBytes": 5000}).to_string(),
    ));
    cases.push(kms(
        "spec and bytes",
        "GenerateDataKey",
        json!({"KeyId": "alias/ekm-demo", "NumberOfBytes": 5, "KeySpec": "AES_256"}).to_string(),
    ));
    cases.push(kms(
        "window too short",
        "ScheduleKeyDeletion",
        json!({"KeyId": "alias/ekm-demo", "PendingWindowInDays": 1}).to_string(),
    ));
    cases.push(kms(
        "alias without prefix",
        "CreateAlias",
        json!({"AliasName": "x", "TargetKeyId": "alias/ekm-demo"}).to_string(),
    ));
    cases.push(kms(
        "alias as target",
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": "alias/ekm-demo"}).to_string(),
    ));
    cases.push(kms(
        "RSA key spec",
        "CreateKey",
        json!({"KeySpec": "RSA_2048"}).to_string(),
    ));
    cases.push(kms("unknown target", "Explode", "{}"));
    let mut no_prefix = kms("target without service", "Encrypt", "{}");
    no_prefix.target = Some("Encrypt".into());
    cases.push(no_prefix);
    let mut wrong_type = kms(
        "wrong content type",
        "Encrypt",
        r#"{"KeyId":"alias/ekm-demo","Plaintext":"eA=="}"#,
    );
    wrong_type.content_type = Some("text/plain");
    cases.push(wrong_type);
    let mut unsigned = kms("unsigned", "Encrypt", "{}");
    unsigned.signer = None;
    cases.push(unsigned);
    let mut wrong_service = kms("signed for sts", "Encrypt", "{}");
    wrong_service.signer = Some((OWNER, "sts"));
    cases.push(wrong_service);
    let mut oversized = kms("body over 64 KiB", "Encrypt", vec![b' '; 70 * 1024]);
    oversized.signer = None;
    cases.push(oversized);

    cases.push(sts("no Action", "Version=2011-06-15"));
    cases.push(sts(
        "unknown Action",
        "Action=GetCallerIdentity&Version=2011-06-15",
    ));
    cases.push(sts("no RoleArn", "Action=AssumeRole&RoleSessionName=abc"));
    cases.push(sts("bad session name", "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/ekm-demo&RoleSessionName=a%20b&ExternalId=proj_demo"));
    cases.push(sts("bad duration", "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/ekm-demo&RoleSessionName=abc&ExternalId=proj_demo&DurationSeconds=soon"));
    cases.push(sts("short duration", "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/ekm-demo&RoleSessionName=abc&ExternalId=proj_demo&DurationSeconds=10"));
    cases.push(sts(
        "broken percent-encoding",
        "Action=AssumeRole&RoleArn=%zz%&RoleSessionName=%",
    ));
    cases.push(sts("binary garbage", vec![0u8, 159, 146, 150, b'&', b'=']));
    let mut owner_assumes = sts(
        "owner cannot assume the role",
        "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/ekm-demo&RoleSessionName=abc&ExternalId=proj_demo",
    );
    owner_assumes.signer = Some((OWNER, "sts"));
    cases.push(owner_assumes);
    let mut xml = sts("XML body", "<AssumeRole><RoleArn>x</RoleArn></AssumeRole>");
    xml.content_type = Some("text/xml");
    cases.push(xml);
    let mut no_type = sts("no content type", "Action=AssumeRole");
    no_type.content_type = None;
    cases.push(no_type);
    let mut unsigned = sts("unsigned", "Action=AssumeRole");
    unsigned.signer = None;
    cases.push(unsigned);
    let mut unknown_key = sts("unknown access key", "Action=AssumeRole");
    unknown_key.signer = Some((
        Credentials {
            access_key_id: "AKIANOBODY",
            secret_access_key: "x",
            session_token: None,
        },
        "sts",
    ));
    cases.push(unknown_key);
    let mut bad_secret = sts("bad secret", "Action=AssumeRole");
    bad_secret.signer = Some((
        Credentials {
            access_key_id: "AKIAEKMLABSERVICE001",
            secret_access_key: "wrong",
            session_token: None,
        },
        "sts",
    ));
    cases.push(bad_secret);
    let mut asia = sts("session key without token", "Action=AssumeRole");
    asia.signer = Some((
        Credentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA",
            secret_access_key: "x",
            session_token: None,
        },
        "sts",
    ));
    cases.push(asia);
    let mut oversized = sts("body over 64 KiB", vec![b'a'; 70 * 1024]);
    oversized.signer = None;
    cases.push(oversized);
    cases
}

async fn send_aws(http: &reqwest::Client, lab: &TestLab, case: &AwsCase) -> (u16, String) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "host",
        HeaderValue::from_str(&lab.mock.http_addr().to_string()).unwrap(),
    );
    if let Some(content_type) = case.content_type {
        headers.insert("content-type", HeaderValue::from_static(content_type));
    }
    if let Some(target) = &case.target {
        headers.insert("x-amz-target", HeaderValue::from_str(target).unwrap());
    }
    if let Some((credentials, service)) = case.signer {
        sigv4::sign(
            &credentials,
            "us-east-1",
            service,
            &mut SignedRequestMut {
                method: "POST",
                path: "/",
                query: None,
                headers: &mut headers,
                body: &case.body,
            },
            ekm_clock::wall_time(),
        );
    }
    let response = http
        .post(format!("{}/", lab.url()))
        .headers(headers)
        .body(case.body.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.what));
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn broken_aws_requests_get_typed_4xx_answers() {
    let lab = TestLab::start().await;
    let http = reqwest::Client::new();
    let corpus = aws_corpus();
    assert!(corpus.len() > 100);
    for case in &corpus {
        let (status, body) = send_aws(&http, &lab, case).await;
        let label = format!(
            "{:?} {:?} {}: {status} {body}",
            case.dialect, case.target, case.what
        );
        assert!((400..500).contains(&status), "{label}");
        match case.dialect {
            Dialect::Kms => {
                let json: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{label}"));
                assert!(
                    json["__type"].is_string() && json["message"].is_string(),
                    "{label}"
                );
            }
            Dialect::Sts => {
                assert!(
                    body.starts_with("<ErrorResponse") && body.contains("<Code>"),
                    "{label}"
                );
            }
        }
    }
    // Still up, and every answer was logged without a server error.
    let (status, _) = lab.control("GET", "/_mock/v1/keys", None).await;
    assert_eq!(status, 200);
    let calls = lab.calls(0).await;
    assert_eq!(calls.len(), corpus.len());
    assert!(
        calls
            .iter()
            .all(|c| c["outcome"] != "ok" && !c["outcome"].as_str().unwrap().contains("Internal"))
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn broken_control_requests_get_json_4xx_answers() {
    let lab = TestLab::start().await;
    let http = reqwest::Client::new();
    let big = vec![b'['; 70 * 1024];
    let json_bodies: [&[u8]; 6] = [
        b"{",
        b"",
        b"null",
        b"[{\"provider\": \"mars\"}]",
        b"\xff\xfe",
        b"{\"seconds\": 1e999}",
    ];
    let mut cases: Vec<(&str, String, Option<&str>, Vec<u8>)> = Vec::new();
    for (method, path) in [
        ("POST", "/_mock/v1/keys"),
        ("PUT", "/_mock/v1/aliases/ekm-demo"),
        ("PUT", "/_mock/v1/faults"),
        ("POST", "/_mock/v1/clock/advance"),
    ] {
        for body in json_bodies {
            cases.push((
                method,
                path.to_owned(),
                Some("application/json"),
                body.to_vec(),
            ));
        }
        cases.push((
            method,
            path.to_owned(),
            Some("application/json"),
            big.clone(),
        ));
        cases.push((
            method,
            path.to_owned(),
            Some("application/x-www-form-urlencoded"),
            b"a=b".to_vec(),
        ));
    }
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
        "nope",
    ] {
        cases.push((
            "POST",
            format!("/_mock/v1/keys/no-such-key/{action}"),
            None,
            Vec::new(),
        ));
    }
    cases.push(("GET", "/_mock/v1/keys/no-such-key".into(), None, Vec::new()));
    cases.push(("GET", "/_mock/v1/keys/%FF%FE".into(), None, Vec::new()));
    cases.push((
        "PUT",
        "/_mock/v1/aliases/bad%20alias".into(),
        Some("application/json"),
        br#"{"target":"aws-demo"}"#.to_vec(),
    ));
    cases.push((
        "PUT",
        "/_mock/v1/faults".into(),
        Some("application/json"),
        br#"[{"provider":"aws","key":"no-such-key","outage":true}]"#.to_vec(),
    ));
    cases.push(("GET", "/_mock/v1/calls?since=-1".into(), None, Vec::new()));
    cases.push((
        "GET",
        "/_mock/v1/calls?since=1&x=2".into(),
        None,
        Vec::new(),
    ));
    cases.push(("PATCH", "/_mock/v1/clock".into(), None, Vec::new()));
    for (method, path, content_type, body) in cases {
        let mut request = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", lab.url()),
            )
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let label = format!(
            "{method} {path} {:?}: {status} {text}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert!((400..500).contains(&status), "{label}");
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{label}"));
        assert!(json["error"].is_string(), "{label}");
    }
    assert_eq!(lab.control("GET", "/_mock/v1/keys", None).await.0, 200);
    lab.shutdown().await;
}
