//! A lab mock KMS in another process, held through its control API (`/_mock/v1/` on its http
//! listener, DESIGN.md §4): the same key owner's and operator's hold as [`crate::EmbeddedLab`]
//! gives in process — keys, key actions, aliases, faults, the call log — for a console started
//! with `--config` on a registration whose endpoints are a local `mock-kms`.
//!
//! [`MockControl::find`] asks only loopback endpoints of the registration (a real cloud is never
//! probed) and accepts one only when its index (`GET /_mock/v1`) names the lab's mock.

use std::collections::BTreeMap;
use std::time::Duration;

use ekm_access::{Explanation, SignInAs};
use ekm_engine::config::Config;
use ekm_mock_kms::calls::CallPage;
use ekm_mock_kms::control::index::SERVICE;
use ekm_mock_kms::keys::KeySpec;
use ekm_mock_kms::state::KeyInfo;
use ekm_vocab::{Cloud, Fault, KeyAction, VersionAction};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long the control API has to answer one request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the control API of a mock in another process could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The mock could not be reached, or its answer was not the control API's JSON.
    #[error("the mock's control API at {url} did not answer")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The mock refused the request (unknown key, a change the key's state forbids, …).
    #[error("the mock refused: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The control API's `error`.
        message: String,
    },
}

/// The control API of a lab mock KMS running in another process.
#[derive(Debug, Clone)]
pub struct MockControl {
    http: reqwest::Client,
    base: String,
}

impl MockControl {
    /// The control API behind `config`'s endpoints, when one of them is a lab mock on
    /// loopback (`None` for real clouds and for anything that does not answer as the mock).
    pub async fn find(config: &Config) -> Option<Self> {
        let endpoints = [
            config.aws.as_ref().and_then(|a| a.endpoint.as_deref()),
            config.gcp.as_ref().and_then(|g| g.endpoint.as_deref()),
        ];
        for endpoint in endpoints.into_iter().flatten() {
            let Some(base) = loopback_origin(endpoint) else {
                continue;
            };
            let control = Self::at(base);
            if control.is_mock().await {
                return Some(control);
            }
        }
        None
    }

    /// The control API at `base` (`http://127.0.0.1:4599`), not yet asked anything.
    pub fn at(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Where it is (`http://127.0.0.1:4599`).
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn is_mock(&self) -> bool {
        let index: Result<Value, _> = self.call(Method::GET, "", None::<()>).await;
        index.is_ok_and(|index| index["service"] == SERVICE)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<impl Serialize>,
    ) -> Result<T, RemoteError> {
        let url = format!("{}/_mock/v1{path}", self.base);
        let unreachable = |source| RemoteError::Unreachable {
            url: url.clone(),
            source,
        };
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(unreachable);
        }
        let message = match response.json::<Value>().await {
            Ok(body) => body["error"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned(),
            Err(_) => format!("HTTP {status}"),
        };
        Err(RemoteError::Refused {
            status: status.as_u16(),
            message,
        })
    }

    /// Every key of the mock, in name order.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, RemoteError> {
        self.call(Method::GET, "/keys", None::<()>).await
    }

    /// Creates key `name` in `cloud` with the same trust and policy for the service identity as
    /// the cloud's demo key.
    pub async fn create_key(
        &self,
        name: &str,
        cloud: Cloud,
        spec: KeySpec,
    ) -> Result<KeyInfo, RemoteError> {
        let body = json!({"name": name, "provider": cloud, "spec": spec.as_str()});
        self.call(Method::POST, "/keys", Some(body)).await
    }

    /// Takes `action` on key `name` as its owner.
    pub async fn apply(&self, name: &str, action: KeyAction) -> Result<KeyInfo, RemoteError> {
        let path = format!("/keys/{name}/{action}");
        self.call(Method::POST, &path, None::<()>).await
    }

    /// Takes `action` on version `version` of key `name` as its owner.
    pub async fn apply_version(
        &self,
        name: &str,
        version: &str,
        action: VersionAction,
    ) -> Result<KeyInfo, RemoteError> {
        let path = format!("/keys/{name}/versions/{version}/{action}");
        self.call(Method::POST, &path, None::<()>).await
    }

    /// What the customer's documents decide for EKM's sign-in, encrypt and decrypt on the
    /// `cloud` key a registration names `key`, with each decision's trace and the lint of the
    /// documents behind them.
    pub async fn explain(
        &self,
        cloud: Cloud,
        key: &str,
        sign_in: &SignInAs,
    ) -> Result<Explanation, RemoteError> {
        let mut url = reqwest::Url::parse("http://lab.invalid/").expect("a fixed URL parses");
        url.query_pairs_mut()
            .append_pair("key", key)
            .extend_pairs(sign_in.pairs());
        let query = url.query().unwrap_or_default();
        let path = format!("/access/{cloud}/explain?{query}");
        self.call(Method::GET, &path, None::<()>).await
    }

    /// Every AWS alias (without `alias/`) and the key it points at, in alias order.
    pub async fn aliases(&self) -> Result<BTreeMap<String, String>, RemoteError> {
        self.call(Method::GET, "/aliases", None::<()>).await
    }

    /// Points the AWS alias `alias` (without `alias/`) at key `target`.
    pub async fn set_alias(&self, alias: &str, target: &str) -> Result<(), RemoteError> {
        let path = format!("/aliases/{alias}");
        let _: Value = self
            .call(Method::PUT, &path, Some(json!({"target": target})))
            .await?;
        Ok(())
    }

    /// Replaces the injected faults; their windows start now (the mock's lab time).
    pub async fn set_faults(&self, faults: Vec<Fault>) -> Result<(), RemoteError> {
        let _: Value = self.call(Method::PUT, "/faults", Some(faults)).await?;
        Ok(())
    }

    /// The calls the mock answered after sequence number `since` (exclusive), oldest first.
    pub async fn calls_since(&self, since: u64) -> Result<CallPage, RemoteError> {
        let path = format!("/calls?since={since}");
        self.call(Method::GET, &path, None::<()>).await
    }
}

/// `scheme://host:port` of `endpoint` when its host is a loopback address.
fn loopback_origin(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => authority,
    };
    let loopback = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => true,
        ip => ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    };
    (loopback && (scheme == "http" || scheme == "https")).then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_are_asked() {
        assert_eq!(
            loopback_origin("http://127.0.0.1:4599/v1/token").as_deref(),
            Some("http://127.0.0.1:4599")
        );
        assert_eq!(
            loopback_origin("http://localhost:80").as_deref(),
            Some("http://localhost:80")
        );
        assert_eq!(
            loopback_origin("http://[::1]:4599").as_deref(),
            Some("http://[::1]:4599")
        );
        for real in [
            "https://kms.us-east-1.amazonaws.com",
            "https://cloudkms.googleapis.com",
            "http://10.0.0.7:4599",
            "ftp://127.0.0.1:21",
            "127.0.0.1:4599",
        ] {
            assert_eq!(loopback_origin(real), None, "{real}");
        }
    }
}
