//! The mock KMS driven in process: the real axum routers ([`Routers`], exactly what
//! `MockKms::start` serves) called with `tower::ServiceExt::oneshot`, no sockets.
//!
//! The oracle for every request: no panic, no hang (libFuzzer's `-timeout`), and no 5xx unless
//! the input itself injected a fault through the control API (`PUT /_mock/v1/faults`), in which
//! case the clouds' own 5xx (outage, internal) are the documented answer.
//!
//! Time: the lab runs on a [`ManualClock`] ([`CaseClock`] for the control lab, which each input
//! starts afresh). Injected latency is a real delay (tokio sleeps), so
//! the harness sets every `latency_ms` of a fault rule it sends to 0: a configured wait is not a
//! hang, and a hang is then a real deadlock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use ekm_clock::{Clock, ClockError, ManualClock, SharedClock};
use ekm_mock_kms::aws::sigv4::{self, Credentials, SignedRequestMut};
use ekm_mock_kms::gcp::OWNER_ACCESS_TOKEN;
use ekm_mock_kms::keys::KeySpec;
use ekm_mock_kms::server::Routers;
use ekm_mock_kms::state::{Kms, KmsState};
use ekm_mock_kms::tenant::Tenant;
use ekm_vocab::Cloud;
use time::OffsetDateTime;
use tower::ServiceExt;

use crate::wire::{self, Identity, RawRequest};

/// Where the vault pretends to live (Azure key ids are rendered under it).
const VAULT_URL: &str = "https://127.0.0.1:4600";
/// The `host` header added when a request has none.
const HTTP_HOST: &str = "127.0.0.1:4599";
/// Largest response body read back.
const MAX_RESPONSE: usize = 1 << 20;

/// Which surface a fuzz target drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The http listener (control API, AWS KMS + STS, GCP KMS + STS + identity) on a lab every
    /// input starts afresh (keys, documents, call log, faults, XKS, clock: [`Kms::restore`] and
    /// [`CaseClock`]), so a sequence of control calls (clock, faults, key actions) reproduces
    /// alone. The routers are built once per [`REBUILD_EVERY`] inputs: building them was half
    /// the time of a fresh lab per input.
    Control,
    /// The http listener's cloud routes (AWS and GCP), on a long-lived lab; control routes other
    /// than GCP's identity provider are skipped so the lab stays fault-free.
    Http,
    /// The https listener (Azure Key Vault keys API and Entra ID), on a long-lived lab.
    Azure,
}

/// Credentials the harness adds to requests that carry none.
#[derive(Debug, Default)]
struct Sessions {
    /// AWS `AssumeRole` session: (access key, secret, token).
    aws: Option<(String, String, String)>,
    /// GCP STS access token of the service.
    gcp: Option<String>,
    /// Azure tokens: (owner, service).
    azure: Option<(String, String)>,
}

/// The control lab's clock: a [`ManualClock`] that [`CaseClock::rewind`] replaces with a new
/// one, as an input may move lab time up to the horizon and a lab clock never goes back.
#[derive(Debug, Default)]
pub struct CaseClock(Mutex<Arc<ManualClock>>);

impl CaseClock {
    fn current(&self) -> Arc<ManualClock> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Back to [`ManualClock::default`]'s start.
    fn rewind(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Arc::default();
    }
}

impl Clock for CaseClock {
    fn now(&self) -> OffsetDateTime {
        self.current().now()
    }

    fn advance(&self, by: Duration) {
        self.current().advance(by);
    }

    fn try_advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError> {
        self.current().try_advance(by)
    }
}

/// What every control-lab input starts from.
#[derive(Debug)]
struct Start {
    clock: Arc<CaseClock>,
    state: KmsState,
}

/// A lab, its routers and the credentials to call them with.
#[derive(Debug)]
pub struct Mock {
    lab: Arc<Kms>,
    routers: Routers,
    sessions: Sessions,
    /// The control lab's start, restored before each input.
    start: Option<Start>,
    /// Inputs run on this lab so far.
    runs: u32,
}

/// A long-lived lab (and the control lab's routers) is rebuilt after this many inputs, bounding
/// state drift and memory (the routers' STS sessions and tokens).
const REBUILD_EVERY: u32 = 4096;

impl Mock {
    /// A new lab. The long-lived ones get the demo tenant's keys and sign in the service
    /// identity; the control lab gets symmetric `aws-demo` (with its alias) and `gcp-demo` only,
    /// as it once was built per input and `azure-demo`'s RSA key was too slow for that.
    async fn new(surface: Surface) -> Self {
        let case_clock = Arc::new(CaseClock::default());
        let clock: SharedClock = match surface {
            Surface::Control => case_clock.clone(),
            Surface::Http | Surface::Azure => Arc::new(ManualClock::default()),
        };
        let lab = Arc::new(Kms::new(clock, Tenant::default(), VAULT_URL.to_owned()));
        let mut start = None;
        if surface != Surface::Control {
            lab.seed_demo_keys().expect("seed the demo keys");
        } else {
            lab.create_key("aws-demo", Cloud::Aws, KeySpec::SymmetricDefault)
                .expect("create aws-demo");
            lab.create_key("gcp-demo", Cloud::Gcp, KeySpec::SymmetricDefault)
                .expect("create gcp-demo");
            let alias = lab.tenant().aws.demo_alias.clone();
            lab.set_alias(&alias, "aws-demo").expect("alias aws-demo");
            start = Some(Start {
                clock: case_clock,
                state: lab.read(KmsState::clone),
            });
        }
        let routers = Routers::new(&lab);
        let mut mock = Self {
            lab,
            routers,
            sessions: Sessions::default(),
            start,
            runs: 0,
        };
        match surface {
            Surface::Control => {}
            Surface::Http => {
                mock.sessions.aws = Some(mock.assume_role().await);
                mock.sessions.gcp = Some(mock.gcp_token().await);
            }
            Surface::Azure => {
                let azure = mock.lab.tenant().azure.clone();
                let owner = mock
                    .azure_token(&azure.admin_app_id, &azure.admin_client_secret)
                    .await;
                let service = mock
                    .azure_token(&azure.service_app_id, &azure.service_client_secret)
                    .await;
                mock.sessions.azure = Some((owner, service));
            }
        }
        mock
    }

    /// Puts the control lab back to its start (nothing for the long-lived labs).
    fn restart(&self) {
        if let Some(start) = &self.start {
            start.clock.rewind();
            self.lab.restore(start.state.clone());
        }
    }

    fn router(&self, surface: Surface) -> Router {
        match surface {
            Surface::Azure => self.routers.https.clone(),
            Surface::Control | Surface::Http => self.routers.http.clone(),
        }
    }

    /// Sends one request as is; returns status and body.
    async fn send(&self, surface: Surface, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self
            .router(surface)
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), MAX_RESPONSE)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        (status, body)
    }

    /// A setup call that must succeed.
    async fn setup(&self, surface: Surface, raw: RawRequest, what: &str) -> Vec<u8> {
        let raw = self.authenticate(surface, raw);
        let (status, body) = self.send(surface, raw.into_request()).await;
        assert!(
            status.is_success(),
            "harness setup `{what}` failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    async fn assume_role(&self) -> (String, String, String) {
        let tenant = self.lab.tenant();
        let form = serde_urlencoded::to_string([
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", tenant.aws.role_arn.as_str()),
            ("RoleSessionName", "ekm-fuzz"),
            ("DurationSeconds", "3600"),
            ("ExternalId", tenant.project_id.as_str()),
        ])
        .expect("form");
        let raw = post(
            "/",
            "application/x-www-form-urlencoded",
            form,
            Identity::Service,
        );
        let xml = String::from_utf8(self.setup(Surface::Http, raw, "AssumeRole").await)
            .expect("utf-8 XML");
        let field = |tag: &str| {
            let open = format!("<{tag}>");
            let start = xml.find(&open).expect(tag) + open.len();
            let end = start + xml[start..].find('<').expect(tag);
            xml[start..end].to_owned()
        };
        (
            field("AccessKeyId"),
            field("SecretAccessKey"),
            field("SessionToken"),
        )
    }

    async fn gcp_token(&self) -> String {
        let tenant = self.lab.tenant();
        let body = serde_json::json!({ "audience": tenant.project_id }).to_string();
        let raw = post(
            "/_mock/v1/identity/gcp-id-token",
            "application/json",
            body,
            Identity::Anonymous,
        );
        let reply = self.setup(Surface::Http, raw, "gcp-id-token").await;
        let id_token = json_field(&reply, "id_token");
        let form = serde_urlencoded::to_string([
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("subject_token", id_token.as_str()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("audience", tenant.gcp.sts_audience().as_str()),
            ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ])
        .expect("form");
        let raw = post(
            "/v1/token",
            "application/x-www-form-urlencoded",
            form,
            Identity::Anonymous,
        );
        json_field(
            &self.setup(Surface::Http, raw, "GCP STS").await,
            "access_token",
        )
    }

    async fn azure_token(&self, client_id: &str, secret: &str) -> String {
        let tenant = &self.lab.tenant().azure.tenant_id;
        let form = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .expect("form");
        let raw = post(
            &format!("/{tenant}/oauth2/v2.0/token"),
            "application/x-www-form-urlencoded",
            form,
            Identity::Anonymous,
        );
        json_field(
            &self.setup(Surface::Azure, raw, "Entra token").await,
            "access_token",
        )
    }

    /// Adds `host` when missing, and credentials when the request carries none.
    fn authenticate(&self, surface: Surface, mut raw: RawRequest) -> RawRequest {
        if !raw.headers.contains_key(header::HOST) {
            raw.headers
                .insert(header::HOST, HeaderValue::from_static(HTTP_HOST));
        }
        if raw.has_authorization() || raw.identity == Identity::Anonymous {
            return raw;
        }
        let owner = raw.identity == Identity::Owner;
        match surface {
            Surface::Control | Surface::Http if raw.path() == "/" => self.sign_aws(raw, owner),
            Surface::Control | Surface::Http => {
                let token = match &self.sessions.gcp {
                    Some(service) if !owner => service.as_str(),
                    _ => OWNER_ACCESS_TOKEN,
                };
                bearer(raw, token)
            }
            Surface::Azure => match &self.sessions.azure {
                Some((owner_token, service)) => {
                    let token = if owner { owner_token } else { service };
                    bearer(raw, &token.clone())
                }
                None => raw,
            },
        }
    }

    /// SigV4-signs an AWS request: KMS (it names an `x-amz-target`) or STS.
    fn sign_aws(&self, mut raw: RawRequest, owner: bool) -> RawRequest {
        let aws = &self.lab.tenant().aws;
        let kms = raw.headers.contains_key("x-amz-target");
        let credentials = match (&self.sessions.aws, owner, kms) {
            (_, true, _) => Credentials {
                access_key_id: &aws.admin_access_key_id,
                secret_access_key: &aws.admin_secret_access_key,
                session_token: None,
            },
            (Some((id, secret, token)), false, true) => Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: Some(token),
            },
            (_, false, _) => Credentials {
                access_key_id: &aws.service_access_key_id,
                secret_access_key: &aws.service_secret_access_key,
                session_token: None,
            },
        };
        let method = raw.method.as_str().to_owned();
        let path = raw.uri.path().to_owned();
        let query = raw.uri.query().map(str::to_owned);
        sigv4::sign(
            &credentials,
            &aws.region,
            if kms { "kms" } else { "sts" },
            &mut SignedRequestMut {
                method: &method,
                path: &path,
                query: query.as_deref(),
                headers: &mut raw.headers,
                body: &raw.body,
            },
            ekm_clock::wall_time(),
        );
        raw
    }

    /// Runs one input: each request in turn, checking the oracle after each.
    async fn run(&self, surface: Surface, data: &[u8]) {
        for raw in wire::requests(data) {
            let control = raw.path().starts_with("/_mock/");
            if surface == Surface::Http && control && !raw.path().starts_with("/_mock/v1/identity/")
            {
                continue;
            }
            let raw = without_latency(self.authenticate(surface, raw));
            let summary = format!("{} {}", raw.method, raw.uri);
            let (status, body) = self.send(surface, raw.into_request()).await;
            let injected = !control && !self.lab.faults().list(self.lab.now()).is_empty();
            assert!(
                !status.is_server_error() || injected,
                "{summary} answered {status} without an injected fault: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

fn post(path: &str, content_type: &str, body: String, identity: Identity) -> RawRequest {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("content type"),
    );
    RawRequest {
        method: Method::POST,
        uri: path.parse().expect("path"),
        headers,
        body: body.into_bytes(),
        identity,
    }
}

/// A fault-rule list with every numeric `latency_ms` set to 0; any other body unchanged.
fn without_latency(mut raw: RawRequest) -> RawRequest {
    if raw.path() != "/_mock/v1/faults" {
        return raw;
    }
    let Ok(serde_json::Value::Array(mut rules)) = serde_json::from_slice(&raw.body) else {
        return raw;
    };
    for rule in &mut rules {
        if let Some(latency) = rule.get_mut("latency_ms")
            && latency.is_number()
        {
            *latency = 0.into();
        }
    }
    raw.body = serde_json::to_vec(&rules).expect("JSON");
    raw.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(raw.body.len()));
    raw
}

fn bearer(mut raw: RawRequest, token: &str) -> RawRequest {
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        raw.headers.insert(header::AUTHORIZATION, value);
    }
    raw
}

fn json_field(body: &[u8], field: &str) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).expect("JSON reply");
    value[field].as_str().expect(field).to_owned()
}

/// The per-process harness: a current-thread runtime and the surface's lab.
#[derive(Debug)]
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    surface: Surface,
    mock: Option<Mock>,
}

impl Harness {
    /// A harness for `surface`.
    pub fn new(surface: Surface) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime");
        Self {
            runtime,
            surface,
            mock: None,
        }
    }

    /// Runs one fuzz input against the surface.
    pub fn run(&mut self, data: &[u8]) {
        let surface = self.surface;
        if self.mock.as_ref().is_none_or(|m| m.runs >= REBUILD_EVERY) {
            self.mock = Some(self.runtime.block_on(Mock::new(surface)));
        }
        let mock = self.mock.as_mut().expect("built above");
        mock.runs += 1;
        let mock = &*mock;
        mock.restart();
        self.runtime.block_on(mock.run(surface, data));
    }
}
