//! AWS Signature Version 4 (`AWS4-HMAC-SHA256` in the `Authorization` header), both ways.
//!
//! [`Authorization::from_headers`] parses what the client sent and [`verify`] rebuilds the
//! canonical request from the request as it arrived — the client's own `SignedHeaders` list,
//! the path and query URI-encoded per the AWS spec, the SHA-256 of the body actually received —
//! and checks the signature with the caller's secret, in constant time. [`sign`] is the client
//! side, for the lab's own tools (the load benchmark, the bad-input tests): it shares the
//! canonical-request code with the verifier.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// The only algorithm AWS accepts in the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far the request date may be from wall-clock time (AWS allows 15 minutes).
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

const AMZ_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

type HmacSha256 = Hmac<Sha256>;

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No `Authorization` header at all.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// The header or the date is malformed (AWS `IncompleteSignatureException`).
    #[error("{0}")]
    Incomplete(String),
    /// The signature does not match, the date is too far off, or the scope is wrong (AWS
    /// `InvalidSignatureException` / `SignatureDoesNotMatch`).
    #[error("{0}")]
    Invalid(String),
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id (`AKIA…` or `ASIA…`).
    pub access_key_id: String,
    /// The credential scope's date (`YYYYMMDD`).
    pub date: String,
    /// The credential scope's region.
    pub region: String,
    /// The credential scope's service (`kms`, `sts`).
    pub service: String,
    /// Lowercase header names, in the client's order.
    pub signed_headers: Vec<String>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Authorization {
    /// Parses the request's `Authorization` header. Like AWS, refuses a request with two
    /// `Authorization` headers or a component (`Credential`, `SignedHeaders`, `Signature`) given
    /// twice: which one counts would be ambiguous.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, SigV4Error> {
        let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
        let value = values.next().ok_or(SigV4Error::Missing)?;
        let incomplete = |why: &str| SigV4Error::Incomplete(why.to_owned());
        if values.next().is_some() {
            return Err(incomplete(
                "The request has more than one Authorization header; send exactly one.",
            ));
        }
        let value = value
            .to_str()
            .map_err(|_| incomplete("Authorization header is not ASCII"))?;
        let rest = value
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or_else(|| incomplete("Authorization header must use AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| incomplete("Authorization header is malformed"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(incomplete("Authorization header has an unknown component")),
            };
            if slot.replace(value).is_some() {
                return Err(SigV4Error::Incomplete(format!(
                    "Authorization header has '{name}' more than once."
                )));
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(incomplete(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
            ));
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(incomplete(
                "Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
        if signed_headers.iter().any(|h| h.is_empty()) {
            return Err(incomplete("SignedHeaders must not name an empty header"));
        }
        let signature = hex::decode(signature).map_err(|_| incomplete("Signature must be hex"))?;
        if access_key_id.is_empty() {
            return Err(incomplete("Credential has no access key id"));
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature,
        })
    }
}

/// What a signature must be for: the credential scope the endpoint expects and the headers it
/// requires to be signed.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The endpoint's region (`us-east-1`).
    pub region: &'a str,
    /// The signing name of the service (`kms`, `sts`).
    pub service: &'a str,
    /// Headers that must be in `SignedHeaders`, as AWS writes them in its error (`Host`,
    /// `X-Amz-Target`).
    pub must_sign: &'a [&'a str],
}

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// The path as sent on the wire (already percent-encoded once).
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The body as received.
    pub body: &'a [u8],
}

/// Checks `auth` against the request, with the caller's `secret`, for `scope`, at wall time
/// `now`.
pub fn verify(
    auth: &Authorization,
    request: &SignedRequest<'_>,
    secret: &str,
    scope: &Scope<'_>,
    now: OffsetDateTime,
) -> Result<(), SigV4Error> {
    if let Some(unsigned) = scope.must_sign.iter().find(|name| {
        !auth
            .signed_headers
            .iter()
            .any(|signed| signed.eq_ignore_ascii_case(name))
    }) {
        return Err(SigV4Error::Invalid(format!(
            "'{unsigned}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }
    if auth.region != scope.region {
        return Err(SigV4Error::Invalid(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )));
    }
    if auth.service != scope.service {
        return Err(SigV4Error::Invalid(format!(
            "Credential should be scoped to correct service: '{}'. ",
            scope.service
        )));
    }
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            SigV4Error::Incomplete("Authorization header requires an 'X-Amz-Date' header".into())
        })?;
    let signed_at = time::PrimitiveDateTime::parse(amz_date, AMZ_DATE)
        .map_err(|_| SigV4Error::Incomplete(format!("X-Amz-Date `{amz_date}` is malformed")))?
        .assume_utc();
    if (signed_at - now).abs() > MAX_SKEW {
        return Err(SigV4Error::Invalid(format!(
            "Signature expired: {amz_date} is more than 15 minutes from the server time"
        )));
    }
    if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        return Err(SigV4Error::Invalid(
            "Credential scope date does not match X-Amz-Date".into(),
        ));
    }
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let canonical = canonical_request(request, &auth.signed_headers);
    let mut mac = signing_mac(secret, &auth.date, &auth.region, &auth.service);
    mac.update(string_to_sign(amz_date, &scope, &canonical).as_bytes());
    mac.verify_slice(&auth.signature).map_err(|_| {
        SigV4Error::Invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .into(),
        )
    })
}

/// Credentials to sign with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token of temporary (`ASIA…`) credentials.
    pub session_token: Option<&'a str>,
}

/// Signs a request as an AWS SDK does: adds `x-amz-date`, `x-amz-security-token` (for session
/// credentials) and `authorization` to `headers`, signing every header present (which must
/// include `host`).
pub fn sign(
    credentials: &Credentials<'_>,
    region: &str,
    service: &str,
    request: &mut SignedRequestMut<'_>,
    now: OffsetDateTime,
) {
    let amz_date = now.format(AMZ_DATE).unwrap_or_default();
    let date = &amz_date[..amz_date.len().min(8)];
    let headers = &mut *request.headers;
    if let Ok(value) = HeaderValue::from_str(&amz_date) {
        headers.insert(HeaderName::from_static("x-amz-date"), value);
    }
    if let Some(token) = credentials.session_token
        && let Ok(value) = HeaderValue::from_str(token)
    {
        headers.insert(HeaderName::from_static("x-amz-security-token"), value);
    }
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    let view = SignedRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers,
        body: request.body,
    };
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let canonical = canonical_request(&view, &names);
    let mut mac = signing_mac(credentials.secret_access_key, date, region, service);
    mac.update(string_to_sign(&amz_date, &scope, &canonical).as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let value = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        credentials.access_key_id,
        names.join(";")
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(axum::http::header::AUTHORIZATION, value);
    }
}

/// A request being signed: like [`SignedRequest`], with headers the signer may add to.
#[derive(Debug)]
pub struct SignedRequestMut<'a> {
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// The path as it will be sent (percent-encoded once).
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The headers (must contain `host`); the signer adds its own.
    pub headers: &'a mut HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

fn signing_mac(secret: &str, date: &str, region: &str, service: &str) -> HmacSha256 {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable_hmac())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// HMAC accepts keys of any length, so `new_from_slice` cannot fail; this keeps that
/// impossibility explicit without an `unwrap`.
fn unreachable_hmac() -> HmacSha256 {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    // `name:value,value` with each value's runs of whitespace as one space, written in place.
    let mut headers = String::with_capacity(512);
    for name in signed_headers {
        headers.push_str(name);
        headers.push(':');
        for (i, value) in request.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                headers.push(',');
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            for (j, word) in value.split_whitespace().enumerate() {
                if j > 0 {
                    headers.push(' ');
                }
                headers.push_str(word);
            }
        }
        headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{}",
        request.method,
        encode(request.path, false),
        canonical_query(request.query.unwrap_or_default()),
        signed_headers.join(";"),
        hex::encode(Sha256::digest(request.body)),
    )
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
            (
                encode_bytes(&decode(name), true),
                encode_bytes(&decode(value), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS URI encoding: everything but `A-Z a-z 0-9 - _ . ~` (and `/` unless `slash`) as `%XX`.
fn encode(s: &str, slash: bool) -> String {
    encode_bytes(s.as_bytes(), slash)
}

fn encode_bytes(bytes: &[u8], slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-01 12:00:00 UTC)
    }

    fn signed(query: Option<&str>, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:4599"));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("TrentService.Encrypt"),
        );
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "secret",
            session_token: Some("tok"),
        };
        sign(
            &creds,
            "us-east-1",
            "kms",
            &mut SignedRequestMut {
                method: "POST",
                path: "/a b/",
                query,
                headers: &mut headers,
                body,
            },
            now(),
        );
        headers
    }

    const KMS: Scope<'static> = Scope {
        region: "us-east-1",
        service: "kms",
        must_sign: &["Host", "X-Amz-Target"],
    };

    /// The test requests: `POST /a b/` with these headers, query and body.
    fn post<'a>(
        headers: &'a HeaderMap,
        query: Option<&'a str>,
        body: &'a [u8],
    ) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path: "/a b/",
            query,
            headers,
            body,
        }
    }

    fn check(
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
        secret: &str,
    ) -> Result<(), SigV4Error> {
        let auth = Authorization::from_headers(headers)?;
        verify(&auth, &post(headers, query, body), secret, &KMS, now())
    }

    #[test]
    fn sign_then_verify_round_trips_and_detects_changes() {
        let query = Some("b=2&a=%20x&c");
        let headers = signed(query, b"{}");
        assert_eq!(check(&headers, query, b"{}", "secret"), Ok(()));
        assert!(matches!(
            check(&headers, query, b"{ }", "secret"),
            Err(SigV4Error::Invalid(_))
        ));
        assert!(matches!(
            check(&headers, query, b"{}", "other"),
            Err(SigV4Error::Invalid(_))
        ));
        assert!(matches!(
            check(&headers, Some("a=1"), b"{}", "secret"),
            Err(SigV4Error::Invalid(_))
        ));
        let mut tampered = headers.clone();
        tampered.insert("x-amz-security-token", HeaderValue::from_static("other"));
        assert!(matches!(
            check(&tampered, query, b"{}", "secret"),
            Err(SigV4Error::Invalid(_))
        ));
    }

    #[test]
    fn skew_scope_and_malformed_headers_are_refused() {
        let headers = signed(None, b"");
        let auth = Authorization::from_headers(&headers).unwrap();
        let request = post(&headers, None, b"");
        let late = now() + time::Duration::minutes(16);
        assert!(
            matches!(verify(&auth, &request, "secret", &KMS, late), Err(SigV4Error::Invalid(m)) if m.contains("expired"))
        );
        let sts = Scope {
            service: "sts",
            ..KMS
        };
        assert!(matches!(
            verify(&auth, &request, "secret", &sts, now()),
            Err(SigV4Error::Invalid(_))
        ));
        assert_eq!(
            Authorization::from_headers(&HeaderMap::new()),
            Err(SigV4Error::Missing)
        );
        for bad in [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host;;x, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00, Signature=11",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Credential=e/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "Basic abc",
        ] {
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_static(bad));
            assert!(
                matches!(
                    Authorization::from_headers(&h),
                    Err(SigV4Error::Incomplete(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_region_unsigned_target_and_repeated_headers_are_refused() {
        let headers = signed(None, b"{}");
        let auth = Authorization::from_headers(&headers).unwrap();
        let request = post(&headers, None, b"{}");
        let elsewhere = Scope {
            region: "eu-west-1",
            ..KMS
        };
        assert_eq!(
            verify(&auth, &request, "secret", &elsewhere, now()),
            Err(SigV4Error::Invalid(
                "Credential should be scoped to a valid region, not 'us-east-1'. ".into()
            ))
        );

        // Signed without the target: the operation could be swapped under a valid signature.
        let mut unsigned_target = headers.clone();
        unsigned_target.remove("x-amz-target");
        unsigned_target.remove("authorization");
        let mut target_less = unsigned_target.clone();
        sign(
            &Credentials {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: "secret",
                session_token: Some("tok"),
            },
            "us-east-1",
            "kms",
            &mut SignedRequestMut {
                method: "POST",
                path: "/a b/",
                query: None,
                headers: &mut target_less,
                body: b"{}",
            },
            now(),
        );
        target_less.insert(
            "x-amz-target",
            HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
        );
        assert_eq!(
            check(&target_less, None, b"{}", "secret"),
            Err(SigV4Error::Invalid(
                "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.".into()
            ))
        );

        let mut twice = headers.clone();
        let auth_value = twice.get("authorization").unwrap().clone();
        twice.append("authorization", auth_value);
        assert!(matches!(
            Authorization::from_headers(&twice),
            Err(SigV4Error::Incomplete(m)) if m.contains("more than one Authorization")
        ));
        let doubled = format!(
            "{}, Signature={}",
            headers.get("authorization").unwrap().to_str().unwrap(),
            "00".repeat(32)
        );
        let mut repeated = headers.clone();
        repeated.insert("authorization", HeaderValue::from_str(&doubled).unwrap());
        assert!(matches!(
            Authorization::from_headers(&repeated),
            Err(SigV4Error::Incomplete(m)) if m.contains("'Signature' more than once")
        ));
    }

    #[test]
    fn query_and_path_are_encoded_per_the_spec() {
        assert_eq!(canonical_query("b=2&a=%20x&c&a=+"), "a=%20x&a=%2B&b=2&c=");
        assert_eq!(encode("/a b/%2F", false), "/a%20b/%252F");
    }

    #[test]
    fn canonical_headers_join_values_and_squeeze_whitespace() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("kms.local"));
        headers.append("x-amz-meta", HeaderValue::from_static("  a   b "));
        headers.append("x-amz-meta", HeaderValue::from_static("c\td"));
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let signed = ["host".to_owned(), "x-amz-meta".to_owned()];
        let canonical = canonical_request(&request, &signed);
        assert!(
            canonical.contains("\nhost:kms.local\nx-amz-meta:a b,c d\n\nhost;x-amz-meta\n"),
            "{canonical}"
        );
    }
}
