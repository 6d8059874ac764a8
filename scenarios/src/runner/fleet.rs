//! A fleet in the lab ([`crate::fleet`]): its keys, its replicas' engines and registrations, its
//! older data, and the `fleet-traffic` workload played against it — every operation a real seal
//! or open on a replica's engine, every KMS call a real wire call to the one mock.
//!
//! Starting a fleet creates one key per project in the mock (each trusted and granted like its
//! cloud's demo key), `replicas` engines, and for each replica and project a provider of its
//! own (its own SDK client and sign-in). Then the first replica seals one envelope per project
//! per day of `history_days`, the lab clock moving a day at a time, so that a story starts with
//! months of older data under one DEK per day and cold caches.
//!
//! The setup runs at once wherever it can: the keys' material is made on every core, the
//! providers connect (and sign in) [`AT_ONCE`] at a time, and each day of older data is sealed
//! for all projects at once. The traffic plays the operations of one lab second together, each
//! a task of its own, with the lab clock at the first of them and the envelopes they read as
//! they stood before that second; the KMS calls they make are those of the operations one by
//! one (concurrent misses of one cache entry share one call, as a later miss would have hit).
//!
//! The mock keeps its last 10,000 calls; a fleet drains the log every [`DRAIN_EVERY`]
//! operations so that no call is lost to the volume report.

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock, Stopwatch};
use ekm_engine::config::EngineSettings;
use ekm_engine::{EncryptionContext, Engine, EngineError, ProjectId};
use ekm_lab::{CallRecord, EmbeddedLab, KeySpec, LabOptions};
use futures::future::join_all;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::outcome::{Done, error_kind};
use super::traffic::traffic_context;
use super::{Playback, RunError, to_time};
use crate::fleet::forecast::{ForecastInput, Sessions, forecast};
use crate::fleet::schedule::{Operation, OperationKind, Schedule};
use crate::fleet::volume::{Call, FleetVolume, VolumeReport};
use crate::fleet::{FleetSpec, Workload};
use crate::report::Check;
use crate::schema::{ErrorKind, VolumeExpectation};

/// Operations between two reads of the mock's call log (it keeps 10,000 calls; one operation
/// makes at most a few).
pub(super) const DRAIN_EVERY: usize = 1000;

/// Sign-ins and seals of a fleet's setup in flight at once (the call log is read after each
/// such group of older data, well before its 10,000 calls wrap).
const AT_ONCE: usize = 64;

/// An envelope of the fleet, shared by the operations that read it.
type Envelope = Arc<[u8]>;

/// What one operation of the traffic did.
struct Played {
    /// Its place in the schedule.
    index: usize,
    /// A seal (else an open).
    seal: bool,
    /// The envelope a seal made.
    result: Result<Option<Envelope>, EngineError>,
}

/// What every fleet envelope holds.
const PAYLOAD: &[u8] = b"a message in a fleet project's conversation";

const DAY: Duration = Duration::from_secs(86_400);

/// Where a fleet plays: the lab, the clock, and the call log as the host reads it.
pub(crate) trait FleetHost {
    /// The lab.
    fn lab(&self) -> &EmbeddedLab;
    /// Moves the lab clock to `at` (firing whatever falls due on the way).
    async fn advance_clock(&mut self, at: OffsetDateTime);
    /// The calls answered since the last look.
    fn drain_calls(&mut self) -> Vec<CallRecord>;
}

/// A fleet set up in a lab.
#[derive(Debug)]
pub(crate) struct FleetLab {
    spec: FleetSpec,
    engines: Vec<Engine>,
    projects: Vec<ProjectId>,
    /// Per project, the envelope sealed `d` days before the start at index `d - 1`.
    history: Vec<Vec<Envelope>>,
    /// Per project and replica, the envelope the replica sealed last for the project.
    latest: Vec<Vec<Option<Envelope>>>,
    /// Sign-ins made while the fleet started.
    start_sign_ins: Vec<Call>,
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
    /// Sets up `spec` in `lab` (see the module docs); `clock` is the lab's clock and moves
    /// `history_days` days forward.
    pub(crate) async fn start(
        lab: &EmbeddedLab,
        clock: &ManualClock,
        spec: &FleetSpec,
    ) -> Result<Self, RunError> {
        let mut seq = lab.calls_since(0).next;
        let engines: Vec<Engine> = (0..spec.replicas).map(|_| lab.replica()).collect();
        let keys = lab
            .create_keys(
                (0..spec.projects)
                    .map(|p| {
                        let cloud = spec.cloud_of(p);
                        (spec.key_name(p), cloud, KeySpec::default_for(cloud))
                    })
                    .collect(),
            )
            .await;
        let mut projects = Vec::with_capacity(keys.len());
        let mut connects = Vec::with_capacity(keys.len() * engines.len());
        for (p, (name, key)) in (0..spec.projects).zip(keys) {
            let key = key.map_err(|source| RunError::Key { name, source })?;
            let project = ProjectId::from(spec.project_id(p).as_str());
            for engine in &engines {
                connects.push((engine, project.clone(), spec.cloud_of(p), key.clone()));
            }
            projects.push(project);
        }
        for chunk in connects.chunks(AT_ONCE) {
            let mut connecting = Vec::with_capacity(chunk.len());
            for (engine, project, cloud, key) in chunk {
                connecting
                    .push(async move { (engine, project, lab.connect_on(*cloud, key).await) });
            }
            for (engine, project, kek) in join_all(connecting).await {
                engine.register(project.clone(), kek?);
            }
        }
        let mut start_sign_ins = Vec::new();
        let mut drain = |seq: &mut u64| {
            let page = lab.calls_since(*seq);
            *seq = page.next;
            start_sign_ins.extend(
                page.calls
                    .into_iter()
                    .filter(|c| c.kind == ekm_vocab::CallKind::SignIn)
                    .map(|c| to_call(&c, None)),
            );
        };
        let mut history = vec![Vec::new(); projects.len()];
        for day in (1..=spec.history_days).rev() {
            let context = EncryptionContext::new().with("fleet", format!("day-{day}"));
            for (chunk, envelopes) in projects.chunks(AT_ONCE).zip(history.chunks_mut(AT_ONCE)) {
                let mut sealing = Vec::with_capacity(chunk.len());
                for project in chunk {
                    sealing.push(engines[0].seal(project, &context, PAYLOAD));
                }
                for (days, envelope) in envelopes.iter_mut().zip(join_all(sealing).await) {
                    days.push(Envelope::from(envelope.map_err(RunError::History)?));
                }
                drain(&mut seq);
            }
            clock.advance(DAY);
        }
        drain(&mut seq);
        // Oldest first was sealed; index `d - 1` must be `d` days old.
        history.iter_mut().for_each(|days| days.reverse());
        Ok(Self {
            spec: spec.clone(),
            latest: vec![vec![None; spec.replicas as usize]; projects.len()],
            engines,
            projects,
            history,
            start_sign_ins,
        })
    }

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

/// A call of the log as the volume report counts it, `start` its window's start (`None`: a
/// call before the window, at second 0).
fn to_call(record: &CallRecord, start: Option<OffsetDateTime>) -> Call {
    let second = start.map_or(0, |start| {
        (record.time - start).whole_seconds().max(0).unsigned_abs()
    });
    Call {
        second,
        cloud: record.provider,
        kind: record.kind,
        key: record.key.clone(),
    }
}

impl FleetHost for Playback {
    fn lab(&self) -> &EmbeddedLab {
        &self.lab
    }

    async fn advance_clock(&mut self, at: OffsetDateTime) {
        self.advance_to(at).await;
    }

    fn drain_calls(&mut self) -> Vec<CallRecord> {
        let calls = self.take_calls();
        self.drained_kms_calls += calls.iter().filter(|c| c.hop.is_none()).count();
        calls
    }
}

impl Playback {
    /// `fleet-traffic:` — the workload on the scenario's fleet; its volume, simulated and
    /// forecast, goes to the step's report and `volume` expectations.
    pub(super) async fn fleet_traffic(&mut self, workload: &Workload) -> Done {
        let Some(mut fleet) = self.fleet.take() else {
            return Done::failed(ErrorKind::NoProvider, "the scenario declares no `fleet:`");
        };
        let outcome = fleet.run(self, workload).await;
        let engine = self.scenario.engine.clone().unwrap_or_default();
        let forecast = forecast(&ForecastInput {
            fleet: fleet.spec.clone(),
            workload: workload.clone(),
            dek_rotation: engine.dek_rotation,
            revalidate_after: engine.revalidate_after,
            sessions: Sessions::LabClock,
        });
        self.fleet = Some(fleet);
        let detail = format!(
            "{} operations over {} ({} seals, {} opens) on {} projects × {} replicas, {} failed; \
             {} KMS calls (forecast {:.0})",
            workload.operations,
            workload.over,
            outcome.seals,
            outcome.opens,
            outcome.volume.projects,
            outcome.volume.replicas,
            outcome.failures,
            outcome.volume.calls(),
            forecast.calls()
        );
        self.fleet_volume = Some(FleetVolume {
            simulated: outcome.volume,
            forecast,
        });
        Done::with_first_error(detail, outcome.first_error)
    }
}

impl Playback {
    /// The checks of a `volume` expectation against the step's fleet volume.
    pub(super) fn volume_checks(&self, expect: &VolumeExpectation) -> Vec<Check> {
        let Some(volume) = &self.fleet_volume else {
            return vec![Check {
                expected: "a fleet volume to check".to_owned(),
                actual: "the step sent no fleet-traffic".to_owned(),
                passed: false,
            }];
        };
        let simulated = &volume.simulated;
        let mut checks = Vec::new();
        if let Some(max) = expect.max_calls_per_1000_ops {
            let found = simulated.calls_per_1000_ops();
            checks.push(Check {
                expected: format!("at most {max} KMS calls per 1,000 operations"),
                actual: format!("{found:.1}"),
                passed: found <= max,
            });
        }
        if let Some(min) = expect.min_hit_ratio {
            let found = simulated.hit_ratio();
            checks.push(Check {
                expected: format!("a cache hit ratio of at least {min}"),
                actual: format!("{found:.3}"),
                passed: found >= min,
            });
        }
        if let Some(within) = expect.forecast_within {
            for (sim, fc) in simulated.clouds.iter().zip(&volume.forecast.clouds) {
                let error = (sim.calls() as f64 - fc.calls()).abs() / fc.calls().max(1.0);
                checks.push(Check {
                    expected: format!(
                        "{} KMS calls within {:.0} % of the forecast's {:.0}",
                        sim.cloud,
                        100.0 * within,
                        fc.calls()
                    ),
                    actual: format!("{} ({:.1} % off)", sim.calls(), 100.0 * error),
                    passed: error <= within,
                });
            }
        }
        checks
    }
}

/// A fleet simulated on its own, with the wall time each part took.
#[derive(Debug)]
pub struct SimulatedFleet {
    /// What the traffic came to.
    pub outcome: FleetOutcome,
    /// Wall time to start the lab and the fleet (keys, replicas, sign-ins, older data).
    pub setup: Duration,
    /// Wall time of the traffic.
    pub traffic: Duration,
}

/// A lab with nothing but a fleet: its own manual clock, no demo registration.
struct Bare {
    lab: EmbeddedLab,
    clock: Arc<ManualClock>,
    seq: u64,
}

impl FleetHost for Bare {
    fn lab(&self) -> &EmbeddedLab {
        &self.lab
    }

    async fn advance_clock(&mut self, at: OffsetDateTime) {
        self.clock.advance_to(at);
    }

    fn drain_calls(&mut self) -> Vec<CallRecord> {
        let page = self.lab.calls_since(self.seq);
        self.seq = page.next;
        page.calls
    }
}

/// Starts a lab of its own with `fleet` on engines timed by `engine`, plays `workload` and
/// stops the lab: what the forecast is checked against and what the scale benchmark runs.
pub async fn simulate(
    fleet: &FleetSpec,
    workload: &Workload,
    engine: EngineSettings,
) -> Result<SimulatedFleet, RunError> {
    let stopwatch = Stopwatch::start();
    let clock = Arc::new(ManualClock::default());
    let lab = EmbeddedLab::start(LabOptions {
        engine: Some(engine),
        register_demo_keys: false,
        max_connections: Some(fleet.mock_connections()),
        ..LabOptions::new(clock.clone())
    })
    .await?;
    let mut fleet_lab = FleetLab::start(&lab, &clock, fleet).await?;
    let mut host = Bare {
        seq: lab.calls_since(0).next,
        lab,
        clock,
    };
    let setup = stopwatch.elapsed();
    let outcome = fleet_lab.run(&mut host, workload).await;
    let traffic = stopwatch.elapsed() - setup;
    host.lab.shutdown().await;
    Ok(SimulatedFleet {
        outcome,
        setup,
        traffic,
    })
}
