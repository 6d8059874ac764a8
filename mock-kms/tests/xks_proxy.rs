//! The lab's XKS proxy against the XKS Proxy API specification (v1.0.3): every route's shapes and
//! errors, SigV4 (service `kms-xks-proxy`, 5-minute skew, two live credentials for rotation), the
//! external key manager's lifecycle and fleet health, and the hop's faults — over real HTTPS on
//! 127.0.0.1 trusting the mock's CA. An independent signer (curl's `--aws-sigv4`, as the spec's
//! Appendix D uses) checks the verifier is not merely agreeing with itself.

mod common;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::TestLab;
use ekm_mock_kms::aws::sigv4::{self, Credentials, SignedRequestMut};
use ekm_mock_kms::xks::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_URI_PATH};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const OTHER_ID: &str = "ROTATEDXKSACCESSKEY234567";
const OTHER_SECRET: &str = "cm90YXRlZC1zZWNyZXQtYWNjZXNzLWtleS0wMTIzNDU2Nzg=";

struct Proxy {
    lab: TestLab,
    client: reqwest::Client,
}

/// How to sign one request.
struct Signing<'a> {
    id: &'a str,
    secret: &'a str,
    service: &'a str,
    skew: time::Duration,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Self {
            id: DEFAULT_ACCESS_KEY_ID,
            secret: DEFAULT_SECRET_ACCESS_KEY,
            service: "kms-xks-proxy",
            skew: time::Duration::ZERO,
        }
    }
}

impl Proxy {
    async fn start() -> Self {
        let lab = TestLab::start().await;
        let ca = reqwest::Certificate::from_pem(lab.mock.ca_cert_pem().as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let proxy = Self { lab, client };
        let (status, _) = proxy
            .lab
            .control("POST", "/_mock/v1/xks/keys", Some(json!({"id": "key-1"})))
            .await;
        assert_eq!(status, 201);
        proxy
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.lab.mock.https_addr().port())
    }

    /// A POST of `body` to `path` (under the host), signed as KMS signs: `host;x-amz-date`.
    async fn send(
        &self,
        path: &str,
        body: &[u8],
        signing: &Signing<'_>,
    ) -> reqwest::Result<(u16, String)> {
        self.send_with(&self.client, path, body, signing).await
    }

    /// [`Proxy::send`] with another HTTP client.
    async fn send_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: &[u8],
        signing: &Signing<'_>,
    ) -> reqwest::Result<(u16, String)> {
        let mut headers = HeaderMap::new();
        let host = self.host();
        headers.insert("host", HeaderValue::from_str(&host).unwrap());
        sigv4::sign(
            &Credentials {
                access_key_id: signing.id,
                secret_access_key: signing.secret,
                session_token: None,
            },
            "us-east-1",
            signing.service,
            &mut SignedRequestMut {
                method: "POST",
                path,
                query: None,
                headers: &mut headers,
                body,
            },
            ekm_clock::wall_time() + signing.skew,
        );
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let response = client
            .post(format!("https://{host}{path}"))
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    async fn call(&self, api: &str, body: &Value) -> (u16, Value) {
        self.call_signed(api, body, &Signing::default()).await
    }

    async fn call_signed(&self, api: &str, body: &Value, signing: &Signing<'_>) -> (u16, Value) {
        let path = format!("{DEFAULT_URI_PATH}{api}");
        let (status, text) = self
            .send(&path, body.to_string().as_bytes(), signing)
            .await
            .expect("the proxy answers");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn metadata(op: &str) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": op,
        "kmsRequestId": "not-a-uuid-and-that-is-fine",
    })
}

fn encrypt_body(plaintext: &[u8], aad: Option<&[u8]>) -> Value {
    let mut body = json!({
        "requestMetadata": metadata("Encrypt"),
        "plaintext": B64.encode(plaintext),
        "encryptionAlgorithm": "AES_GCM",
        "ciphertextDataIntegrityValueAlgorithm": "SHA_256",
    });
    if let Some(aad) = aad {
        body["additionalAuthenticatedData"] = json!(B64.encode(aad));
    }
    body
}

fn decrypt_body(sealed: &Value, aad: Option<&[u8]>) -> Value {
    let mut body = json!({
        "requestMetadata": metadata("Decrypt"),
        "ciphertext": sealed["ciphertext"],
        "ciphertextMetadata": sealed["ciphertextMetadata"],
        "initializationVector": sealed["initializationVector"],
        "authenticationTag": sealed["authenticationTag"],
        "encryptionAlgorithm": "AES_GCM",
    });
    if let Some(aad) = aad {
        body["additionalAuthenticatedData"] = json!(B64.encode(aad));
    }
    body
}

fn error_name(reply: &(u16, Value)) -> (u16, &str) {
    (
        reply.0,
        reply.1["errorName"].as_str().unwrap_or("<no errorName>"),
    )
}

#[tokio::test]
async fn health_reports_the_fleet_in_the_specs_shape() {
    let proxy = Proxy::start().await;
    let body = json!({"requestMetadata": {"kmsRequestId": "r1", "kmsOperation": "KmsHealthCheck"}});
    let (status, health) = proxy.call("/health", &body).await;
    assert_eq!(status, 200, "{health}");
    assert!(health["xksProxyFleetSize"].as_u64().unwrap() > 0);
    for field in ["xksProxyVendor", "xksProxyModel", "ekmVendor"] {
        assert!(health[field].is_string(), "{field}");
    }
    let fleet = health["ekmFleetDetails"].as_array().unwrap();
    assert!((1..=10).contains(&fleet.len()));
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE");
    let (status, _) = proxy
        .lab
        .control(
            "PUT",
            "/_mock/v1/xks/fleet",
            Some(json!({"id": "hsm-1", "status": "DEGRADED"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, health) = proxy.call("/health", &body).await;
    assert_eq!(health["ekmFleetDetails"][0]["healthStatus"], "DEGRADED");
    assert_eq!(health["ekmFleetDetails"][1]["healthStatus"], "ACTIVE");
    // A new kmsOperation is not refused (spec: MUST NOT reject an unknown kmsOperation).
    let body = json!({"requestMetadata": {"kmsRequestId": "r2", "kmsOperation": "SomeFutureApi"}});
    assert_eq!(proxy.call("/health", &body).await.0, 200);
}

#[tokio::test]
async fn metadata_encrypt_and_decrypt_follow_the_spec() {
    let proxy = Proxy::start().await;
    let body = json!({"requestMetadata": {
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsOperation": "CreateKey", "kmsRequestId": "r"}});
    let (status, meta) = proxy.call("/keys/key-1/metadata", &body).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(
        meta,
        json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"})
    );

    let aad = b"project=nile,department=marketing";
    let (status, sealed) = proxy
        .call(
            "/keys/key-1/encrypt",
            &encrypt_body(b"Hello World!", Some(aad)),
        )
        .await;
    assert_eq!(status, 200, "{sealed}");
    let field = |name: &str| B64.decode(sealed[name].as_str().unwrap()).unwrap();
    assert_eq!(
        field("ciphertext").len(),
        12,
        "AES-GCM ciphertext is as long as the plaintext"
    );
    assert_eq!(field("initializationVector").len(), 12);
    assert_eq!(field("authenticationTag").len(), 16);
    assert!(field("ciphertextMetadata").len() <= 20);
    let cdiv = Sha256::digest(
        [
            aad.as_slice(),
            &field("ciphertextMetadata"),
            &field("initializationVector"),
            &field("ciphertext"),
            &field("authenticationTag"),
        ]
        .concat(),
    );
    assert_eq!(
        field("ciphertextDataIntegrityValue"),
        cdiv.to_vec(),
        "CDIV per Appendix C"
    );

    let (status, plain) = proxy
        .call("/keys/key-1/decrypt", &decrypt_body(&sealed, Some(aad)))
        .await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain, json!({"plaintext": B64.encode(b"Hello World!")}));

    // Tampering: another AAD, no AAD, metadata moved into the AAD, a flipped tag.
    assert_eq!(
        error_name(
            &proxy
                .call("/keys/key-1/decrypt", &decrypt_body(&sealed, Some(b"x")))
                .await
        ),
        (400, "InvalidCiphertextException")
    );
    assert_eq!(
        error_name(
            &proxy
                .call("/keys/key-1/decrypt", &decrypt_body(&sealed, None))
                .await
        ),
        (400, "InvalidCiphertextException")
    );
    let mut moved = decrypt_body(
        &sealed,
        Some(&[aad.as_slice(), &field("ciphertextMetadata")].concat()),
    );
    moved.as_object_mut().unwrap().remove("ciphertextMetadata");
    assert_eq!(
        error_name(&proxy.call("/keys/key-1/decrypt", &moved).await),
        (400, "InvalidCiphertextException")
    );
    let mut flipped = decrypt_body(&sealed, Some(aad));
    let mut tag = field("authenticationTag");
    tag[0] ^= 1;
    flipped["authenticationTag"] = json!(B64.encode(tag));
    assert_eq!(
        error_name(&proxy.call("/keys/key-1/decrypt", &flipped).await),
        (400, "InvalidCiphertextException")
    );

    // Without the CDIV algorithm there is no CDIV; 4300 bytes (the spec's minimum) are taken.
    let mut plain_body = encrypt_body(&[7u8; 4300], None);
    plain_body
        .as_object_mut()
        .unwrap()
        .remove("ciphertextDataIntegrityValueAlgorithm");
    let (status, sealed) = proxy.call("/keys/key-1/encrypt", &plain_body).await;
    assert_eq!(status, 200);
    assert!(sealed.get("ciphertextDataIntegrityValue").is_none());
    // AAD of 8192 bytes (the spec's minimum) is taken.
    assert_eq!(
        proxy
            .call(
                "/keys/key-1/encrypt",
                &encrypt_body(b"x", Some(&[1u8; 8192]))
            )
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn every_error_of_the_table_is_answered_with_its_status() {
    let proxy = Proxy::start().await;
    let lab = &proxy.lab;
    let call = |api: &'static str, body: Value| {
        let proxy = &proxy;
        async move { proxy.call(api, &body).await }
    };
    // GET on an API URI: 405.
    let url = format!("https://{}{DEFAULT_URI_PATH}/health", proxy.host());
    assert_eq!(proxy.client.get(&url).send().await.unwrap().status(), 405);
    // Paths: a wrong prefix, an unknown operation, a bad key id.
    for path in [
        "/other/kms/xks/v1/health",
        &format!("{DEFAULT_URI_PATH}/keys/key-1/sign"),
        &format!("{DEFAULT_URI_PATH}/kms/xks/v2/health"),
    ] {
        let (status, text) = proxy.send(path, b"{}", &Signing::default()).await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (status, body["errorName"].as_str().unwrap()),
            (404, "InvalidUriPathException"),
            "{path}"
        );
    }
    // Validation.
    let mut no_principal = encrypt_body(b"x", None);
    no_principal["requestMetadata"]
        .as_object_mut()
        .unwrap()
        .remove("awsPrincipalArn");
    let mut no_arn = encrypt_body(b"x", None);
    no_arn["requestMetadata"]
        .as_object_mut()
        .unwrap()
        .remove("kmsKeyArn");
    let mut bad_algorithm = encrypt_body(b"x", None);
    bad_algorithm["encryptionAlgorithm"] = json!("AES_CBC");
    let mut bad_cdiv = encrypt_body(b"x", None);
    bad_cdiv["ciphertextDataIntegrityValueAlgorithm"] = json!("MD5");
    let mut bad_b64 = encrypt_body(b"x", None);
    bad_b64["plaintext"] = json!("not base64!");
    for body in [
        no_principal,
        no_arn,
        bad_algorithm,
        bad_cdiv,
        bad_b64,
        json!({"plaintext": 5}),
        json!([]),
    ] {
        assert_eq!(
            error_name(&call("/keys/key-1/encrypt", body.clone()).await),
            (400, "ValidationException"),
            "{body}"
        );
    }
    let (_, sealed) = call("/keys/key-1/encrypt", encrypt_body(b"abc", None)).await;
    let mut short_iv = decrypt_body(&sealed, None);
    short_iv["initializationVector"] = json!(B64.encode([0u8; 8]));
    assert_eq!(
        error_name(&call("/keys/key-1/decrypt", short_iv).await),
        (400, "ValidationException")
    );
    // Beyond this proxy's sizes: 501.
    assert_eq!(
        error_name(&call("/keys/key-1/encrypt", encrypt_body(&[0u8; 4301], None)).await),
        (501, "UnsupportedOperationException")
    );
    // Not JSON content.
    let (status, _) = {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(&proxy.host()).unwrap());
        let path = format!("{DEFAULT_URI_PATH}/health");
        sigv4::sign(
            &Credentials {
                access_key_id: DEFAULT_ACCESS_KEY_ID,
                secret_access_key: DEFAULT_SECRET_ACCESS_KEY,
                session_token: None,
            },
            "us-east-1",
            "kms-xks-proxy",
            &mut SignedRequestMut {
                method: "POST",
                path: &path,
                query: None,
                headers: &mut headers,
                body: b"{}",
            },
            ekm_clock::wall_time(),
        );
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let r = proxy
            .client
            .post(format!("https://{}{path}", proxy.host()))
            .headers(headers)
            .body("{}")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 400);
    // Keys: unknown, disabled, deleted, wrong usage.
    assert_eq!(
        error_name(&call("/keys/nope/encrypt", encrypt_body(b"x", None)).await),
        (404, "KeyNotFoundException")
    );
    lab.control("POST", "/_mock/v1/xks/keys/key-1/disable", None)
        .await;
    assert_eq!(
        error_name(&call("/keys/key-1/encrypt", encrypt_body(b"x", None)).await),
        (400, "InvalidStateException")
    );
    let meta = json!({"requestMetadata": metadata("DescribeKey")});
    assert_eq!(
        call("/keys/key-1/metadata", meta.clone()).await.1["keyStatus"],
        "DISABLED"
    );
    lab.control("POST", "/_mock/v1/xks/keys/key-1/enable", None)
        .await;
    assert_eq!(
        call("/keys/key-1/decrypt", decrypt_body(&sealed, None))
            .await
            .0,
        200
    );
    lab.control("POST", "/_mock/v1/xks/keys/signer", None).await;
    lab.control(
        "POST",
        "/_mock/v1/xks/keys",
        Some(json!({"id": "signer", "usage": ["SIGN", "VERIFY"]})),
    )
    .await;
    assert_eq!(
        error_name(&call("/keys/signer/encrypt", encrypt_body(b"x", None)).await),
        (400, "InvalidKeyUsageException")
    );
    let (status, _) = lab
        .control("POST", "/_mock/v1/xks/keys/key-1/delete", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        error_name(&call("/keys/key-1/decrypt", decrypt_body(&sealed, None)).await),
        (404, "KeyNotFoundException")
    );
    assert_eq!(
        error_name(&call("/keys/key-1/metadata", meta).await),
        (404, "KeyNotFoundException")
    );
    // The HSM fleet down: the manager cannot serve.
    lab.control("POST", "/_mock/v1/xks/keys", Some(json!({"id": "key-2"})))
        .await;
    lab.control(
        "PUT",
        "/_mock/v1/xks/fleet",
        Some(json!({"status": "UNAVAILABLE"})),
    )
    .await;
    assert_eq!(
        error_name(&call("/keys/key-2/encrypt", encrypt_body(b"x", None)).await),
        (500, "InternalException")
    );
    // Injected errors of the table, e.g. throttling and a dependency timeout.
    lab.control(
        "PUT",
        "/_mock/v1/xks/fleet",
        Some(json!({"status": "ACTIVE"})),
    )
    .await;
    for (name, status) in [
        ("ThrottlingException", 429),
        ("DependencyTimeoutException", 503),
        ("AccessDeniedException", 403),
    ] {
        lab.control("PUT", "/_mock/v1/xks/faults", Some(json!({"error": name})))
            .await;
        assert_eq!(
            error_name(&call("/keys/key-2/encrypt", encrypt_body(b"x", None)).await),
            (status, name)
        );
    }
}

#[tokio::test]
async fn sigv4_failures_are_authentication_failed() {
    let proxy = Proxy::start().await;
    let body = json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}});
    let cases = [
        (
            "wrong secret",
            Signing {
                secret: OTHER_SECRET,
                ..Signing::default()
            },
        ),
        (
            "unknown key id",
            Signing {
                id: OTHER_ID,
                ..Signing::default()
            },
        ),
        (
            "service kms",
            Signing {
                service: "kms",
                ..Signing::default()
            },
        ),
        (
            "6 minutes late",
            Signing {
                skew: time::Duration::minutes(-6),
                ..Signing::default()
            },
        ),
        (
            "6 minutes early",
            Signing {
                skew: time::Duration::minutes(6),
                ..Signing::default()
            },
        ),
    ];
    for (why, signing) in cases {
        assert_eq!(
            error_name(&proxy.call_signed("/health", &body, &signing).await),
            (401, "AuthenticationFailedException"),
            "{why}"
        );
    }
    let within = Signing {
        skew: time::Duration::minutes(-4),
        ..Signing::default()
    };
    assert_eq!(proxy.call_signed("/health", &body, &within).await.0, 200);
    // Unsigned, and a body changed after signing.
    let url = format!("https://{}{DEFAULT_URI_PATH}/health", proxy.host());
    let unsigned = proxy
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(&proxy.host()).unwrap());
    let path = format!("{DEFAULT_URI_PATH}/health");
    sigv4::sign(
        &Credentials {
            access_key_id: DEFAULT_ACCESS_KEY_ID,
            secret_access_key: DEFAULT_SECRET_ACCESS_KEY,
            session_token: None,
        },
        "us-east-1",
        "kms-xks-proxy",
        &mut SignedRequestMut {
            method: "POST",
            path: &path,
            query: None,
            headers: &mut headers,
            body: b"{}",
        },
        ekm_clock::wall_time(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let tampered = proxy
        .client
        .post(&url)
        .headers(headers)
        .body("{ }")
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
}

#[tokio::test]
async fn two_live_credentials_rotate_without_downtime() {
    let proxy = Proxy::start().await;
    let lab = &proxy.lab;
    let body = json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}});
    let old = Signing::default();
    let new = Signing {
        id: OTHER_ID,
        secret: OTHER_SECRET,
        ..Signing::default()
    };
    let both = json!({"credentials": [
        {"access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY},
        {"access_key_id": OTHER_ID, "secret_access_key": OTHER_SECRET}]});
    let (status, view) = lab
        .control("PUT", "/_mock/v1/xks/endpoint", Some(both))
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(
        !view.to_string().contains(OTHER_SECRET),
        "secrets are never shown"
    );
    assert_eq!(proxy.call_signed("/health", &body, &old).await.0, 200);
    assert_eq!(proxy.call_signed("/health", &body, &new).await.0, 200);
    let only_new =
        json!({"credentials": [{"access_key_id": OTHER_ID, "secret_access_key": OTHER_SECRET}]});
    lab.control("PUT", "/_mock/v1/xks/endpoint", Some(only_new))
        .await;
    assert_eq!(proxy.call_signed("/health", &body, &old).await.0, 401);
    assert_eq!(proxy.call_signed("/health", &body, &new).await.0, 200);
    // Bad credentials and paths are refused by the control API.
    for bad in [
        json!({"credentials": []}),
        json!({"credentials": [{"access_key_id": "short", "secret_access_key": OTHER_SECRET}]}),
        json!({"uri_path": "/no/version"}),
        json!({"uri_pat": "/kms/xks/v1"}),
    ] {
        assert_eq!(
            lab.control("PUT", "/_mock/v1/xks/endpoint", Some(bad.clone()))
                .await
                .0,
            400,
            "{bad}"
        );
    }
    // Moving the proxy to another path prefix.
    lab.control(
        "PUT",
        "/_mock/v1/xks/endpoint",
        Some(json!({"uri_path": "/tenant-7/kms/xks/v1"})),
    )
    .await;
    let (status, text) = proxy
        .send(
            "/tenant-7/kms/xks/v1/health",
            body.to_string().as_bytes(),
            &new,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        error_name(&proxy.call_signed("/health", &body, &new).await),
        (404, "InvalidUriPathException")
    );
}

#[tokio::test]
async fn hop_faults_and_the_call_log() {
    let proxy = Proxy::start().await;
    let lab = &proxy.lab;
    let body = encrypt_body(b"x", None);
    // An error at a rate of one in two, deterministically.
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"error": "InternalException", "probability": 0.5})),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(proxy.call("/keys/key-1/encrypt", &body).await.0);
    }
    assert_eq!(statuses, [200, 500, 200, 500]);
    // Malformed replies, refused credentials, a proxy that stops answering.
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"malformed": true})),
    )
    .await;
    let (status, reply) = proxy.call("/keys/key-1/encrypt", &body).await;
    assert_eq!(status, 200);
    assert!(reply.is_string(), "not JSON: {reply}");
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"reject_credentials": true})),
    )
    .await;
    assert_eq!(
        error_name(&proxy.call("/keys/key-1/encrypt", &body).await),
        (401, "AuthenticationFailedException")
    );
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"unreachable": true})),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(lab.mock.ca_cert_pem().as_bytes()).unwrap(),
        )
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let path = format!("{DEFAULT_URI_PATH}/keys/key-1/encrypt");
    let started = ekm_clock::Stopwatch::start();
    let error = proxy
        .send_with(
            &impatient,
            &path,
            body.to_string().as_bytes(),
            &Signing::default(),
        )
        .await
        .unwrap_err();
    assert!(
        error.is_timeout() && started.elapsed() >= Duration::from_secs(2),
        "{error}"
    );
    // Latency: the proxy's own log shows it.
    lab.control(
        "PUT",
        "/_mock/v1/xks/faults",
        Some(json!({"latency_ms": 120})),
    )
    .await;
    assert_eq!(proxy.call("/keys/key-1/encrypt", &body).await.0, 200);
    lab.expect_statuses(vec![
        (
            "PUT",
            "/_mock/v1/xks/faults",
            Some(json!({"probability": 2})),
            400,
        ),
        ("DELETE", "/_mock/v1/xks/faults", None, 200),
    ])
    .await;
    let (_, log) = lab.control("GET", "/_mock/v1/calls", None).await;
    let hops: Vec<&Value> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["hop"] == "xks-proxy")
        .collect();
    assert!(hops.len() >= 7, "{log}");
    assert!(hops.iter().any(|c| c["outcome"] == "malformed"));
    let last = hops.last().unwrap();
    assert_eq!(
        (
            last["operation"].as_str(),
            last["key"].as_str(),
            last["outcome"].as_str()
        ),
        (Some("Encrypt"), Some("key-1"), Some("ok"))
    );
    assert!(last["latency_ms"].as_f64().unwrap() >= 120.0);
    assert!(hops.iter().any(|c| c["outcome"] == "InternalException"));
    assert_eq!(last["caller"], DEFAULT_ACCESS_KEY_ID);
    assert!(
        !log.to_string().contains(&B64.encode(b"x")),
        "no plaintext in the log"
    );
}

#[tokio::test]
async fn the_control_api_guards_the_key_manager() {
    let proxy = Proxy::start().await;
    let lab = &proxy.lab;
    lab.expect_statuses(vec![
        (
            "POST",
            "/_mock/v1/xks/keys",
            Some(json!({"id": "key-1"})),
            409,
        ),
        (
            "POST",
            "/_mock/v1/xks/keys",
            Some(json!({"id": "a/b"})),
            400,
        ),
        ("POST", "/_mock/v1/xks/keys", Some(json!({"idd": "x"})), 400),
        ("POST", "/_mock/v1/xks/keys/nope/disable", None, 404),
        ("POST", "/_mock/v1/xks/keys/key-1/explode", None, 400),
    ])
    .await;
    lab.control("POST", "/_mock/v1/xks/keys/key-1/delete", None)
        .await;
    lab.expect_statuses(vec![
        ("POST", "/_mock/v1/xks/keys/key-1/enable", None, 409),
        (
            "PUT",
            "/_mock/v1/xks/fleet",
            Some(json!({"status": "SLEEPY"})),
            400,
        ),
        (
            "PUT",
            "/_mock/v1/xks/fleet",
            Some(json!({"id": "hsm-9", "status": "ACTIVE"})),
            404,
        ),
    ])
    .await;
    let (status, view) = lab.control("GET", "/_mock/v1/xks", None).await;
    assert_eq!(status, 200);
    assert_eq!(view["uri_path"], DEFAULT_URI_PATH);
    assert_eq!(view["keys"][0]["status"], "deleted");
}

/// curl's own SigV4 signer (`--aws-sigv4`, spec Appendix D) against the proxy.
#[tokio::test]
async fn curl_signs_and_the_proxy_agrees() {
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, proxy.lab.mock.ca_cert_pem()).unwrap();
    let url = format!(
        "https://{}{DEFAULT_URI_PATH}/keys/key-1/encrypt",
        proxy.host()
    );
    let run = move |secret: &str| {
        std::process::Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(&ca)
            .args(["--aws-sigv4", "aws:amz:us-east-1:kms-xks-proxy", "--user"])
            .arg(format!("{DEFAULT_ACCESS_KEY_ID}:{secret}"))
            .args([
                "-X",
                "POST",
                "-H",
                "Content-Type:application/json",
                "--data",
            ])
            .arg(encrypt_body(b"Hello World!", None).to_string())
            .arg(&url)
            .output()
    };
    let output = match tokio::task::spawn_blocking(move || {
        (run(DEFAULT_SECRET_ACCESS_KEY), run(OTHER_SECRET))
    })
    .await
    .unwrap()
    {
        (Ok(good), Ok(bad)) => (good, bad),
        _ => {
            eprintln!("curl is not installed: skipping the independent signer check");
            return;
        }
    };
    let good = String::from_utf8_lossy(&output.0.stdout).into_owned();
    assert!(good.ends_with("\n200"), "{good}");
    assert!(good.contains("\"authenticationTag\""), "{good}");
    let bad = String::from_utf8_lossy(&output.1.stdout).into_owned();
    assert!(bad.ends_with("\n401"), "{bad}");
}
