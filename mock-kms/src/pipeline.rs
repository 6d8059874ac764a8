//! The one request pipeline every cloud front-end runs under: an axum middleware ([`layer`])
//! that times each request, hands the handler a [`Call`] to describe it, admits it past the
//! fault rules when the handler knows what it concerns ([`Call::admit_faults`]), and writes its
//! [`CallRecord`] to the call log when the answer leaves.
//!
//! A front-end's part is only what differs per cloud:
//! - it names the call ([`Call::name`]: the cloud's operation and its [`CallKind`]); a request
//!   it never names (a discovery document, an unknown path the cloud would not log) is not logged;
//! - its `admit()` authenticates the caller in the cloud's own way and says who it is
//!   ([`Call::caller`]);
//! - it names the key once resolved and asks the fault rules ([`Call::admit_faults`]), then
//!   renders an injected [`Failure`] in its cloud's dialect;
//! - its error answers carry the cloud's error code and message for the log ([`refused`]); any
//!   answer without one is logged as `ok`;
//! - it says what the cloud's audit record shows of the request ([`Call::principal`],
//!   [`Call::parameter`], [`Call::response`]); the pipeline adds the request's id, source,
//!   agent, URI and status ([`CallDetail`](crate::calls::CallDetail)).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use ekm_clock::Stopwatch;
use time::OffsetDateTime;

use crate::calls::CallRecord;
use crate::faults::Failure;
use crate::state::Kms;
use ekm_vocab::{CallKind, Cloud};

/// The middleware state: the lab and the cloud whose routes it wraps.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    lab: Arc<Kms>,
    cloud: Cloud,
}

impl Pipeline {
    /// The pipeline of `cloud`'s routes.
    pub(crate) fn new(lab: Arc<Kms>, cloud: Cloud) -> Self {
        Self { lab, cloud }
    }
}

/// The outcome an error answer carries for the call log: the cloud's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    code: String,
    message: String,
}

/// Marks `response` as a refusal with the cloud's error `code` (`AccessDeniedException`,
/// `PERMISSION_DENIED`, `invalid_grant`, `ForbiddenByRbac`, …) and `message` for the call log.
pub(crate) fn refused(mut response: Response, code: &str, message: &str) -> Response {
    response.extensions_mut().insert(Outcome {
        code: code.to_owned(),
        message: message.to_owned(),
    });
    response
}

/// One request being answered: what the call log will say about it, filled in by the front-end
/// as it understands the request. Cheap to clone (handlers take it as an extension).
#[derive(Debug, Clone)]
pub struct Call {
    pipeline: Pipeline,
    record: Arc<Mutex<Option<CallRecord>>>,
    request_id: Arc<str>,
}

impl Call {
    fn new(pipeline: Pipeline) -> Self {
        Self {
            pipeline,
            record: Arc::new(Mutex::new(None)),
            request_id: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// The request's id (a fresh UUID), for the cloud's answer and its audit record.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    fn record(&self) -> MutexGuard<'_, Option<CallRecord>> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Names the call: the cloud's operation (`Encrypt`, `token`, `wrapkey`, …) and what it
    /// does. Naming it again renames it and keeps what was learnt (caller, key).
    pub fn name(&self, operation: &str, kind: CallKind) {
        let mut record = self.record();
        match record.as_mut() {
            Some(record) => {
                operation.clone_into(&mut record.operation);
                record.kind = kind;
            }
            None => {
                *record = Some(CallRecord::new(self.pipeline.cloud, operation, kind));
            }
        }
    }

    /// The kind the call was named with ([`CallKind::Other`] before it is named).
    pub fn kind(&self) -> CallKind {
        self.record().as_ref().map_or(CallKind::Other, |r| r.kind)
    }

    /// Says who called (an access key id, a principal, an app id).
    pub fn caller(&self, caller: &str) {
        if let Some(record) = self.record().as_mut() {
            caller.clone_into(&mut record.caller);
        }
    }

    /// Says which cloud made the call, when the route serves more than one (the XKS proxy hears
    /// both AWS and GCP).
    pub fn provider(&self, cloud: Cloud) {
        if let Some(record) = self.record().as_mut() {
            record.provider = cloud;
        }
    }

    /// Marks the call as one side of an external key store hop (`xks-proxy`: the proxy's own
    /// answer), logged apart from the clouds' KMS calls.
    pub fn hop(&self, side: &str) {
        if let Some(record) = self.record().as_mut() {
            record.hop = Some(side.to_owned());
        }
    }

    /// Says which key (lab name) the call concerns.
    pub fn key(&self, key: &str) {
        if let Some(record) = self.record().as_mut() {
            record.key = Some(key.to_owned());
        }
    }

    /// Says who called in the cloud's identity form, when richer than [`Call::caller`] (a role
    /// session's ARN, an Entra object id), and since when its session runs.
    pub fn principal(&self, principal: &str, session_start: Option<OffsetDateTime>) {
        if let Some(record) = self.record().as_mut() {
            record.detail.principal = Some(principal.to_owned());
            record.detail.session_start = session_start;
        }
    }

    /// Records what the answer returned, as the cloud's audit log shows it (an `AssumeRole`'s
    /// new access key id and expiry — never the secret or the session token).
    pub fn response(&self, elements: serde_json::Value) {
        if let Some(record) = self.record().as_mut() {
            record.detail.response = Some(elements);
        }
    }

    /// Records one of the request's parameters as the cloud's audit log shows it (never a
    /// plaintext, ciphertext, key or secret).
    pub fn parameter(&self, name: &str, value: serde_json::Value) {
        if let Some(record) = self.record().as_mut() {
            record.detail.parameters.insert(name.to_owned(), value);
        }
    }

    /// Records why the customer's access documents refused the call (the decision's trace in
    /// short).
    pub fn denied_by(&self, trace: String) {
        if let Some(record) = self.record().as_mut() {
            record.trace = Some(trace);
        }
    }

    /// Fault admission for the call as named so far (its kind and key): waits any injected
    /// latency (a real delay), then answers the injected failure, if any.
    pub async fn admit_faults(&self) -> Result<(), Failure> {
        let (kind, key) = {
            let record = self.record();
            let record = record.as_ref();
            (
                record.map_or(CallKind::Other, |r| r.kind),
                record.and_then(|r| r.key.clone()),
            )
        };
        let lab = &self.pipeline.lab;
        let decision = lab
            .faults()
            .evaluate(self.pipeline.cloud, kind, key.as_deref(), lab.now());
        if let Some(latency) = decision.latency {
            tokio::time::sleep(latency).await;
        }
        decision.failure.map_or(Ok(()), Err)
    }
}

/// The middleware: times the request, gives the handler its [`Call`] (an extension), and logs
/// the call once answered.
pub(crate) async fn layer(
    State(pipeline): State<Pipeline>,
    mut request: Request,
    next: Next,
) -> Response {
    let watch = Stopwatch::start();
    let call = Call::new(pipeline.clone());
    let (host, user_agent) = {
        let text = |name| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in the Host header.
        let host = request
            .uri()
            .authority()
            .map(ToString::to_string)
            .or_else(|| text(header::HOST));
        (host, text(header::USER_AGENT))
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let source_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string());
    request.extensions_mut().insert(call.clone());
    let response = next.run(request).await;
    let record = call.record().take();
    if let Some(mut record) = record {
        if let Some(outcome) = response.extensions().get::<Outcome>() {
            record.outcome.clone_from(&outcome.code);
            record.detail.error_message = Some(outcome.message.clone());
        }
        record.latency_ms = watch.elapsed().as_secs_f64() * 1000.0;
        let detail = &mut record.detail;
        detail.request_id = call.request_id.to_string();
        detail.source_ip = source_ip;
        detail.user_agent = user_agent;
        detail.uri = format!("{}{path}", host.unwrap_or_default());
        detail.status = response.status().as_u16();
        pipeline.lab.log_call(record);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn serve(router: Router, lab: &Arc<Kms>) {
        let router = router.layer(axum::middleware::from_fn_with_state(
            Pipeline::new(lab.clone(), Cloud::Gcp),
            layer,
        ));
        let request = Request::builder().uri("/").body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap();
    }

    fn lab() -> Arc<Kms> {
        Arc::new(Kms::new(
            Arc::new(ekm_clock::ManualClock::default()),
            crate::tenant::Tenant::default(),
            "https://127.0.0.1:1".to_owned(),
        ))
    }

    #[tokio::test]
    async fn named_calls_are_logged_with_their_outcome_and_unnamed_ones_are_not() {
        let lab = lab();
        serve(Router::new().route("/", get(|| async {})), &lab).await;
        assert!(lab.calls().since(0).calls.is_empty());

        let refusal = |axum::Extension(call): axum::Extension<Call>| async move {
            call.name("encrypt", CallKind::Wrap);
            call.caller("someone");
            call.key("k");
            refused(Response::new(Body::empty()), "PERMISSION_DENIED", "no")
        };
        serve(Router::new().route("/", get(refusal)), &lab).await;
        let calls = lab.calls().since(0).calls;
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(
            (
                call.provider,
                call.operation.as_str(),
                call.kind,
                call.key.as_deref(),
                call.caller.as_str(),
                call.outcome.as_str()
            ),
            (
                Cloud::Gcp,
                "encrypt",
                CallKind::Wrap,
                Some("k"),
                "someone",
                "PERMISSION_DENIED"
            )
        );
    }

    #[tokio::test]
    async fn faults_see_the_kind_and_key_named_so_far() {
        let lab = lab();
        let fault: ekm_vocab::Fault = serde_json::from_value(serde_json::json!(
            {"provider": "gcp", "key": "k", "error": "internal"}
        ))
        .unwrap();
        lab.set_faults(vec![fault]).unwrap();
        let call = Call::new(Pipeline::new(lab.clone(), Cloud::Gcp));
        call.name("encrypt", CallKind::Wrap);
        assert_eq!(call.admit_faults().await, Ok(()));
        call.key("k");
        assert_eq!(call.admit_faults().await, Err(Failure::Internal));
    }
}
