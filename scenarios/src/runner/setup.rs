//! The lab a scenario starts with: a fresh embedded lab on its own manual clock, the declared
//! keys, a project of its own for each key objects name with `key:`, and the disk auditor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::ProjectId;
use ekm_engine::clock::{Clock, ManualClock, SharedClock, Stopwatch};
use ekm_lab::KeySpec;
use ekm_lab::{EmbeddedLab, LabError, LabOptions, OtherProject};

use super::fleet::FleetLab;
use super::{LoadedScenario, Playback, RunError};
use crate::audit::DiskAudit;
use crate::fleet::FleetSpec;
use crate::report::trace::Trace;
use crate::schema::{Cloud, Scenario, demo_key};

impl Playback {
    /// Starts a fresh lab for `scenario` (mock KMS with the demo tenant on port 0, engine on a
    /// new `ManualClock`), creates its declared keys and, for `no_plaintext_dek_on_disk`, a
    /// temporary object-store directory.
    pub async fn start(scenario: Scenario) -> Result<Self, RunError> {
        Self::start_from(LoadedScenario {
            file: None,
            scenario,
        })
        .await
    }

    /// [`Playback::start`] for a scenario that remembers its file.
    pub async fn start_from(loaded: LoadedScenario) -> Result<Self, RunError> {
        let stopwatch = Stopwatch::start();
        let LoadedScenario { file, scenario } = loaded;
        let clock = Arc::new(ManualClock::default());
        let shared: SharedClock = clock.clone();
        let store_dir = if scenario.invariants.no_plaintext_dek_on_disk {
            Some(tempfile::tempdir().map_err(RunError::StoreDir)?)
        } else {
            None
        };
        let lab = EmbeddedLab::start(LabOptions {
            engine: scenario.engine.clone(),
            store_dir: store_dir.as_ref().map(|d| d.path().join("objects")),
            max_connections: scenario.fleet.as_ref().map(FleetSpec::mock_connections),
            ..LabOptions::new(shared)
        })
        .await?;
        if let Some(timeout) = scenario.hop_timeout {
            lab.set_hop_timeout(timeout.0)?;
        }
        for key in &scenario.keys {
            let provider = key.provider;
            let spec = match &key.spec {
                Some(spec) => KeySpec::parse_for(provider, spec),
                None => Ok(KeySpec::default_for(provider)),
            };
            let created = match &key.external_key {
                Some(id) => lab
                    .ensure_external_key(id)
                    .and_then(|_| lab.create_external_backed_key(&key.name, provider, id)),
                None => spec
                    .map_err(LabError::from)
                    .and_then(|spec| lab.create_key(&key.name, provider, spec)),
            };
            created.map_err(|source| RunError::Key {
                name: key.name.clone(),
                source,
            })?;
        }
        if let Some(documents) = &scenario.access {
            super::documents::put_documents(&lab, documents).map_err(RunError::Access)?;
        }
        let declared_projects = super::documents::register_projects(&lab, &scenario).await?;
        let mut extra_projects = BTreeMap::new();
        for decl in scenario.objects.values() {
            if let Some(key) = &decl.key
                && !extra_projects.contains_key(key)
            {
                let project = register_key_project(&lab, decl.provider, key).await?;
                extra_projects.insert(key.clone(), project);
            }
        }
        let audit = store_dir
            .as_ref()
            .map(|d| DiskAudit::new(d.path().join("objects")));
        let fleet = match &scenario.fleet {
            Some(spec) => Some(FleetLab::start(&lab, &clock, spec).await?),
            None => None,
        };
        let call_seq = lab.calls_since(0).next;
        Ok(Self {
            start: clock.now(),
            scenario,
            file,
            lab,
            clock,
            stopwatch,
            next: 0,
            previous_end: Duration::ZERO,
            objects: BTreeMap::new(),
            extra_projects,
            declared_projects,
            faults: Vec::new(),
            revocations: Vec::new(),
            registered: BTreeMap::new(),
            alias_target: demo_key(Cloud::Aws).to_owned(),
            audit,
            _store_dir: store_dir,
            call_seq,
            events: Vec::new(),
            deferred_checks: Vec::new(),
            reports: Vec::new(),
            trace: Trace::default(),
            fleet,
            fleet_volume: None,
            drained_kms_calls: 0,
        })
    }
}

/// Registers a project of its own on the mock key `key` (`proj_demo/<key>`).
pub(super) async fn register_key_project(
    lab: &EmbeddedLab,
    provider: Cloud,
    key: &str,
) -> Result<ProjectId, RunError> {
    let project = ProjectId::from(format!("{}/{key}", lab.config().project_id).as_str());
    connect_project(
        lab,
        provider,
        key,
        &OtherProject::default(),
        project.clone(),
    )
    .await?;
    Ok(project)
}

/// Connects `other` to the mock key `key` and registers it on the engine as `project`.
pub(super) async fn connect_project(
    lab: &EmbeddedLab,
    provider: Cloud,
    key: &str,
    other: &OtherProject,
    project: ProjectId,
) -> Result<(), RunError> {
    let info = lab.key(key).map_err(|source| RunError::Key {
        name: key.to_owned(),
        source,
    })?;
    let kek = lab.connect_as(provider, &info, other).await?;
    lab.engine().register(project, kek);
    Ok(())
}
