//! The demo workload: seals named objects into each registered cloud's project and opens them
//! again, a few operations per lab minute, so the panes always have something to show. Every
//! object is re-opened periodically (and at once after a key action or a time jump) to show
//! whether it is readable *now*; those opens count as operations like any other — the engine
//! serves them from its DEK cache, so they do not become KMS calls until entries expire.

use std::sync::Arc;
use std::time::Duration;

use ekm_engine::registration::Cloud;
use ekm_engine::{EncryptionContext, EngineError, ObjectName};
use time::OffsetDateTime;

use crate::backend::Backend;
use crate::model::{ObjectRow, Readability, WorkloadEvent};
use crate::view::text::kms_error_label;

/// Objects kept (and re-checked) per cloud; older ones are forgotten.
pub const OBJECTS_PER_CLOUD: usize = 2;
/// How often a new object is sealed (round robin over the clouds), in lab time.
const SEAL_EVERY: Duration = Duration::from_secs(10 * 60);
/// How often one object is opened, in lab time.
const OPEN_EVERY: Duration = Duration::from_secs(30);
/// How often every object is re-checked, in lab time.
const CHECK_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
struct Object {
    name: String,
    cloud: Cloud,
}

/// The workload's state; drive it with [`Workload::step`] and [`Workload::check_now`].
#[derive(Debug)]
pub struct Workload {
    backend: Arc<Backend>,
    objects: Vec<Object>,
    sealed: u32,
    next_cloud: usize,
    next_open: usize,
    last_seal: Option<OffsetDateTime>,
    last_open: Option<OffsetDateTime>,
    last_check: Option<OffsetDateTime>,
}

impl Workload {
    /// A workload over `backend`'s projects, with no objects yet.
    pub fn new(backend: Arc<Backend>) -> Self {
        Self {
            backend,
            objects: Vec::new(),
            sealed: 0,
            next_cloud: 0,
            next_open: 0,
            last_seal: None,
            last_open: None,
            last_check: None,
        }
    }

    fn due(last: Option<OffsetDateTime>, every: Duration, now: OffsetDateTime) -> bool {
        last.is_none_or(|last| now - last >= every)
    }

    /// Does what is due at the current lab time: on the first call two objects per cloud,
    /// each opened once (so their DEKs are cached, as for data in use); later a new object
    /// every 10 lab minutes (round robin over the clouds), one open every 30 lab seconds and a re-check of
    /// every object every 5 lab minutes. At most a handful of operations per call, however far
    /// time jumped.
    pub async fn step(&mut self) -> Vec<WorkloadEvent> {
        let now = self.backend.clock().now();
        let mut events = Vec::new();
        if self.last_seal.is_none() {
            for _ in 0..2 {
                for (cloud, _) in self.backend.projects().to_vec() {
                    events.push(self.seal(cloud).await);
                }
            }
            self.last_seal = Some(now);
            events.extend(self.check_all().await);
            return events;
        }
        if Self::due(self.last_seal, SEAL_EVERY, now) {
            self.last_seal = Some(now);
            if let Some((cloud, _)) = self.backend.projects().get(self.next_cloud).cloned() {
                self.next_cloud = (self.next_cloud + 1) % self.backend.projects().len();
                events.push(self.seal(cloud).await);
            }
        }
        if Self::due(self.last_check, CHECK_EVERY, now) {
            events.extend(self.check_all().await);
        } else if Self::due(self.last_open, OPEN_EVERY, now) && !self.objects.is_empty() {
            self.last_open = Some(now);
            let object = self.objects[self.next_open % self.objects.len()].clone();
            self.next_open = self.next_open.wrapping_add(1);
            events.push(self.open(&object).await);
        }
        events
    }

    /// After a key action or a time jump: one new object per cloud, then every object opened.
    pub async fn check_now(&mut self) -> Vec<WorkloadEvent> {
        let mut events = Vec::new();
        for (cloud, _) in self.backend.projects().to_vec() {
            events.push(self.seal(cloud).await);
        }
        self.last_seal = Some(self.backend.clock().now());
        events.extend(self.check_all().await);
        events
    }

    /// Opens every object.
    pub async fn check_all(&mut self) -> Vec<WorkloadEvent> {
        let now = self.backend.clock().now();
        self.last_check = Some(now);
        self.last_open = Some(now);
        let mut events = Vec::new();
        for object in self.objects.clone() {
            events.push(self.open(&object).await);
        }
        events
    }

    fn context(name: &str) -> EncryptionContext {
        EncryptionContext::new().with("object", name)
    }

    async fn seal(&mut self, cloud: Cloud) -> WorkloadEvent {
        let backend = self.backend.clone();
        let Some(project) = backend
            .projects()
            .iter()
            .find(|(c, _)| *c == cloud)
            .map(|(_, p)| p.clone())
        else {
            return WorkloadEvent::SealFailed {
                cloud,
                reason: "not registered".into(),
                at: backend.clock().now(),
            };
        };
        let name = format!("{cloud}-{:03}", self.sealed + 1);
        let context = Self::context(&name);
        let body = format!("demo object {name}");
        let sealed = backend
            .engine()
            .seal(&project, &context, body.as_bytes())
            .await;
        let at = backend.clock().now();
        let envelope = match sealed {
            Ok(envelope) => envelope,
            Err(error) => {
                return WorkloadEvent::SealFailed {
                    cloud,
                    reason: reason(&error),
                    at,
                };
            }
        };
        let key = match ekm_engine::envelope::parse(&envelope) {
            Ok(parsed) => backend.labels().version(parsed.header().key_version()),
            Err(error) => error.to_string(),
        };
        if let Err(reason) = Self::store(&backend, &name, Some(envelope)).await {
            return WorkloadEvent::SealFailed { cloud, reason, at };
        }
        self.sealed += 1;
        self.objects.push(Object {
            name: name.clone(),
            cloud,
        });
        let mut of_cloud = self.objects.iter().filter(|o| o.cloud == cloud);
        let forget = if of_cloud.clone().count() > OBJECTS_PER_CLOUD {
            of_cloud.next().map(|o| o.name.clone())
        } else {
            None
        };
        if let Some(old) = &forget {
            self.objects.retain(|o| &o.name != old);
            // Forgetting is best effort: an object left behind only costs a little memory.
            let _ = Self::store(&backend, old, None).await;
        }
        WorkloadEvent::Sealed {
            object: ObjectRow {
                name,
                cloud,
                key,
                status: Readability::Readable,
                checked_at: at,
            },
            forget,
        }
    }

    /// Stores `envelope` as `name`, or deletes `name` when `None`.
    async fn store(backend: &Backend, name: &str, envelope: Option<Vec<u8>>) -> Result<(), String> {
        let name = ObjectName::new(name).map_err(|e| e.to_string())?;
        let store = backend.engine().store().clone();
        tokio::task::spawn_blocking(move || match envelope {
            Some(envelope) => store.put(&name, &envelope),
            None => store.delete(&name).map(drop),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    async fn open(&self, object: &Object) -> WorkloadEvent {
        let project = self
            .backend
            .projects()
            .iter()
            .find(|(c, _)| *c == object.cloud)
            .map(|(_, p)| p.clone());
        let opened = match (ObjectName::new(object.name.as_str()), project) {
            (Ok(name), Some(project)) => self
                .backend
                .engine()
                .get(&name, &project, &Self::context(&object.name))
                .await
                .map_err(|error| reason(&error)),
            (Ok(_), None) => Err("not registered".to_owned()),
            (Err(error), _) => Err(reason(&error.into())),
        };
        WorkloadEvent::Opened {
            name: object.name.clone(),
            status: match opened {
                Ok(_) => Readability::Readable,
                Err(why) => Readability::Unreadable(why),
            },
            at: self.backend.clock().now(),
        }
    }
}

/// Why an operation failed, in a few words.
pub fn reason(error: &EngineError) -> String {
    match error {
        EngineError::Kms { source, .. } => kms_error_label(source).to_owned(),
        EngineError::UnknownKey { .. } => "key unregistered".to_owned(),
        EngineError::NoProvider { .. } => "no key registered".to_owned(),
        other => other.to_string(),
    }
}
