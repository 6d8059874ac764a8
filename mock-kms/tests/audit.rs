//! The customer's audit logs (`GET /_mock/v1/audit/{cloud}`) against the published shapes of
//! DESIGN.md §9: allowed and denied calls on each cloud — the AWS SDK's AssumeRole (right and
//! wrong ExternalId) and KMS calls, a GCP token exchange and Cloud KMS calls, Azure Key Vault
//! calls on the wire — rendered as CloudTrail events, Cloud Audit Logs entries and Key Vault
//! `AuditEvent`s with every field a customer filters on, of the right type; and no plaintext,
//! ciphertext, key or credential secret in any record.

mod common;

use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use common::{ROLE, TestLab, code, owner_kms, service_kms, service_kms_with};
use ekm_mock_kms::tenant::Tenant;
use serde_json::{Value, json};

/// The data key every cloud wraps: it must appear in no record, in any encoding.
const DEK: &[u8] = b"audit-test-DEK-0123456789abcdef!";

/// The user agent of the raw wire clients (GCP, Azure).
const AGENT: &str = "ekm-audit-test/1.0";

/// The JSON types a shape names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Flag,
    Object,
    List,
    /// A value that is `null` when the cloud has nothing to say (e.g. CloudTrail's KMS
    /// `responseElements`).
    Any,
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::String(_) => Kind::Text,
        Value::Number(_) => Kind::Number,
        Value::Bool(_) => Kind::Flag,
        Value::Object(_) => Kind::Object,
        Value::Array(_) => Kind::List,
        Value::Null => Kind::Any,
    }
}

/// Asserts `record` has every `(JSON pointer, kind)` of `shape`.
fn assert_shape(record: &Value, shape: &[(&str, Kind)]) {
    for (pointer, kind) in shape {
        let value = record
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} missing in {record:#}"));
        if *kind != Kind::Any {
            assert_eq!(kind_of(value), *kind, "{pointer} in {record:#}");
        }
    }
}

/// CloudTrail record contents every event has (CloudTrail UG; DESIGN.md §9.1).
const CLOUDTRAIL: &[(&str, Kind)] = &[
    ("/eventVersion", Kind::Text),
    ("/userIdentity/type", Kind::Text),
    ("/userIdentity/accountId", Kind::Text),
    ("/userIdentity/accessKeyId", Kind::Text),
    ("/eventTime", Kind::Text),
    ("/eventSource", Kind::Text),
    ("/eventName", Kind::Text),
    ("/awsRegion", Kind::Text),
    ("/sourceIPAddress", Kind::Text),
    ("/userAgent", Kind::Text),
    ("/requestParameters", Kind::Any),
    ("/responseElements", Kind::Any),
    ("/requestID", Kind::Text),
    ("/eventID", Kind::Text),
    ("/readOnly", Kind::Flag),
    ("/eventType", Kind::Text),
    ("/managementEvent", Kind::Flag),
    ("/recipientAccountId", Kind::Text),
    ("/eventCategory", Kind::Text),
];

/// A KMS call by the service's role session.
const CLOUDTRAIL_KMS_BY_SESSION: &[(&str, Kind)] = &[
    ("/userIdentity/principalId", Kind::Text),
    ("/userIdentity/arn", Kind::Text),
    (
        "/userIdentity/sessionContext/sessionIssuer/type",
        Kind::Text,
    ),
    ("/userIdentity/sessionContext/sessionIssuer/arn", Kind::Text),
    (
        "/userIdentity/sessionContext/sessionIssuer/userName",
        Kind::Text,
    ),
    (
        "/userIdentity/sessionContext/attributes/creationDate",
        Kind::Text,
    ),
    (
        "/userIdentity/sessionContext/attributes/mfaAuthenticated",
        Kind::Text,
    ),
    ("/requestParameters/encryptionAlgorithm", Kind::Text),
    ("/requestParameters/encryptionContext", Kind::Object),
    ("/resources/0/ARN", Kind::Text),
    ("/resources/0/type", Kind::Text),
    ("/resources/0/accountId", Kind::Text),
];

/// A refused call adds these.
const CLOUDTRAIL_ERROR: &[(&str, Kind)] =
    &[("/errorCode", Kind::Text), ("/errorMessage", Kind::Text)];

/// A Cloud Audit Logs `LogEntry` with an `AuditLog` payload (DESIGN.md §9.2).
const LOG_ENTRY: &[(&str, Kind)] = &[
    ("/protoPayload/@type", Kind::Text),
    ("/protoPayload/status", Kind::Object),
    ("/protoPayload/authenticationInfo", Kind::Object),
    ("/protoPayload/requestMetadata/callerIp", Kind::Text),
    (
        "/protoPayload/requestMetadata/callerSuppliedUserAgent",
        Kind::Text,
    ),
    ("/protoPayload/serviceName", Kind::Text),
    ("/protoPayload/methodName", Kind::Text),
    ("/protoPayload/resourceName", Kind::Text),
    ("/insertId", Kind::Text),
    ("/resource/type", Kind::Text),
    ("/resource/labels", Kind::Object),
    ("/timestamp", Kind::Text),
    ("/severity", Kind::Text),
    ("/logName", Kind::Text),
];

/// A Cloud KMS crypto call by the federated service.
const LOG_ENTRY_KMS: &[(&str, Kind)] = &[
    (
        "/protoPayload/authenticationInfo/principalSubject",
        Kind::Text,
    ),
    ("/protoPayload/authorizationInfo/0/resource", Kind::Text),
    ("/protoPayload/authorizationInfo/0/permission", Kind::Text),
    ("/protoPayload/authorizationInfo/0/granted", Kind::Flag),
    ("/resource/labels/crypto_key_id", Kind::Text),
];

/// A refused call's status.
const LOG_ENTRY_ERROR: &[(&str, Kind)] = &[
    ("/protoPayload/status/code", Kind::Number),
    ("/protoPayload/status/message", Kind::Text),
];

/// A Key Vault `AuditEvent` (azure-docs key-vault/general/logging; DESIGN.md §9.3).
const AUDIT_EVENT: &[(&str, Kind)] = &[
    ("/time", Kind::Text),
    ("/resourceId", Kind::Text),
    ("/operationName", Kind::Text),
    ("/operationVersion", Kind::Text),
    ("/category", Kind::Text),
    ("/resultType", Kind::Text),
    ("/resultSignature", Kind::Text),
    ("/resultDescription", Kind::Text),
    ("/durationMs", Kind::Text),
    ("/callerIpAddress", Kind::Text),
    ("/correlationId", Kind::Text),
    ("/identity", Kind::Any),
    ("/properties/id", Kind::Text),
    ("/properties/clientInfo", Kind::Text),
    ("/properties/requestUri", Kind::Text),
    ("/properties/httpStatusCode", Kind::Number),
];

/// An authenticated Key Vault call.
const AUDIT_EVENT_BY_APP: &[(&str, Kind)] = &[
    ("/identity/claim/appid", Kind::Text),
    ("/identity/claim/oid", Kind::Text),
    (
        "/identity/claim/http:~1~1schemas.microsoft.com~1identity~1claims~1objectidentifier",
        Kind::Text,
    ),
    ("/properties/isRbacAuthorized", Kind::Flag),
];

/// One cloud's audit records after `since`, read the way a customer's tool would: JSON lines.
async fn audit(lab: &TestLab, cloud: &str, since: u64) -> (Vec<Value>, String, u64) {
    let response = reqwest::get(format!(
        "{}/_mock/v1/audit/{cloud}?since={since}",
        lab.url()
    ))
    .await
    .expect("audit route answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let next = response.headers()["x-mock-next"]
        .to_str()
        .expect("text")
        .parse()
        .expect("a sequence number");
    let text = response.text().await.expect("body");
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    let records = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON record"))
        .collect();
    (records, text, next)
}

/// Records whose `pointer` is `value`.
fn with<'a>(records: &'a [Value], pointer: &str, value: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r.pointer(pointer).and_then(Value::as_str) == Some(value))
        .collect()
}

/// Asserts none of `secrets` appears in `text`.
fn assert_no_secrets(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "`{secret}` leaked into {text}"
        );
    }
}

/// Every encoding of the data key a record might carry.
fn dek_forms() -> Vec<String> {
    vec![
        String::from_utf8_lossy(DEK).into_owned(),
        B64.encode(DEK),
        B64URL.encode(DEK),
        hex(DEK),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn cloudtrail_records_assume_role_and_kms_calls_allowed_and_denied() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let service = service_kms(&url).await;
    let sealed = service
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(DEK))
        .encryption_context("project", "proj_demo")
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("ciphertext")
        .into_inner();
    service
        .decrypt()
        .ciphertext_blob(Blob::new(sealed.clone()))
        .encryption_context("project", "proj_demo")
        .send()
        .await
        .expect("decrypt");
    let confused = service_kms_with(&url, ROLE, "someone-elses-project").await;
    let refused = confused
        .encrypt()
        .key_id("alias/ekm-demo")
        .plaintext(Blob::new(DEK))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a wrong ExternalId must not assume the role"
    );
    owner_kms(&url)
        .await
        .get_key_policy()
        .key_id(common::DEMO_ARN)
        .send()
        .await
        .expect("the owner reads the key policy");
    lab.action("aws-demo", "revoke-access").await;
    let denied = service
        .decrypt()
        .ciphertext_blob(Blob::new(sealed.clone()))
        .encryption_context("project", "proj_demo")
        .send()
        .await;
    assert_eq!(code(denied), "AccessDeniedException");

    let (records, text, next) = audit(&lab, "aws", 0).await;
    for record in &records {
        assert_shape(record, CLOUDTRAIL);
    }
    let assumed = with(&records, "/eventName", "AssumeRole");
    assert_eq!(assumed.len(), 2, "{records:#?}");
    let (allowed, wrong) = (assumed[0], assumed[1]);
    assert_eq!(allowed["eventSource"], "sts.amazonaws.com");
    assert_eq!(allowed["requestParameters"]["roleArn"], ROLE);
    assert_eq!(allowed["requestParameters"]["externalId"], "proj_demo");
    assert_eq!(allowed["requestParameters"]["roleSessionName"], "ekm-test");
    assert_eq!(allowed["userIdentity"]["type"], "AWSAccount");
    assert_eq!(allowed["userIdentity"]["accountId"], "999900000001");
    assert!(allowed["responseElements"]["credentials"]["accessKeyId"].is_string());
    assert_eq!(allowed["resources"][0]["ARN"], ROLE);
    assert!(allowed.get("errorCode").is_none());
    assert_shape(wrong, CLOUDTRAIL_ERROR);
    assert_eq!(wrong["errorCode"], "AccessDenied");
    assert_eq!(
        wrong["requestParameters"]["externalId"],
        "someone-elses-project"
    );
    assert!(wrong["responseElements"].is_null());

    let encrypts = with(&records, "/eventName", "Encrypt");
    assert_eq!(encrypts.len(), 1, "the refused session never reached KMS");
    let decrypts = with(&records, "/eventName", "Decrypt");
    assert_eq!(decrypts.len(), 2);
    for record in encrypts.iter().chain(&decrypts) {
        assert_shape(record, CLOUDTRAIL_KMS_BY_SESSION);
        assert_eq!(record["eventSource"], "kms.amazonaws.com");
        assert_eq!(record["userIdentity"]["type"], "AssumedRole");
        assert_eq!(
            record["userIdentity"]["arn"],
            "arn:aws:sts::111122223333:assumed-role/ekm-demo/ekm-test"
        );
        assert_eq!(
            record["requestParameters"]["encryptionContext"],
            json!({"project": "proj_demo"})
        );
        assert_eq!(
            record["requestParameters"]["encryptionAlgorithm"],
            "SYMMETRIC_DEFAULT"
        );
        assert_eq!(record["resources"][0]["ARN"], common::DEMO_ARN);
        assert_eq!(record["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(record["readOnly"], true);
        assert!(record["responseElements"].is_null());
    }
    assert_eq!(encrypts[0]["requestParameters"]["keyId"], "alias/ekm-demo");
    let denied = decrypts[1];
    assert_shape(denied, CLOUDTRAIL_ERROR);
    assert_eq!(denied["errorCode"], "AccessDeniedException");
    assert!(
        denied["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("kms:Decrypt")),
        "{denied:#}"
    );
    let policy = with(&records, "/eventName", "GetKeyPolicy");
    assert_eq!(policy.len(), 1);
    assert_eq!(policy[0]["userIdentity"]["type"], "Root");
    assert_eq!(policy[0]["readOnly"], true);

    let tenant = Tenant::default().aws;
    let mut secrets = dek_forms();
    secrets.extend([
        B64.encode(&sealed),
        tenant.service_secret_access_key,
        tenant.admin_secret_access_key,
    ]);
    assert_no_secrets(&text, &secrets);
    let (later, _, again) = audit(&lab, "aws", next).await;
    assert!(later.is_empty(), "since is exclusive: {later:#?}");
    assert_eq!(again, next);
    lab.shutdown().await;
}

/// The demo crypto key's `:verb` path.
fn gcp_key_path(verb: &str) -> String {
    let gcp = Tenant::default().gcp;
    format!("/v1/{}:{verb}", gcp.crypto_key_name(&gcp.demo_key))
}

#[tokio::test]
async fn cloud_audit_logs_record_token_exchanges_and_kms_calls_allowed_and_denied() {
    let lab = TestLab::start().await;
    let http = reqwest::Client::builder()
        .user_agent(AGENT)
        .build()
        .expect("client");
    let url = lab.url();
    let gcp = Tenant::default().gcp;
    let audience = format!("//iam.googleapis.com/{}", gcp.provider_name());
    let (_, minted) = lab
        .control(
            "POST",
            "/_mock/v1/identity/gcp-id-token",
            Some(json!({"audience": "proj_demo"})),
        )
        .await;
    let subject = minted["id_token"].as_str().expect("id_token").to_owned();
    let exchange = |audience: String| {
        let form = serde_urlencoded::to_string([
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("subject_token", subject.as_str()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("audience", audience.as_str()),
            ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ])
        .expect("form");
        http.post(format!("{url}/v1/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let granted: Value = exchange(audience.clone())
        .await
        .expect("STS answers")
        .json()
        .await
        .expect("JSON");
    let token = granted["access_token"].as_str().expect("token").to_owned();
    let refused = exchange(format!("{audience}-elsewhere"))
        .await
        .expect("STS answers");
    assert_eq!(refused.status(), 400);
    let kms = |verb: &str, body: Value| {
        http.post(format!("{url}{}", gcp_key_path(verb)))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let aad = B64.encode(b"project=proj_demo");
    let sealed: Value = kms(
        "encrypt",
        json!({"plaintext": B64.encode(DEK), "additionalAuthenticatedData": aad}),
    )
    .await
    .expect("encrypt answers")
    .json()
    .await
    .expect("JSON");
    let ciphertext = sealed["ciphertext"]
        .as_str()
        .expect("ciphertext")
        .to_owned();
    let opened = kms(
        "decrypt",
        json!({"ciphertext": ciphertext, "additionalAuthenticatedData": aad}),
    )
    .await
    .expect("decrypt answers");
    assert_eq!(opened.status(), 200);
    lab.action("gcp-demo", "revoke-access").await;
    let denied = kms(
        "decrypt",
        json!({"ciphertext": ciphertext, "additionalAuthenticatedData": aad}),
    )
    .await
    .expect("decrypt answers");
    assert_eq!(denied.status(), 403);

    let (records, text, _) = audit(&lab, "gcp", 0).await;
    for record in &records {
        assert_shape(record, LOG_ENTRY);
        assert_eq!(
            record["protoPayload"]["@type"],
            "type.googleapis.com/google.cloud.audit.AuditLog"
        );
    }
    let exchanges = with(&records, "/protoPayload/serviceName", "sts.googleapis.com");
    assert_eq!(exchanges.len(), 2, "{records:#?}");
    assert_eq!(exchanges[0]["protoPayload"]["status"], json!({}));
    assert!(
        exchanges[0]["protoPayload"]["authenticationInfo"]["principalSubject"]
            .as_str()
            .is_some_and(|s| s.starts_with("principal://iam.googleapis.com/"))
    );
    assert_shape(exchanges[1], LOG_ENTRY_ERROR);
    assert_eq!(exchanges[1]["protoPayload"]["status"]["code"], 3);
    assert_eq!(exchanges[1]["severity"], "ERROR");

    let crypto = with(
        &records,
        "/protoPayload/serviceName",
        "cloudkms.googleapis.com",
    );
    let methods: Vec<_> = crypto
        .iter()
        .map(|r| r["protoPayload"]["methodName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(methods, ["Encrypt", "Decrypt", "Decrypt"]);
    let key_name = gcp.crypto_key_name(&gcp.demo_key);
    for record in &crypto {
        assert_shape(record, LOG_ENTRY_KMS);
        assert_eq!(record["protoPayload"]["resourceName"], key_name.as_str());
        assert_eq!(record["resource"]["type"], "cloudkms_cryptokey");
        assert_eq!(
            record["logName"],
            "projects/demo-project-12345/logs/cloudaudit.googleapis.com%2Fdata_access"
        );
        assert!(
            record["protoPayload"]["request"]
                .get("additionalAuthenticatedData")
                .is_none(),
            "Cloud KMS does not log the AAD"
        );
    }
    assert_eq!(
        crypto[0]["protoPayload"]["authorizationInfo"][0]["permission"],
        "cloudkms.cryptoKeyVersions.useToEncrypt"
    );
    let denied = crypto[2];
    assert_shape(denied, LOG_ENTRY_ERROR);
    assert_eq!(denied["protoPayload"]["status"]["code"], 7);
    assert_eq!(
        denied["protoPayload"]["authorizationInfo"][0]["granted"],
        false
    );
    assert_eq!(
        crypto[1]["protoPayload"]["authorizationInfo"][0]["granted"],
        true
    );

    let mut secrets = dek_forms();
    secrets.extend([ciphertext, aad, subject.clone(), token.clone()]);
    assert_no_secrets(&text, &secrets);
    lab.shutdown().await;
}

#[tokio::test]
async fn key_vault_audit_events_record_allowed_denied_and_unauthenticated_calls() {
    let lab = TestLab::start().await;
    let azure = Tenant::default().azure;
    let ca = reqwest::Certificate::from_pem(lab.mock.ca_cert_pem().as_bytes()).expect("CA PEM");
    let http = reqwest::Client::builder()
        .user_agent(AGENT)
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let base = lab.mock.https_url();
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", azure.service_app_id.as_str()),
        ("client_secret", azure.service_client_secret.as_str()),
        ("scope", "https://vault.azure.net/.default"),
    ])
    .expect("form");
    let issued: Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", azure.tenant_id))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("JSON");
    let token = issued["access_token"].as_str().expect("token").to_owned();
    let wrap = |token: Option<&str>| {
        let mut request = http
            .post(format!(
                "{base}/keys/{}//wrapkey?api-version=7.5",
                azure.demo_key
            ))
            .json(&json!({"alg": "RSA-OAEP-256", "value": B64URL.encode(DEK)}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(wrap(None).await.expect("answers").status(), 401);
    let wrapped: Value = wrap(Some(&token))
        .await
        .expect("wrap answers")
        .json()
        .await
        .expect("JSON");
    let value = wrapped["value"].as_str().expect("wrapped key").to_owned();
    lab.action("azure-demo", "revoke-access").await;
    assert_eq!(wrap(Some(&token)).await.expect("answers").status(), 403);

    let (records, text, _) = audit(&lab, "azure", 0).await;
    assert_eq!(
        records.len(),
        3,
        "token calls are Entra's, not AuditEvents: {records:#?}"
    );
    for record in &records {
        assert_shape(record, AUDIT_EVENT);
        assert_eq!(record["operationName"], "KeyWrap");
        assert_eq!(record["category"], "AuditEvent");
        assert_eq!(record["operationVersion"], "7.5");
        assert!(
            record["resourceId"]
                .as_str()
                .is_some_and(|id| id.ends_with("/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/EKM-DEMO")),
            "{record:#}"
        );
    }
    let (challenge, allowed, denied) = (&records[0], &records[1], &records[2]);
    assert!(challenge["identity"].is_null());
    assert_eq!(challenge["resultSignature"], "Unauthorized");
    assert_eq!(challenge["properties"]["httpStatusCode"], 401);
    for record in [allowed, denied] {
        assert_shape(record, AUDIT_EVENT_BY_APP);
        assert_eq!(
            record["identity"]["claim"]["appid"],
            azure.service_app_id.as_str()
        );
        assert_eq!(
            record["identity"]["claim"]["oid"],
            azure.service_object_id.as_str()
        );
    }
    assert_eq!(allowed["resultType"], "Success");
    assert_eq!(allowed["resultSignature"], "OK");
    assert_eq!(allowed["properties"]["isRbacAuthorized"], true);
    assert_eq!(denied["resultSignature"], "Forbidden");
    assert_eq!(denied["properties"]["httpStatusCode"], 403);
    assert_eq!(denied["properties"]["isRbacAuthorized"], false);
    assert!(
        denied["resultDescription"]
            .as_str()
            .is_some_and(|d| d.contains("not authorized")),
        "{denied:#}"
    );

    let mut secrets = dek_forms();
    secrets.extend([value, token, azure.service_client_secret]);
    assert_no_secrets(&text, &secrets);
    lab.shutdown().await;
}

#[tokio::test]
async fn cloudtrail_names_the_external_key_behind_an_xks_key_and_not_the_hop() {
    let lab = TestLab::start().await;
    lab.expect_statuses(vec![
        (
            "PUT",
            "/_mock/v1/xks/timeout",
            Some(json!({"timeout_ms": 5000})),
            200,
        ),
        (
            "POST",
            "/_mock/v1/xks/keys",
            Some(json!({"id": "xk-audit"})),
            201,
        ),
    ])
    .await;
    let (status, bound) = lab
        .control(
            "POST",
            "/_mock/v1/xks/bindings",
            Some(json!({"name": "aws-xks", "provider": "aws", "external_key": "xk-audit"})),
        )
        .await;
    assert_eq!(status, 201, "{bound}");
    let arn = bound["id"].as_str().expect("the key's ARN").to_owned();
    service_kms(&lab.url())
        .await
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(DEK))
        .send()
        .await
        .expect("encrypt through the external key store");

    let (records, text, _) = audit(&lab, "aws", 0).await;
    let encrypts = with(&records, "/eventName", "Encrypt");
    assert_eq!(
        encrypts.len(),
        1,
        "the proxy's hop is not a CloudTrail event: {text}"
    );
    let external = &encrypts[0]["additionalEventData"];
    assert_eq!(external["xksKeyId"], "xk-audit");
    assert_eq!(external["customKeyStoreId"], bound["custom_key_store_id"]);
    assert_no_secrets(&text, &dek_forms());
    lab.shutdown().await;
}

#[tokio::test]
async fn audit_routes_refuse_unknown_clouds_and_parameters() {
    let lab = TestLab::start().await;
    lab.expect_statuses(vec![
        ("GET", "/_mock/v1/audit/oracle", None, 400),
        ("GET", "/_mock/v1/audit/aws?since=soon", None, 400),
        ("GET", "/_mock/v1/audit/aws?until=3", None, 400),
        ("POST", "/_mock/v1/audit/aws", None, 405),
        ("GET", "/_mock/v1/audit/gcp?since=0", None, 200),
    ])
    .await;
    lab.shutdown().await;
}
