//! The customer's audit logs: every logged call of a cloud, allowed or denied, rendered as that
//! cloud's own audit record (facts and sources: DESIGN.md §9) —
//! - AWS: CloudTrail events of KMS, STS and IAM ([`cloudtrail`]);
//! - GCP: Cloud Audit Logs `LogEntry`s of Cloud KMS, STS and IAM credentials
//!   ([`cloud_audit_logs`]);
//! - Azure: Azure Monitor Key Vault `AuditEvent` records ([`key_vault`]).
//!
//! Records are rendered from the call log ([`crate::calls`], its [`CallDetail`]) on reading, so
//! they cover what the log still holds (its last 10,000 calls by default), in its order, and read
//! the same every time. Times are lab time. A record never holds a plaintext, a ciphertext, key
//! material or a credential's secret: the front-ends log only the request fields the clouds log
//! (an AWS encryption context is logged, a GCP additional authenticated data is not — Cloud KMS
//! does not log it).
//!
//! Served at `GET /_mock/v1/audit/{aws|gcp|azure}?since=SEQ` as JSON lines
//! (`application/x-ndjson`, one record a line, oldest first), with the `since` to pass next in
//! the `x-mock-next` header: the same bytes a customer's log export holds, ready to append to a
//! file.
//!
//! What the clouds would not log is left out: the external key store hop's calls (the customer's
//! proxy keeps its own log), requests no one could be identified for (AWS: a bad or missing
//! signature; GCP: a missing or invalid token), the lab identity provider, and on Azure the
//! Entra sign-ins and Microsoft Graph calls (Entra's sign-in and audit logs, not `AuditEvent`).

pub mod cloud_audit_logs;
pub mod cloudtrail;
pub mod key_vault;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::calls::{CallDetail, CallRecord};
use crate::state::Kms;
use ekm_vocab::Cloud;

/// The media type of the audit routes' answers.
pub const JSON_LINES: &str = "application/x-ndjson";

/// The header carrying the `since` to pass next.
pub const NEXT_HEADER: &str = "x-mock-next";

/// A page of one cloud's audit records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The records of calls after the requested sequence number, oldest first.
    pub records: Vec<Value>,
    /// Pass this as `since` to get only newer records.
    pub next: u64,
}

impl AuditPage {
    /// The records as JSON lines: one record a line, each line ending in `\n`.
    pub fn json_lines(&self) -> String {
        self.records
            .iter()
            .map(|record| format!("{record}\n"))
            .collect()
    }
}

/// `cloud`'s audit records of the calls logged after `since` (exclusive).
pub fn records(lab: &Kms, cloud: Cloud, since: u64) -> AuditPage {
    let page = lab.calls().since(since);
    let records = page
        .calls
        .iter()
        .filter(|call| call.provider == cloud && call.hop.is_none())
        .filter_map(|call| render(lab, call))
        .collect();
    AuditPage {
        records,
        next: page.next,
    }
}

/// The call as its cloud's audit record, or `None` when that cloud would not log it.
pub fn render(lab: &Kms, call: &CallRecord) -> Option<Value> {
    match call.provider {
        Cloud::Aws => cloudtrail::event(lab, call),
        Cloud::Gcp => cloud_audit_logs::entry(lab, call),
        Cloud::Azure => key_vault::audit_event(lab, call),
    }
}

/// The cloud's id of the call's key (ARN, crypto key name, key URL), if the key still exists.
fn key_id(lab: &Kms, call: &CallRecord) -> Option<String> {
    let name = call.key.as_deref()?;
    lab.read(|state| state.key(name).ok().map(|key| key.id.clone()))
}

/// RFC 3339 in UTC (`2026-12-02T16:05:00.25Z`), as every cloud writes its times.
fn timestamp(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A second id for the call, distinct from its request id and the same on every reading (a
/// CloudTrail `eventID`, a log entry's `insertId`).
fn record_id(detail: &CallDetail) -> uuid::Uuid {
    let request = uuid::Uuid::parse_str(&detail.request_id).unwrap_or_default();
    let mixed = request.as_u128() ^ 0x5a5a_5a5a_a5a5_a5a5_5a5a_5a5a_a5a5_a5a5;
    uuid::Builder::from_random_bytes(mixed.to_be_bytes()).into_uuid()
}

/// The error message of a refused call (`None` for an allowed one).
fn error_message(call: &CallRecord) -> Option<&str> {
    (call.outcome != "ok").then(|| call.detail.error_message.as_deref().unwrap_or_default())
}

/// Path (without host or query) of the request.
fn path(detail: &CallDetail) -> &str {
    let without_host = detail.uri.find('/').map_or("", |at| &detail.uri[at..]);
    without_host.split('?').next().unwrap_or_default()
}

/// The value of query parameter `name` of the request, if given.
fn query(detail: &CallDetail, name: &str) -> Option<String> {
    let (_, query) = detail.uri.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_stable_distinct_from_the_request_id_and_version_4() {
        let detail = CallDetail {
            request_id: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0".into(),
            ..CallDetail::default()
        };
        let id = record_id(&detail);
        assert_eq!(id, record_id(&detail));
        assert_ne!(id.to_string(), detail.request_id);
        assert_eq!(id.get_version_num(), 4);
    }

    #[test]
    fn paths_and_queries_are_read_from_the_logged_uri() {
        let detail = CallDetail {
            uri: "127.0.0.1:4600/keys/k/v1/encrypt?api-version=7.4&x=1".into(),
            ..CallDetail::default()
        };
        assert_eq!(path(&detail), "/keys/k/v1/encrypt");
        assert_eq!(query(&detail, "api-version").as_deref(), Some("7.4"));
        assert_eq!(query(&detail, "nope"), None);
        assert_eq!(path(&CallDetail::default()), "");
    }
}
