//! What happened over lab time during a run, recorded by the runner for the charts of the HTML
//! report ([`super::html`]): when each object was sealed and every read of it with its outcome,
//! the key and fault events, the KMS calls per minute per cloud, the DEK caches' occupancy, and
//! the customer's audit records of the calls ([`super::audit_logs`]).
//!
//! Only observed facts are recorded — an object's lane in the report shows the outcome of its
//! last real read, never a guess from key state.

use std::collections::BTreeMap;
use std::time::Duration;

use ekm_engine::events::{CachePath, Snapshot};
use ekm_lab::CallRecord;
use serde::Serialize;
use time::OffsetDateTime;

use super::audit_logs::AuditLogs;

/// The recorded history of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Trace {
    /// Objects sealed (again), oldest first.
    pub seals: Vec<Seal>,
    /// Every read of a named object (actions, expectations, invariant checks), oldest first.
    pub reads: Vec<Read>,
    /// Key lifecycle and fault events, oldest first.
    pub markers: Vec<Marker>,
    /// KMS calls answered, per minute of lab time and cloud; minutes without calls are absent.
    pub calls: Vec<CallMinute>,
    /// Live DEK-cache entries per cloud, sampled after every step and every lab minute of traffic.
    pub cache: Vec<CacheSample>,
    /// Lab time when the run ended.
    #[serde(serialize_with = "super::seconds")]
    pub end: Duration,
    /// The customer's audit records of the calls, per cloud (written apart, as JSON lines).
    #[serde(skip)]
    pub audit_logs: AuditLogs,
}

/// An object sealed under a key.
#[derive(Debug, Clone, Serialize)]
pub struct Seal {
    /// Lab time since the start.
    #[serde(serialize_with = "super::seconds")]
    pub at: Duration,
    /// The object.
    pub object: String,
    /// The cloud (`aws`, `gcp`, `azure`).
    pub provider: String,
    /// Lab name of the key that wrapped its DEK.
    pub key: String,
}

/// One read of an object.
#[derive(Debug, Clone, Serialize)]
pub struct Read {
    /// Lab time since the start.
    #[serde(serialize_with = "super::seconds")]
    pub at: Duration,
    /// The object.
    pub object: String,
    /// `ok`, or the error kind (`KeyDisabled`, `AccessDenied`, …).
    pub outcome: String,
    /// KMS calls the read made: 0 means a successful read was served from the DEK cache.
    pub kms_calls: usize,
}

impl Read {
    /// Whether the object opened.
    pub fn readable(&self) -> bool {
        self.outcome == "ok"
    }
}

/// What a marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerKind {
    /// A key rotation (new version; old data stays readable).
    Rotate,
    /// A revocation: disable, schedule-deletion, destroy, revoke-access, revoke-trust,
    /// alias-swap or switch-key.
    Revoke,
    /// A revocation undone (enable, restore-access, restore-trust).
    Restore,
    /// A fault window started.
    Fault,
    /// A fault window ended.
    FaultEnd,
}

/// A key or fault event.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    /// Lab time since the start.
    #[serde(serialize_with = "super::seconds")]
    pub at: Duration,
    /// What it was.
    pub kind: MarkerKind,
    /// As the timeline says it (`rotate aws-demo`, `outage on aws …`).
    pub label: String,
}

/// KMS calls of one cloud in one lab minute.
#[derive(Debug, Clone, Serialize)]
pub struct CallMinute {
    /// Minutes since the start.
    pub minute: u64,
    /// The cloud.
    pub provider: String,
    /// Calls answered.
    pub calls: u64,
    /// Of them, calls answered with an error.
    pub failed: u64,
    /// Calls the cloud's KMS itself made on a hop to an external key manager (XKS proxy, Cloud
    /// EKM) for those calls; not counted in `calls`.
    pub hops: u64,
}

/// Live DEK-cache entries of one cloud at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheSample {
    /// Lab time since the start.
    #[serde(serialize_with = "super::seconds")]
    pub at: Duration,
    /// The cloud.
    pub provider: String,
    /// Active encrypt-path DEKs.
    pub active_deks: u64,
    /// Decrypt-path entries.
    pub decrypt_entries: u64,
}

/// The clouds a trace shows, in display order.
pub const PROVIDERS: [&str; 3] = ["aws", "gcp", "azure"];

impl Trace {
    /// Counts `calls` into per-minute buckets, minutes counted from `start`.
    pub fn add_calls(&mut self, start: OffsetDateTime, calls: &[CallRecord]) {
        let mut buckets: BTreeMap<(u64, String), CallMinute> = self
            .calls
            .drain(..)
            .map(|c| ((c.minute, c.provider.clone()), c))
            .collect();
        for call in calls {
            let since = (call.time - start).whole_seconds().max(0).unsigned_abs();
            let provider = call.provider.as_str().to_owned();
            let bucket = buckets
                .entry((since / 60, provider.clone()))
                .or_insert_with(|| CallMinute {
                    minute: since / 60,
                    provider,
                    calls: 0,
                    failed: 0,
                    hops: 0,
                });
            if call.hop.is_some() {
                bucket.hops += 1;
            } else {
                bucket.calls += 1;
                bucket.failed += u64::from(call.outcome != "ok");
            }
        }
        self.calls = buckets.into_values().collect();
    }

    /// Samples the live entries of each cloud's caches at `at`; a sample equal to the cloud's
    /// previous one is skipped (the chart draws steps).
    pub fn sample_cache(&mut self, at: Duration, snapshot: &Snapshot) {
        for provider in PROVIDERS {
            let live = |path| {
                snapshot
                    .path(path)
                    .filter(|e| !e.expired && e.key.provider() == provider)
                    .count() as u64
            };
            let sample = CacheSample {
                at,
                provider: provider.to_owned(),
                active_deks: live(CachePath::Encrypt),
                decrypt_entries: live(CachePath::Decrypt),
            };
            let previous = self.cache.iter().rev().find(|s| s.provider == provider);
            let unchanged = previous.is_some_and(|p| {
                p.active_deks == sample.active_deks && p.decrypt_entries == sample.decrypt_entries
            });
            if !unchanged {
                self.cache.push(sample);
            }
        }
    }

    /// The objects in the order they were first sealed.
    pub fn objects(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for seal in &self.seals {
            if !seen.contains(&seal.object.as_str()) {
                seen.push(&seal.object);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use ekm_vocab::{CallKind, Cloud};

    use super::*;

    fn call(start: OffsetDateTime, seconds: i64, provider: Cloud, outcome: &str) -> CallRecord {
        let mut record = CallRecord::new(provider, "Decrypt", CallKind::Unwrap);
        record.time = start + time::Duration::seconds(seconds);
        record.caller = "test".into();
        record.outcome = outcome.into();
        record
    }

    #[test]
    fn calls_are_counted_per_minute_and_cloud_across_batches() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let mut trace = Trace::default();
        trace.add_calls(
            start,
            &[
                call(start, 5, Cloud::Aws, "ok"),
                call(start, 59, Cloud::Aws, "DisabledException"),
                call(start, 60, Cloud::Gcp, "ok"),
            ],
        );
        let hop = CallRecord {
            hop: Some("xks".into()),
            kind: CallKind::Hop,
            ..call(start, 31, Cloud::Aws, "ok")
        };
        trace.add_calls(start, &[call(start, 30, Cloud::Aws, "ok"), hop]);
        let rows: Vec<_> = trace
            .calls
            .iter()
            .map(|c| (c.minute, c.provider.as_str(), c.calls, c.failed, c.hops))
            .collect();
        assert_eq!(rows, [(0, "aws", 3, 1, 1), (1, "gcp", 1, 0, 0)]);
    }
}
