//! The call log: a bounded ring buffer of every request the cloud front-ends answered (KMS, STS
//! and token calls alike), read through `GET /_mock/v1/calls?since=SEQ`. Each record's
//! [`CallDetail`] keeps what the clouds' own audit records show ([`crate::audit`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use ekm_vocab::{CallKind, Cloud};

/// How many calls the log keeps by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// One answered request (contract: DESIGN.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Position in the log, from 1, never reused ([`CallLog::record`] stamps it).
    pub seq: u64,
    /// Lab time the call was answered.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The cloud.
    pub provider: Cloud,
    /// The cloud's own operation name (`Encrypt`, `AssumeRole`, `encrypt`, `token`, …).
    pub operation: String,
    /// What the call did, decided by the front-end that answered it.
    pub kind: CallKind,
    /// Lab name of the key, when the call concerned one.
    pub key: Option<String>,
    /// Who called (an access key id, a principal, an app id), or `anonymous`.
    pub caller: String,
    /// `ok`, or the cloud's error code (`AccessDeniedException`, `PERMISSION_DENIED`, `Forbidden`, …).
    pub outcome: String,
    /// Real time spent answering, in milliseconds.
    pub latency_ms: f64,
    /// For a call a cloud made on its own behalf to a service outside it (the external key
    /// store hop): which hop (`xks`, `ekm`). Absent for calls clients made to the cloud.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<String>,
    /// For a call the customer's access documents refused: which document and statement decided
    /// (or, for an implicit denial, what each said), in short. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// What the cloud's audit record of the call shows beyond the above.
    #[serde(default)]
    pub detail: CallDetail,
}

/// What a cloud's audit record shows of a call beyond the call log's summary: the pipeline fills
/// the request's envelope (id, source, agent, URI, status, error message), the front-end who
/// exactly called, the request's parameters and what the answer returned. Never plaintext, ciphertext, key
/// material or a credential's secret part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallDetail {
    /// The request id (the one AWS answers in `x-amzn-RequestId`).
    pub request_id: String,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `Host` and path with query, as requested.
    #[serde(default)]
    pub uri: String,
    /// HTTP status of the answer.
    #[serde(default)]
    pub status: u16,
    /// The error message answered with a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Who called, in the cloud's identity form when richer than `caller`: a role session's ARN,
    /// an Entra object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// When the caller's session began (an AWS role session's issue time, lab time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub session_start: Option<OffsetDateTime>,
    /// The request's loggable parameters under the cloud's names (`KeyId`,
    /// `EncryptionContext`, `RoleArn`, `ExternalId`, `alg`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// What the answer returned that the cloud's audit log shows (an `AssumeRole`'s access key
    /// id and expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<serde_json::Value>,
}

impl CallRecord {
    /// A call to `provider` being answered: anonymous, about no key, `ok` so far; the log
    /// stamps its time and sequence number when it is written.
    pub fn new(provider: Cloud, operation: &str, kind: CallKind) -> Self {
        Self {
            seq: 0,
            time: OffsetDateTime::UNIX_EPOCH,
            provider,
            operation: operation.to_owned(),
            kind,
            key: None,
            caller: "anonymous".to_owned(),
            outcome: "ok".to_owned(),
            latency_ms: 0.0,
            hop: None,
            trace: None,
            detail: CallDetail::default(),
        }
    }
}

/// A page of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallPage {
    /// Calls after the requested sequence number, oldest first.
    pub calls: Vec<CallRecord>,
    /// Pass this as `since` to get only newer calls.
    pub next: u64,
}

/// The bounded log.
#[derive(Debug)]
pub struct CallLog {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    calls: VecDeque<CallRecord>,
    last_seq: u64,
}

impl CallLog {
    /// A log keeping the last `capacity` calls (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Ring::default()),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a call under the next sequence number (whatever its `seq` said), evicting the
    /// oldest when full; returns the sequence number.
    pub fn record(&self, mut call: CallRecord) -> u64 {
        let mut ring = self.ring();
        ring.last_seq += 1;
        call.seq = ring.last_seq;
        if ring.calls.len() == self.capacity {
            ring.calls.pop_front();
        }
        ring.calls.push_back(call);
        ring.last_seq
    }

    /// Forgets every call and starts the sequence numbers again from 1.
    pub fn clear(&self) {
        *self.ring() = Ring::default();
    }

    /// Calls with a sequence number greater than `since` (exclusive), oldest first.
    pub fn since(&self, since: u64) -> CallPage {
        let ring = self.ring();
        let calls: Vec<CallRecord> = ring
            .calls
            .iter()
            .filter(|c| c.seq > since)
            .cloned()
            .collect();
        CallPage {
            calls,
            next: ring.last_seq.max(since),
        }
    }
}

impl Default for CallLog {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(op: &str) -> CallRecord {
        CallRecord {
            seq: 0,
            time: time::macros::datetime!(2026-01-01 00:00 UTC),
            provider: Cloud::Aws,
            operation: op.into(),
            kind: CallKind::Other,
            key: None,
            caller: "me".into(),
            outcome: "ok".into(),
            latency_ms: 0.1,
            hop: None,
            trace: None,
            detail: CallDetail::default(),
        }
    }

    #[test]
    fn since_is_exclusive_and_the_ring_is_bounded() {
        let log = CallLog::with_capacity(3);
        for op in ["a", "b", "c", "d"] {
            log.record(call(op));
        }
        let page = log.since(0);
        let ops: Vec<_> = page.calls.iter().map(|c| c.operation.as_str()).collect();
        assert_eq!(ops, ["b", "c", "d"]);
        assert_eq!(page.next, 4);
        let newer = log.since(3);
        assert_eq!(newer.calls.len(), 1);
        assert_eq!(newer.calls[0].seq, 4);
        assert!(log.since(4).calls.is_empty());
        assert_eq!(log.since(4).next, 4);
    }
}
