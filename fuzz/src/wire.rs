//! Fuzz inputs for the mock's HTTP surfaces: one or more raw HTTP/1.1 requests, as a client would
//! put them on the wire. Seeds are real requests in that form (see `seeds/`), which libFuzzer
//! mutates as text.
//!
//! Requests follow each other; a request's body is `Content-Length` bytes when that header is
//! present and parses, else the rest of the input, and the request is sent with the
//! `Content-Length` of the body it got. A request whose request line, header name or
//! header value hyper would refuse before routing is skipped, as hyper never hands it to axum.
//!
//! One pseudo-header steers the harness and is never sent: `x-fuzz-as: owner | service |
//! anonymous` says whom the harness signs (AWS SigV4) or authenticates (GCP, Azure bearer token)
//! a request as when it carries no `authorization` header of its own (default: owner). A request
//! that does carry one is sent exactly as written, so the signature and token parsers are fuzzed
//! too.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};

/// At most this many requests are taken from one input.
pub const MAX_REQUESTS: usize = 8;
/// At most this many headers per request.
const MAX_HEADERS: usize = 32;

/// Whom a request without its own `authorization` header is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The customer administrator (AWS admin key, GCP owner token, Azure admin app).
    Owner,
    /// The EKM service (AWS AssumeRole session, GCP STS token, Azure service principal).
    Service,
    /// Nobody: no credentials are added.
    Anonymous,
}

/// One request, parsed from the input.
#[derive(Debug)]
pub struct RawRequest {
    /// Method.
    pub method: Method,
    /// Path and query, as sent.
    pub uri: Uri,
    /// Headers, the pseudo-header removed.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Whom to authenticate as, when `authorization` is absent.
    pub identity: Identity,
}

impl RawRequest {
    /// Whether the request carries its own credentials.
    pub fn has_authorization(&self) -> bool {
        self.headers.contains_key(axum::http::header::AUTHORIZATION)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The request for the router.
    pub fn into_request(self) -> Request<Body> {
        let mut request = Request::new(Body::from(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.headers_mut() = self.headers;
        request
    }
}

/// Splits `data` into requests (at most [`MAX_REQUESTS`]); unparseable ones end the sequence.
pub fn requests(mut data: &[u8]) -> Vec<RawRequest> {
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < MAX_REQUESTS {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(data) else {
            break;
        };
        let rest = &data[head_len..];
        let length = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(rest.len(), |n| n.min(rest.len()));
        let (body, next) = rest.split_at(length);
        if let Some(request) = build(&parsed, body) {
            out.push(request);
        }
        data = next;
    }
    out
}

fn build(parsed: &httparse::Request<'_, '_>, body: &[u8]) -> Option<RawRequest> {
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    let uri: Uri = parsed.path?.parse().ok()?;
    // hyper hands axum origin-form targets only.
    uri.path_and_query()?;
    if uri.scheme().is_some() {
        return None;
    }
    let mut identity = Identity::Owner;
    let mut headers = HeaderMap::new();
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("x-fuzz-as") {
            identity = match header.value {
                b"service" => Identity::Service,
                b"anonymous" => Identity::Anonymous,
                _ => Identity::Owner,
            };
            continue;
        }
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(header.value).ok()?;
        headers.append(name, value);
    }
    // What hyper hands on always agrees with the bytes read.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Some(RawRequest {
        method,
        uri,
        headers,
        body: body.to_vec(),
        identity,
    })
}
