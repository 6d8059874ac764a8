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
//! for all projects at once.
//!
//! # Layout
//!
//! - this module — [`FleetLab`] and its setup, the hosts a fleet plays in (a scenario's
//!   [`Playback`], or a bare lab for [`simulate`]), the `fleet-traffic` step and its `volume`
//!   checks.
//! - `traffic` — the workload played a lab second at a time ([`FleetLab::run`]), and the
//!   [`FleetHost`] it plays in.

mod traffic;

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{Clock, ManualClock, Stopwatch};
use ekm_engine::config::EngineSettings;
use ekm_engine::{EncryptionContext, Engine, ProjectId};
use ekm_lab::{CallRecord, EmbeddedLab, KeySpec, LabOptions};
use futures::future::join_all;
use time::OffsetDateTime;

use self::traffic::FleetHost;
pub use self::traffic::FleetOutcome;
use super::outcome::Done;
use super::{Playback, RunError};
use crate::fleet::forecast::{ForecastInput, Sessions, forecast};
use crate::fleet::volume::{Call, FleetVolume};
use crate::fleet::{FleetSpec, Workload};
use crate::report::Check;
use crate::schema::{ErrorKind, VolumeExpectation};

/// Sign-ins and seals of a fleet's setup in flight at once (the call log is read after each
/// such group of older data, well before its 10,000 calls wrap).
const AT_ONCE: usize = 64;

/// An envelope of the fleet, shared by the operations that read it.
type Envelope = Arc<[u8]>;

/// What every fleet envelope holds.
const PAYLOAD: &[u8] = b"a message in a fleet project's conversation";

const DAY: Duration = Duration::from_secs(86_400);

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
