//! End-to-end harness for EKM Lab: an [`EmbeddedLab`] — the mock KMS on `127.0.0.1:0` seeded
//! with the demo tenant, and its demo registration, its own engine left without keys — on one
//! [`ManualClock`], from which each test builds the engines it needs with the engine's real cloud providers (the real AWS, GCP and
//! Azure SDKs), so hours of key lifecycle pass in milliseconds.
//!
//! Key changes go through the mock's real control API over HTTP, as an outside script would
//! make them; KMS call counts come from the mock's call log. What only the key owner can see
//! (which key version wrapped an envelope, the eDEK's plaintext) comes from the lab's API.
//!
//! # Layout
//! - [`Lab`]: starting the lab, building engines, the control API, the call log, the clock.
//! - [`suite`]: the behaviours every provider must show (rotation vs revocation, outages,
//!   throttling, call volumes), written once and run per cloud from `tests/*.rs`.

pub mod suite;

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock, SharedClock};
use ekm_engine::config::Config;
use ekm_engine::registration::{self, Cloud};
use ekm_engine::{Engine, KeyEncryptionKey, ProjectId};
use ekm_lab::{EmbeddedLab, LabOptions};
use serde_json::Value;

/// A running lab (its mock KMS and the demo registration pointing at it) and the shared lab
/// clock.
#[derive(Debug)]
pub struct Lab {
    /// The lab clock, shared by the mock and every engine built here.
    pub clock: Arc<ManualClock>,
    /// The demo registration (DESIGN.md §6) with the mock's endpoints.
    pub config: Config,
    lab: EmbeddedLab,
    http: reqwest::Client,
}

impl Lab {
    /// Starts a lab with the demo tenant on port 0.
    pub async fn start() -> Self {
        let clock = Arc::new(ManualClock::default());
        let lab = EmbeddedLab::start(LabOptions {
            register_demo_keys: false,
            ..LabOptions::new(clock.clone())
        })
        .await
        .unwrap_or_else(|e| panic!("the lab starts: {e}"));
        Self {
            clock,
            config: lab.config().clone(),
            lab,
            http: reqwest::Client::new(),
        }
    }

    /// The lab's API, for what only the key owner sees: which key version wrapped an
    /// envelope ([`EmbeddedLab::wrapping_key`]), what its eDEK decrypts to.
    pub fn owner(&self) -> &EmbeddedLab {
        &self.lab
    }

    /// `http://127.0.0.1:PORT` of the mock: AWS, GCP and the control API.
    pub fn http_url(&self) -> String {
        self.lab.http_url()
    }

    /// Connects the demo KEK of `cloud` through the real SDK.
    pub async fn kek(&self, cloud: Cloud) -> Arc<dyn KeyEncryptionKey> {
        self.kek_for(&self.config, cloud).await
    }

    /// Connects the KEK `config` registers in `cloud`.
    pub async fn kek_for(&self, config: &Config, cloud: Cloud) -> Arc<dyn KeyEncryptionKey> {
        let clock: SharedClock = self.clock.clone();
        registration::connect(config, cloud, &clock)
            .await
            .unwrap_or_else(|e| panic!("connect {cloud}: {e}"))
    }

    /// An engine on the lab clock with the demo timings, `kek` registered for the returned
    /// project.
    pub fn engine(&self, kek: Arc<dyn KeyEncryptionKey>) -> (Engine, ProjectId) {
        let project = ProjectId::from(self.config.project_id.as_str());
        let engine = Engine::builder(self.clock.clone())
            .config(self.config.engine.engine_config())
            .provider(project.clone(), kek)
            .build();
        (engine, project)
    }

    /// Moves the lab clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn control_url(&self, path: &str) -> String {
        format!("{}/_mock/v1/{path}", self.http_url())
    }

    async fn expect_ok(response: reqwest::Result<reqwest::Response>, what: &str) -> Value {
        let response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{what}: {status} {body}");
        body
    }

    /// A key of `cloud` (`aws` or `gcp`) named `name`, backed by a new external key of the same
    /// name in the lab's external key manager (an AWS external key store key, a GCP Cloud EKM
    /// key), connected through the engine's own provider: the KEK and the key's control-API
    /// JSON. The hop's budget is raised to 5 s for loaded machines (`xks/timeout`).
    pub async fn external_kek(
        &self,
        cloud: Cloud,
        name: &str,
    ) -> (Arc<dyn KeyEncryptionKey>, Value) {
        use reqwest::Method;
        let timeout = serde_json::json!({"timeout_ms": 5000});
        self.control(Method::PUT, "xks/timeout", Some(timeout))
            .await;
        let key = serde_json::json!({"id": name});
        self.control(Method::POST, "xks/keys", Some(key)).await;
        let provider = match cloud {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            other => panic!("{other} has no external key store"),
        };
        let binding = serde_json::json!({"name": name, "provider": provider, "external_key": name});
        let bound = self
            .control(Method::POST, "xks/bindings", Some(binding))
            .await;
        let mut config = self.config.clone();
        let id = bound["id"].as_str().expect("key id").to_owned();
        match cloud {
            Cloud::Aws => config.aws.as_mut().expect("AWS registered").key_arn = id,
            _ => {
                let key_name = id.rsplit('/').next().expect("crypto key name");
                key_name.clone_into(&mut config.gcp.as_mut().expect("GCP registered").key_name);
            }
        }
        (self.kek_for(&config, cloud).await, bound)
    }

    /// Any control-API call under `/_mock/v1/` that must succeed; its JSON reply.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method.clone(), self.control_url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::expect_ok(request.send().await, &format!("{method} {path}")).await
    }

    /// `POST /_mock/v1/keys/{key}/{action}` (rotate, disable, revoke-trust, …).
    pub async fn key_action(&self, key: &str, action: &str) -> Value {
        let url = self.control_url(&format!("keys/{key}/{action}"));
        Self::expect_ok(self.http.post(url).send().await, &format!("{action} {key}")).await
    }

    /// `POST /_mock/v1/keys` creating `name`.
    pub async fn create_key(&self, name: &str, provider: &str, spec: &str) -> Value {
        let body = serde_json::json!({ "name": name, "provider": provider, "spec": spec });
        let response = self
            .http
            .post(self.control_url("keys"))
            .json(&body)
            .send()
            .await;
        Self::expect_ok(response, &format!("create {name}")).await
    }

    /// `GET /_mock/v1/keys/{key}`.
    pub async fn key_info(&self, key: &str) -> Value {
        let url = self.control_url(&format!("keys/{key}"));
        Self::expect_ok(self.http.get(url).send().await, &format!("get {key}")).await
    }

    /// `PUT /_mock/v1/aliases/{alias}` pointing it at `target`.
    pub async fn set_alias(&self, alias: &str, target: &str) {
        let url = self.control_url(&format!("aliases/{alias}"));
        let body = serde_json::json!({ "target": target });
        Self::expect_ok(self.http.put(url).json(&body).send().await, "set alias").await;
    }

    /// `PUT /_mock/v1/faults` with `rules`.
    pub async fn set_faults(&self, rules: Value) {
        let response = self
            .http
            .put(self.control_url("faults"))
            .json(&rules)
            .send()
            .await;
        Self::expect_ok(response, "set faults").await;
    }

    /// `DELETE /_mock/v1/faults`.
    pub async fn clear_faults(&self) {
        let response = self.http.delete(self.control_url("faults")).send().await;
        Self::expect_ok(response, "clear faults").await;
    }

    /// Every call in the mock's log, oldest first.
    pub async fn calls(&self) -> Vec<Value> {
        let page = Self::expect_ok(
            self.http
                .get(self.control_url("calls?since=0"))
                .send()
                .await,
            "call log",
        )
        .await;
        page["calls"].as_array().cloned().unwrap_or_default()
    }

    /// How many calls of `provider` named `operation` the mock answered with `outcome` ("ok" or
    /// an error code; `None` = any).
    pub async fn count_calls(
        &self,
        provider: &str,
        operation: &str,
        outcome: Option<&str>,
    ) -> usize {
        self.calls()
            .await
            .iter()
            .filter(|c| c["provider"] == provider && c["operation"] == operation)
            .filter(|c| outcome.is_none_or(|o| c["outcome"] == o))
            .count()
    }
}
