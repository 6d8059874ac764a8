//! The call log: a bounded ring buffer of every request the cloud front-ends answered (KMS, STS
//! and token calls alike), read through `GET /_mock/v1/calls?since=SEQ`.

use std::collections::VecDeque;
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
