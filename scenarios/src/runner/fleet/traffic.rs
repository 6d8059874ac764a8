//! The traffic of a fleet in the lab ([`FleetLab::run`]): the `fleet-traffic` workload's
//! schedule played a lab second at a time. The operations of one lab second run together, each
//! a task of its own, with the lab clock at the first of them and the envelopes they read as
//! they stood before that second; the KMS calls they make are those of the operations one by
//! one (concurrent misses of one cache entry share one call, as a later miss would have hit).
//! The host's call log is read every [`DRAIN_EVERY`] operations and once at the end.

use ekm_engine::{EncryptionContext, EngineError};
use ekm_lab::{CallRecord, EmbeddedLab};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::{Envelope, FleetLab, PAYLOAD, to_call};
use crate::fleet::Workload;
use crate::fleet::schedule::{Operation, OperationKind, Schedule};
use crate::fleet::volume::{Call, VolumeReport};
use crate::runner::outcome::error_kind;
use crate::runner::to_time;
use crate::runner::traffic::traffic_context;
use crate::schema::ErrorKind;

/// Operations between two reads of the mock's call log (it keeps 10,000 calls; one operation
/// makes at most a few).
const DRAIN_EVERY: usize = 1000;

/// What one operation of the traffic did.
struct Played {
    /// Its place in the schedule.
    index: usize,
    /// A seal (else an open).
    seal: bool,
    /// The envelope a seal made.
    result: Result<Option<Envelope>, EngineError>,
}

/// Where a fleet plays: the lab, the clock, and the call log as the host reads it.
pub(crate) trait FleetHost {
    /// The lab.
    fn lab(&self) -> &EmbeddedLab;
    /// Moves the lab clock to `at` (firing whatever falls due on the way).
    async fn advance_clock(&mut self, at: OffsetDateTime);
    /// The calls answered since the last look.
    fn drain_calls(&mut self) -> Vec<CallRecord>;
}

/// What a fleet's traffic came to.
#[derive(Debug)]
pub struct FleetOutcome {
    /// The KMS volume of the window.
    pub volume: VolumeReport,
    /// Seals made.
    pub seals: u64,
    /// Opens made.
    pub opens: u64,
    /// Operations that failed.
    pub failures: u64,
    /// The first failure, if any.
    pub first_error: Option<(ErrorKind, String)>,
    /// Every call the mock answered during the window (KMS calls, sign-ins, hops).
    pub calls: usize,
}

impl FleetLab {
    /// Operation `i` of the schedule as a task of its own: a seal, or an open of the envelope
    /// it reads (as the fleet stands before the operations of its lab second).
    fn operation(&self, i: usize, op: &Operation) -> impl Future<Output = Played> + Send + 'static {
        let p = op.project as usize;
        let (engine, project) = (
            self.engines[op.replica as usize].clone(),
            self.projects[p].clone(),
        );
        // Today's data a replica has not written yet is yesterday's for now; with no older
        // data either, the read starts a conversation (a seal) instead.
        let envelope = match op.kind {
            OperationKind::Seal => None,
            OperationKind::ReadToday { writer } => self.latest[p][writer as usize]
                .as_ref()
                .or(self.history[p].first()),
            OperationKind::ReadOlder { days } => self.history[p].get(days as usize - 1),
        }
        .cloned();
        async move {
            let seal = envelope.is_none();
            let result = match envelope {
                Some(envelope) => {
                    let context = traffic_context(&envelope);
                    engine
                        .open(&project, &envelope, &context)
                        .await
                        .map(|_| None)
                }
                None => {
                    let context = EncryptionContext::new().with("fleet", i.to_string());
                    let sealed = engine.seal(&project, &context, PAYLOAD).await;
                    sealed.map(|sealed| Some(Envelope::from(sealed)))
                }
            };
            Played {
                index: i,
                seal,
                result,
            }
        }
    }

    /// Plays `workload` from the lab's now: the operations of each lab second at once, on the
    /// lab clock at the first of them.
    pub(crate) async fn run(
        &mut self,
        host: &mut impl FleetHost,
        workload: &Workload,
    ) -> FleetOutcome {
        host.drain_calls();
        let start = host.lab().clock().now();
        let mut calls: Vec<Call> = self.start_sign_ins.clone();
        let mut answered = 0;
        let mut keep = |page: Vec<CallRecord>, calls: &mut Vec<Call>| {
            answered += page.len();
            calls.extend(page.iter().map(|c| to_call(c, Some(start))));
        };
        let (mut seals, mut opens, mut failures) = (0u64, 0u64, 0u64);
        let mut first_error = None;
        let mut schedule = Schedule::new(&self.spec, workload).enumerate().peekable();
        while let Some((i, first)) = schedule.next() {
            let second = first.at.as_secs();
            let mut batch = vec![(i, first)];
            while let Some(next) = schedule.next_if(|(_, op)| op.at.as_secs() == second) {
                batch.push(next);
            }
            host.advance_clock(start + to_time(first.at)).await;
            let mut running = JoinSet::new();
            for (i, op) in &batch {
                running.spawn(self.operation(*i, op));
            }
            let mut played = running.join_all().await;
            played.sort_unstable_by_key(|played| played.index);
            for ((_, op), played) in batch.iter().zip(played) {
                if played.seal {
                    seals += 1;
                } else {
                    opens += 1;
                }
                match played.result {
                    Ok(Some(sealed)) => {
                        self.latest[op.project as usize][op.replica as usize] = Some(sealed);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        failures += 1;
                        first_error.get_or_insert_with(|| (error_kind(&error), error.to_string()));
                    }
                }
            }
            let last = batch.last().map_or(i, |(i, _)| *i);
            if (last + 1) / DRAIN_EVERY > i / DRAIN_EVERY {
                keep(host.drain_calls(), &mut calls);
            }
        }
        host.advance_clock(start + to_time(workload.over.0)).await;
        keep(host.drain_calls(), &mut calls);
        let fleet_keys = |c: &Call| c.key.as_deref().is_none_or(|k| k.starts_with("fleet-"));
        calls.retain(fleet_keys);
        FleetOutcome {
            volume: VolumeReport::of(
                &self.spec,
                workload.operations,
                workload.over.0.as_secs(),
                &calls,
            ),
            seals,
            opens,
            failures,
            first_error,
            calls: answered,
        }
    }
}
