//! The cloud's side of the hop: KMS calling an XKS proxy at the store's `XksProxyUriEndpoint` +
//! `XksProxyUriPath` — the lab's own proxy or any other (a customer's real one) — signed with
//! SigV4 (`kms-xks-proxy`, `SignedHeaders=host;x-amz-date`) and given up after the spec's
//! 250 ms ([`HOP_TIMEOUT`]).
//!
//! Every way the hop can fail is a [`HopFailure`], and [`HopFailure::kms_message`] is the message
//! KMS answers for it (the spec's table "KMS exception messages"); which *exception* carries the
//! message depends on the KMS API (crypto operations always `KMSInvalidStateException`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use ekm_clock::Stopwatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SIGV4_SERVICE;
use super::api::{ErrorBody, ErrorName};
use crate::aws::sigv4::{self, Credentials, SignedRequestMut};

/// How long KMS waits for the proxy (spec: "within 250ms"); the lab lets a test or a demo on a
/// loaded machine raise it ([`HopClient::set_timeout`]).
pub const HOP_TIMEOUT: Duration = Duration::from_millis(250);

/// Why a hop failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopFailure {
    /// The proxy answered one of the spec's errors.
    Proxy(ErrorName),
    /// The proxy's answer is not the spec's JSON (or an error without a JSON body).
    Malformed,
    /// No answer within [`HOP_TIMEOUT`].
    Timeout,
    /// No TCP connection.
    Connect,
    /// No TLS connection (e.g. an untrusted certificate).
    Tls,
    /// The proxy's ciphertext does not check out (CDIV, lengths).
    InvalidCiphertext,
}

impl HopFailure {
    /// Every failure: each of the spec's errors, then the hop's own.
    pub fn all() -> Vec<HopFailure> {
        ErrorName::ALL
            .iter()
            .map(|name| HopFailure::Proxy(*name))
            .chain([
                HopFailure::Malformed,
                HopFailure::Timeout,
                HopFailure::Connect,
                HopFailure::Tls,
                HopFailure::InvalidCiphertext,
            ])
            .collect()
    }

    /// The outcome word for the call log (`ok` is never a failure).
    pub fn outcome(self) -> &'static str {
        match self {
            HopFailure::Proxy(name) => name.as_str(),
            HopFailure::Malformed => "malformed-response",
            HopFailure::Timeout => "timeout",
            HopFailure::Connect => "unreachable",
            HopFailure::Tls => "tls-failure",
            HopFailure::InvalidCiphertext => "invalid-ciphertext",
        }
    }

    /// The message KMS answers for this failure (spec, "KMS Considerations" of Error codes).
    pub fn kms_message(self) -> &'static str {
        use ErrorName as E;
        match self {
            HopFailure::Proxy(E::ValidationException) | HopFailure::Malformed => {
                "AWS KMS cannot interpret the response from the external key store proxy. If you \
                 see this error repeatedly, report it to your external key store proxy administrator."
            }
            HopFailure::Proxy(E::InvalidStateException) => {
                "The external key associated with this KMS key in an external key store is not \
                 enabled in the external key manager. Enable the external key in the external key \
                 manager and retry the request."
            }
            HopFailure::Proxy(E::InvalidCiphertextException) => {
                "The external key store proxy rejected the request because the specified \
                 ciphertext or encryption context is corrupted, missing, or otherwise invalid."
            }
            HopFailure::InvalidCiphertext => {
                "The ciphertext that the external key store proxy submitted for decryption, or the \
                 encryption context, is corrupted, missing, or otherwise invalid."
            }
            HopFailure::Proxy(E::InvalidKeyUsageException) => {
                "The external key associated with this KMS key in an external key store does not \
                 support the requested operation. Enable the operation on the key in your external \
                 key manager, and try the request again."
            }
            HopFailure::Proxy(E::AuthenticationFailedException) => {
                "The external key store proxy rejected the request because it could not \
                 authenticate AWS KMS. Verify the XKS proxy authentication credentials for your \
                 external key store and update if necessary."
            }
            HopFailure::Proxy(E::AccessDeniedException) => {
                "The external key store proxy denied access to the operation. Verify that the user \
                 and the external key are both authorized for this operation, and try the request \
                 again."
            }
            HopFailure::Proxy(E::KeyNotFoundException) => {
                "The external key associated with this KMS key in an external key store was not \
                 found in its external key manager. If the external key ID associated with this KMS \
                 key is incorrect, create a new KMS key with the correct external key ID."
            }
            HopFailure::Proxy(E::InvalidUriPathException) => {
                "The external key store proxy rejected the request because of an invalid URI path. \
                 Verify the URI path for your external key store and update if necessary."
            }
            HopFailure::Proxy(E::UnsupportedOperationException) => {
                "The external key store proxy rejected the request because it does not support the \
                 requested operation. If you see this error repeatedly, report it to your external \
                 key store proxy administrator."
            }
            HopFailure::Proxy(E::DependencyTimeoutException) => {
                "The external key store proxy did not respond to the request in the time allotted. \
                 Retry the request. If you see this error repeatedly, report it to your external key \
                 store proxy administrator."
            }
            HopFailure::Proxy(E::ThrottlingException) => {
                "The external key store proxy rejected the request due to a very high request rate. \
                 Reduce the frequency of your calls using KMS keys in this external key store."
            }
            HopFailure::Proxy(E::InternalException) => {
                "The external key store proxy rejected the request because it cannot communicate \
                 with the external key manager. Verify that the external key store proxy \
                 configuration is correct and that the external key manager is available."
            }
            HopFailure::Connect => {
                "AWS KMS cannot communicate with the external key store proxy. This might be a \
                 transient network issue. If you see this error repeatedly, verify that your \
                 external key store proxy is active and is connected to the network, and that its \
                 endpoint URI is correct in your external keystore."
            }
            HopFailure::Tls => {
                "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify \
                 the TLS configuration, including its certificate."
            }
            HopFailure::Timeout => {
                "AWS KMS rejected the request because the external key store proxy did not respond \
                 in time. Retry the request. If you see this error repeatedly, report it to your \
                 external key store proxy administrator."
            }
        }
    }
}

/// Where and as whom to call a proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyTarget<'a> {
    /// `https://host[:port]` (the port is a lab extension: real KMS always uses 443).
    pub uri_endpoint: &'a str,
    /// `[/prefix]/kms/xks/v1`.
    pub uri_path: &'a str,
    /// The SigV4 credential.
    pub access_key_id: &'a str,
    /// Its secret.
    pub secret_access_key: &'a str,
    /// The KMS region (the credential scope's region).
    pub region: &'a str,
}

/// The HTTP client KMS calls proxies with: the platform's trust roots plus the lab's own CA.
#[derive(Debug)]
pub struct HopClient {
    extra_ca: OnceLock<String>,
    client: OnceLock<reqwest::Client>,
    timeout_ms: AtomicU64,
}

impl Default for HopClient {
    fn default() -> Self {
        Self {
            extra_ca: OnceLock::new(),
            client: OnceLock::new(),
            timeout_ms: AtomicU64::new(HOP_TIMEOUT.as_millis() as u64),
        }
    }
}

impl HopClient {
    /// How long KMS waits for a proxy.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// Back to [`HOP_TIMEOUT`].
    pub(crate) fn reset_timeout(&self) {
        self.timeout_ms
            .store(HOP_TIMEOUT.as_millis() as u64, Ordering::Relaxed);
    }

    /// Changes it (1 ms to 60 s).
    pub fn set_timeout(&self, timeout: Duration) -> Result<(), String> {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        if !(1..=60_000).contains(&ms) {
            return Err(format!("the hop timeout must be 1-60000 ms, not {ms}"));
        }
        self.timeout_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// Trusts the lab's CA too (set once, before the first hop).
    pub fn trust_ca(&self, pem: &str) {
        let _ = self.extra_ca.set(pem.to_owned());
    }

    fn client(&self) -> Result<&reqwest::Client, HopFailure> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = self.extra_ca.get() {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|_| HopFailure::Tls)?;
            builder = builder.add_root_certificate(ca);
        }
        let client = builder.build().map_err(|_| HopFailure::Tls)?;
        Ok(self.client.get_or_init(|| client))
    }

    /// POSTs `body` to `target` + `api` (`/health`, `/keys/ID/encrypt`) and parses the reply.
    /// Returns the reply and the hop's real latency, or the failure and the latency.
    pub async fn call<T: DeserializeOwned>(
        &self,
        target: &ProxyTarget<'_>,
        api: &str,
        body: &impl Serialize,
    ) -> (Result<T, HopFailure>, Duration) {
        let watch = Stopwatch::start();
        let result = self.send(target, api, body).await;
        (result, watch.elapsed())
    }

    async fn send<T: DeserializeOwned>(
        &self,
        target: &ProxyTarget<'_>,
        api: &str,
        body: &impl Serialize,
    ) -> Result<T, HopFailure> {
        let client = self.client()?;
        let url: reqwest::Url = format!("{}{}{api}", target.uri_endpoint, target.uri_path)
            .parse()
            .map_err(|_| HopFailure::Connect)?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(HopFailure::Connect),
        };
        let body = serde_json::to_vec(body).map_err(|_| HopFailure::Malformed)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&host).map_err(|_| HopFailure::Connect)?,
        );
        sigv4::sign(
            &Credentials {
                access_key_id: target.access_key_id,
                secret_access_key: target.secret_access_key,
                session_token: None,
            },
            target.region,
            SIGV4_SERVICE,
            &mut SignedRequestMut {
                method: "POST",
                path: url.path(),
                query: None,
                headers: &mut headers,
                body: &body,
            },
            ekm_clock::wall_time(),
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let response = client
            .post(url)
            .timeout(self.timeout())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(classify)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| HopFailure::Malformed);
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).map_err(|_| HopFailure::Malformed)?;
        ErrorName::parse(&error.error_name)
            .map(|name| Err(HopFailure::Proxy(name)))
            .unwrap_or(Err(HopFailure::Malformed))
    }
}

fn classify(error: reqwest::Error) -> HopFailure {
    if error.is_timeout() {
        return HopFailure::Timeout;
    }
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return HopFailure::Tls;
        }
        source = cause.source();
    }
    if error.is_connect() {
        HopFailure::Connect
    } else {
        HopFailure::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_a_printable_message() {
        for failure in HopFailure::all() {
            let message = failure.kms_message();
            assert!(
                message.len() > 40 && !message.contains("  "),
                "{failure:?}: {message}"
            );
        }
    }
}
