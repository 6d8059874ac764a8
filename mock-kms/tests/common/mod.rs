//! Shared set-up of the mock-kms end-to-end tests: a mock on port 0 with a manual lab clock, the
//! real AWS SDK configured as the service (AssumeRole with ExternalId) or the customer
//! administrator, and a small client for the control API.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_kms::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_kms::error::ProvideErrorMetadata;
use ekm_clock::ManualClock;
use ekm_mock_kms::config::LabConfig;
use ekm_mock_kms::server::{MockKms, Options};
use ekm_mock_kms::tenant::Tenant;
use serde_json::Value;

pub(crate) const ROLE: &str = "arn:aws:iam::111122223333:role/ekm-demo";
pub(crate) const DEMO_ARN: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30";

/// A running mock and its lab clock.
pub(crate) struct TestLab {
    pub mock: MockKms,
    pub clock: Arc<ManualClock>,
    http: reqwest::Client,
}

impl TestLab {
    /// A demo-tenant mock on port 0 with a manual clock.
    pub(crate) async fn start() -> Self {
        let clock = Arc::new(ManualClock::default());
        Self::start_with(Options::ephemeral_with_clock(clock.clone()), clock).await
    }

    /// A mock with these options (their clock must be `clock`).
    pub(crate) async fn start_with(options: Options, clock: Arc<ManualClock>) -> Self {
        let mock = MockKms::start(options).await.expect("mock starts");
        Self {
            mock,
            clock,
            http: reqwest::Client::new(),
        }
    }

    /// A mock seeded from the `--config` file at `path`, on a manual clock.
    pub(crate) async fn from_config(path: &std::path::Path) -> Self {
        let config = LabConfig::from_file(path).expect("config parses");
        let clock = Arc::new(ManualClock::default());
        let options = Options {
            config: Some(config),
            ..Options::ephemeral_with_clock(clock.clone())
        };
        Self::start_with(options, clock).await
    }

    pub(crate) fn url(&self) -> String {
        self.mock.http_url()
    }

    /// A control-API call: status and JSON body.
    pub(crate) async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Makes each control call in turn and asserts its status: `(method, path, body, status)`.
    pub(crate) async fn expect_statuses(&self, cases: Vec<(&str, &str, Option<Value>, u16)>) {
        for (method, path, body, status) in cases {
            let (got, reply) = self.control(method, path, body).await;
            assert_eq!(got, status, "{method} {path}: {reply}");
        }
    }

    /// Applies a key action through the control API, expecting 200.
    pub(crate) async fn action(&self, key: &str, action: &str) -> Value {
        let (status, body) = self
            .control("POST", &format!("/_mock/v1/keys/{key}/{action}"), None)
            .await;
        assert_eq!(status, 200, "{action} {key}: {body}");
        body
    }

    /// The call log after `since`.
    pub(crate) async fn calls(&self, since: u64) -> Vec<Value> {
        let (_, page) = self
            .control("GET", &format!("/_mock/v1/calls?since={since}"), None)
            .await;
        page["calls"].as_array().cloned().unwrap_or_default()
    }

    /// The outcomes of the logged calls of `operation` (`AssumeRole`, `Decrypt`, …), in order.
    pub(crate) async fn outcomes(&self, operation: &str) -> Vec<Value> {
        self.calls(0)
            .await
            .into_iter()
            .filter(|c| c["operation"] == operation)
            .map(|c| c["outcome"].clone())
            .collect()
    }

    pub(crate) async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}

/// Why the mock refuses to start with `options` (a bad config or state file).
pub(crate) async fn refusal(options: Options) -> String {
    MockKms::start(options)
        .await
        .expect_err("the mock refuses to start")
        .to_string()
}

/// Base SDK config for `url` signing with a static key.
pub(crate) async fn sdk_config(url: &str, access_key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, secret, None, None, "static",
        )))
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// KMS client of the customer administrator (the key owner).
pub(crate) async fn owner_kms(url: &str) -> aws_sdk_kms::Client {
    let tenant = Tenant::default().aws;
    aws_sdk_kms::Client::new(
        &sdk_config(
            url,
            &tenant.admin_access_key_id,
            &tenant.admin_secret_access_key,
        )
        .await,
    )
}

/// KMS client signing with `access_key`/`secret` directly.
pub(crate) async fn static_kms(url: &str, access_key: &str, secret: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(url, access_key, secret).await)
}

/// KMS client of the EKM service: AssumeRole of the customer's role with `external_id`.
pub(crate) async fn service_kms_with(
    url: &str,
    role: &str,
    external_id: &str,
) -> aws_sdk_kms::Client {
    let tenant = Tenant::default().aws;
    let base = sdk_config(
        url,
        &tenant.service_access_key_id,
        &tenant.service_secret_access_key,
    )
    .await;
    let provider = AssumeRoleProvider::builder(role)
        .external_id(external_id)
        .session_name("ekm-test")
        .configure(&base)
        .build()
        .await;
    let config = aws_sdk_kms::config::Builder::from(&base)
        .credentials_provider(provider)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// The demo service client (role `ekm-demo`, ExternalId `proj_demo`).
pub(crate) async fn service_kms(url: &str) -> aws_sdk_kms::Client {
    service_kms_with(url, ROLE, "proj_demo").await
}

/// The AWS error code of a failed SDK call.
pub(crate) fn code<T, E: ProvideErrorMetadata + std::fmt::Debug>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e
            .code()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{e:?}")),
    }
}
