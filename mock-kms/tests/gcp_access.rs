//! The customer's GCP documents in the mock, through the real `google-cloud-kms-v1` client:
//! IAM policies read and set with `getIamPolicy`/`setIamPolicy` (etags as GCP keeps them) on
//! crypto keys and key rings, deciding the service's next call; refusals in GCP's error shapes
//! with the decision's trace in the call log; documents seeded from `--config` and kept in
//! `--state`, a malformed one refused at load naming its place and JSON path.

mod common;
mod gcp_clients;

use std::sync::Arc;

use bytes::Bytes;
use common::TestLab;
use ekm_clock::ManualClock;
use ekm_mock_kms::config::LabConfig;
use ekm_mock_kms::server::{MockKms, Options, ServerError};
use gcp_clients::{owner, service};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_iam_v1::model::{Binding, GetPolicyOptions, Policy};
use google_cloud_kms_v1::client::KeyManagementService;
use serde_json::{Value, json};

const KEY: &str =
    "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key";
const RING: &str = "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring";
const PRINCIPAL: &str = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/subject/100000000000000000001";
const ROLE: &str = "roles/cloudkms.cryptoKeyEncrypterDecrypter";

async fn encrypt(client: &KeyManagementService) -> Result<(), GaxError> {
    client
        .encrypt()
        .set_name(KEY)
        .set_plaintext(Bytes::from_static(b"dek"))
        .send()
        .await
        .map(drop)
}

async fn get_policy(client: &KeyManagementService, resource: &str) -> Result<Policy, GaxError> {
    client
        .get_iam_policy()
        .set_resource(resource)
        .set_options(GetPolicyOptions::new().set_requested_policy_version(3))
        .send()
        .await
}

async fn set_policy(
    client: &KeyManagementService,
    resource: &str,
    policy: Policy,
) -> Result<Policy, GaxError> {
    client
        .set_iam_policy()
        .set_resource(resource)
        .set_policy(policy)
        .send()
        .await
}

fn code<T: std::fmt::Debug>(result: Result<T, GaxError>) -> Code {
    result
        .expect_err("refused")
        .status()
        .map_or(Code::Unknown, |s| s.code)
}

fn binding() -> Binding {
    Binding::new().set_role(ROLE).set_members([PRINCIPAL])
}

#[tokio::test]
async fn iam_policies_set_with_the_sdk_decide_the_next_call() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let (owner, service) = (owner(&url).await, service(&url).await);
    encrypt(&service)
        .await
        .expect("the demo binding lets EKM in");

    let policy = get_policy(&owner, KEY).await.expect("getIamPolicy");
    assert_eq!(policy.bindings.len(), 1);
    assert_eq!(policy.bindings[0].role, ROLE);
    assert!(policy.bindings[0].members.iter().any(|m| m == PRINCIPAL));
    assert!(!policy.etag.is_empty());

    // Read-modify-write: the binding goes; the next call is denied with GCP's message.
    let emptied = policy.clone().set_bindings(Vec::<Binding>::new());
    let set = set_policy(&owner, KEY, emptied)
        .await
        .expect("setIamPolicy");
    assert_ne!(set.etag, policy.etag, "a write changes the etag");
    let denied = encrypt(&service).await.expect_err("no binding");
    let status = denied.status().expect("an API error").clone();
    assert_eq!(status.code, Code::PermissionDenied);
    assert_eq!(
        status.message,
        format!(
            "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{KEY}' (or it may not exist)."
        )
    );
    let calls = lab.calls(0).await;
    let last = calls
        .iter()
        .rev()
        .find(|c| c["operation"] == "encrypt")
        .unwrap();
    assert_eq!(last["outcome"], "PERMISSION_DENIED");
    assert!(last["trace"].is_string(), "{last}");

    // A stale etag is ABORTED and changes nothing.
    assert_eq!(code(set_policy(&owner, KEY, policy).await), Code::Aborted);
    assert_eq!(code(encrypt(&service).await), Code::PermissionDenied);

    // The key ring's binding is inherited by the key.
    let ring = get_policy(&owner, RING)
        .await
        .expect("the ring has no policy yet");
    assert!(ring.bindings.is_empty());
    let ring = ring.set_bindings([binding()]);
    set_policy(&owner, RING, ring)
        .await
        .expect("set on the ring");
    encrypt(&service)
        .await
        .expect("inherited from the key ring");
    let info = lab.mock.lab().key_info("gcp-demo").unwrap();
    assert!(info.access && info.trust);
    lab.shutdown().await;
}

#[tokio::test]
async fn bad_policies_and_callers_get_googles_errors_never_a_500() {
    let lab = TestLab::start().await;
    let url = lab.url();
    let (owner, service) = (owner(&url).await, service(&url).await);

    // The service holds only encrypt/decrypt: no IAM reads or writes, traced in the log.
    assert_eq!(
        code(get_policy(&service, KEY).await),
        Code::PermissionDenied
    );
    let own = Policy::new().set_bindings([binding()]);
    assert_eq!(
        code(set_policy(&service, KEY, own).await),
        Code::PermissionDenied
    );
    let calls = lab.calls(0).await;
    let last = calls.last().unwrap();
    assert_eq!(
        (&last["operation"], &last["outcome"]),
        (&json!("setIamPolicy"), &json!("PERMISSION_DENIED"))
    );
    assert!(
        last["trace"]
            .as_str()
            .unwrap()
            .contains("lacks cloudkms.cryptoKeys.setIamPolicy"),
        "{last}"
    );

    let not_a_role = Policy::new().set_bindings([Binding::new()
        .set_role("cloudkms.admin")
        .set_members(["user:a@example.com"])]);
    let refused = set_policy(&owner, KEY, not_a_role)
        .await
        .expect_err("refused");
    let status = refused.status().unwrap();
    assert_eq!(status.code, Code::InvalidArgument);
    assert!(
        status.message.contains("$.bindings[0].role"),
        "{}",
        status.message
    );
    let unknown_member =
        Policy::new().set_bindings([Binding::new().set_role(ROLE).set_members(["robot:r2"])]);
    assert_eq!(
        code(set_policy(&owner, KEY, unknown_member).await),
        Code::InvalidArgument
    );
    let missing = KEY.replace("ekm-key", "no-such-key");
    assert_eq!(code(get_policy(&owner, &missing).await), Code::NotFound);
    assert_eq!(
        code(get_policy(&owner, &RING.replace("ekm-ring", "other")).await),
        Code::NotFound
    );

    // What the SDK never sends: raw requests.
    let http = reqwest::Client::new();
    let raw = |path: String, body: Value| {
        http.post(format!("{url}/v1/{path}"))
            .bearer_auth(ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN)
            .json(&body)
            .send()
    };
    let huge: Vec<String> = (0..2000)
        .map(|i| format!("user:someone-{i}@example.com"))
        .collect();
    let cases = [
        (
            json!({"policy": {"bindings": [{"role": ROLE, "members": huge}]}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            json!({"policy": {"bindings": [{"role": ROLE, "members": [PRINCIPAL],
            "condition": {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}}], "version": 3}}),
            400,
            "INVALID_ARGUMENT",
        ),
        (json!({"policy": "everyone"}), 400, "INVALID_ARGUMENT"),
        (json!({"policy": {"etag": 7}}), 400, "INVALID_ARGUMENT"),
        (
            json!({"policy": {}, "updateMask": "owner"}),
            400,
            "INVALID_ARGUMENT",
        ),
        (json!({}), 400, "INVALID_ARGUMENT"),
        (
            json!({"policy": {"etag": "BwYAAAAAAAAAAA=="}}),
            409,
            "ABORTED",
        ),
    ];
    for (body, status, expected) in cases {
        let response = raw(format!("{KEY}:setIamPolicy"), body.clone())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["status"], expected, "{body}: {reply}");
    }
    let conditional = json!({"policy": {"version": 3, "bindings": [{"role": ROLE, "members": [PRINCIPAL],
        "condition": {"title": "ekm ring only", "expression": "resource.name.startsWith('projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/')"}}]}});
    let set = raw(format!("{KEY}:setIamPolicy"), conditional)
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 200);
    encrypt(&service)
        .await
        .expect("the condition holds for the key");
    let v1 = get_policy_version(&http, &url, 1).await;
    assert!(
        v1["bindings"][0]["role"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ROLE}_withcond_")),
        "{v1}"
    );
    assert_eq!(
        get_policy_version(&http, &url, 3).await["bindings"][0]["condition"]["title"],
        "ekm ring only"
    );
    assert_eq!(
        get_policy_version(&http, &url, 2).await["error"]["status"],
        "INVALID_ARGUMENT"
    );
    lab.shutdown().await;
}

async fn get_policy_version(http: &reqwest::Client, url: &str, version: u32) -> Value {
    http.get(format!(
        "{url}/v1/{KEY}:getIamPolicy?options.requestedPolicyVersion={version}"
    ))
    .bearer_auth(ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN)
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

fn with_state(clock: &Arc<ManualClock>, state: &std::path::Path) -> Options {
    Options {
        state_file: Some(state.to_owned()),
        ..Options::ephemeral_with_clock(clock.clone())
    }
}

#[tokio::test]
async fn gcp_documents_survive_a_restart_and_a_bad_one_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let clock = Arc::new(ManualClock::default());
    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    let admin = owner(&lab.url()).await;
    let ring = Policy::new().set_bindings([binding()]);
    let set = set_policy(&admin, RING, ring).await.unwrap();
    lab.mock
        .lab()
        .apply("gcp-demo", ekm_vocab::KeyAction::RevokeTrust)
        .unwrap();
    lab.shutdown().await;

    let lab = TestLab::start_with(with_state(&clock, &state), clock.clone()).await;
    let admin = owner(&lab.url()).await;
    let read = get_policy(&admin, RING).await.unwrap();
    assert_eq!((read.etag, read.bindings), (set.etag, set.bindings));
    let info = lab.mock.lab().key_info("gcp-demo").unwrap();
    assert_eq!(
        (info.access, info.trust),
        (true, false),
        "the provider stays disabled"
    );
    lab.shutdown().await;

    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    saved["access"]["gcp"]["policies"][RING]["policy"]["bindings"][0]["members"] =
        json!(["robot:x"]);
    std::fs::write(&state, saved.to_string()).unwrap();
    let error = MockKms::start(with_state(&clock, &state))
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(matches!(error, ServerError::State(_)), "{text}");
    assert!(
        text.contains(&format!("access.gcp.policies.{RING}"))
            && text.contains("$.bindings[0].members[0]"),
        "{text}"
    );

    saved["access"]["gcp"]["policies"][RING]["policy"]["bindings"][0]["members"] =
        json!([PRINCIPAL]);
    let provider = "projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/providers/ekm-provider";
    saved["access"]["gcp"]["providers"][provider]["attributeCondition"] =
        json!("assertion.sub.size() > 0");
    std::fs::write(&state, saved.to_string()).unwrap();
    let text = common::refusal(with_state(&clock, &state)).await;
    assert!(
        text.contains("access.gcp.providers.") && text.contains("$.attributeCondition"),
        "{text}"
    );
}

#[tokio::test]
async fn config_seeds_gcp_documents_inline_and_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let provider = json!({
        "name": "projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/providers/ekm-provider",
        "attributeMapping": {"google.subject": "assertion.sub"},
        "oidc": {"issuerUri": "https://accounts.google.com", "allowedAudiences": ["proj_other"]},
    });
    std::fs::write(dir.path().join("provider.json"), provider.to_string()).unwrap();
    let yaml = format!(
        "keys:\n  - {{ name: gcp-main, provider: gcp }}\naccess:\n  gcp:\n    providers: [ provider.json ]\n    policies:\n      {RING}: {{ bindings: [ {{ role: {ROLE}, members: [ \"{PRINCIPAL}\" ] }} ] }}\n"
    );
    std::fs::write(dir.path().join("lab.yaml"), yaml).unwrap();
    let lab = TestLab::from_config(&dir.path().join("lab.yaml")).await;
    let admin = owner(&lab.url()).await;
    let ring = get_policy(&admin, RING).await.unwrap();
    assert_eq!(ring.bindings[0].members, [PRINCIPAL]);
    // The provider from the file allows another audience: EKM's token is refused at STS.
    let info = lab.mock.lab().key_info("gcp-main").unwrap();
    assert_eq!((info.access, info.trust), (true, false));
    lab.shutdown().await;

    let bad = format!(
        "access:\n  gcp:\n    policies:\n      {RING}: {{ bindings: [ {{ role: nope, members: [ \"{PRINCIPAL}\" ] }} ] }}\n"
    );
    let config = LabConfig::parse(&bad).unwrap();
    let clock = Arc::new(ManualClock::default());
    let options = Options {
        config: Some(config),
        ..Options::ephemeral_with_clock(clock)
    };
    let error = common::refusal(options).await;
    assert!(
        error.contains(&format!("access.gcp.policies.{RING}"))
            && error.contains("$.bindings[0].role"),
        "{error}"
    );
    let missing =
        LabConfig::parse("access:\n  gcp:\n    providers: [ /no/such/provider.json ]\n").unwrap();
    let options = Options {
        config: Some(missing),
        ..Options::ephemeral_with_clock(Arc::new(ManualClock::default()))
    };
    let error = common::refusal(options).await;
    assert!(
        error.contains("access.gcp.providers[0]") && error.contains("/no/such/provider.json"),
        "{error}"
    );
}
