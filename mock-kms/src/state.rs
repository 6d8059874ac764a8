//! The lab: the one shared state behind every listener — keys, aliases, session epochs, the
//! call log, the fault rules and the lab clock.
//!
//! Front-ends (`aws`, `gcp`, `azure`, `control`) hold an `Arc<Kms>`. Under the one request
//! pipeline (`pipeline`: timing, fault admission, the call log) they
//! authenticate the caller in their own cloud's way, then read or change keys through
//! [`Kms::read`] / [`Kms::write`]. The customer's access documents
//! ([`access`](crate::access)) decide what the EKM service identity may do, in each front-end;
//! here ([`KmsState::authorize`]) only that the key's owner may do anything and the service
//! nothing but encrypt and decrypt.
//!
//! Revoking trust edits the identity document (the role's trust policy, the workload-identity
//! provider, the service principal): new sign-ins fail, but sessions already issued live to their
//! lab-clock expiry ([`crate::sessions`]), as on the real clouds. Revoking the sessions is its
//! own action, each cloud's nearest real thing: on AWS the console's "revoke active sessions"
//! role policy `AWSRevokeOlderSessions` (Deny `*` for tokens issued before now, decided by the
//! evaluator on `aws:TokenIssueTime`); on GCP the provider's *session epoch* moves on (tokens
//! issued before stop working, as when the workload-identity pool and the service account are
//! disabled); Azure refuses it (Entra access tokens cannot be revoked for Key Vault).

mod deletions;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use ekm_clock::SharedClock;
use ekm_vocab::{CallKind, Cloud, Fault, KeyAction, VersionAction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::access::{AwsAccess, AzureAccess, GcpAccess};
use crate::calls::{CallLog, CallRecord};
use crate::error::StateError;
use crate::faults::Faults;
use crate::keys::{BlobHeader, Key, KeyMaterial, KeySpec, KeyState, deletion_date};
use crate::tenant::Tenant;
use crate::xks::{HopCall, Xks, XksState};

use self::deletions::NextDeletion;

/// How long a scheduled deletion waits before the key is destroyed (AWS's minimum window).
pub const DELETION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a GCP key version stays `DESTROY_SCHEDULED` before it is destroyed: Cloud KMS's
/// default scheduled-for-destruction duration, 30 days (cloud.google.com/kms/docs/destroy-restore).
pub const VERSION_DESTROY_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Who is calling a key operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The customer administrator: full rights on its own keys, whatever `access`/`trust` say.
    Owner,
    /// The EKM operator's service identity: encrypt and decrypt only, with `trust` and `access`.
    Service,
}

/// A cryptographic use of a key, for authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Encrypt / wrap.
    Encrypt,
    /// Decrypt / unwrap.
    Decrypt,
    /// Anything else (describe, admin): never granted to the service.
    Manage,
}

/// A key as the control API shows it (contract: DESIGN.md §4); a client of the control API
/// reads it back as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Lab name.
    pub name: String,
    /// The cloud.
    pub provider: Cloud,
    /// The cloud's own id (ARN, GCP resource name, Azure key URL).
    pub id: String,
    /// Material kind (`SYMMETRIC_DEFAULT`, `RSA_2048`, …).
    pub spec: String,
    /// `enabled`, `disabled`, `pending-deletion` or `destroyed`.
    pub state: String,
    /// When a pending deletion takes effect (lab time).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub deletion_date: Option<OffsetDateTime>,
    /// Whether the service's policy / role assignment exists.
    pub access: bool,
    /// Whether the service identity is trusted.
    pub trust: bool,
    /// Version ids, oldest first.
    pub versions: Vec<String>,
    /// The primary version's id.
    pub primary_version: String,
    /// Each version's own state, oldest first (absent from older clients' answers).
    #[serde(default)]
    pub version_states: Vec<VersionInfo>,
}

/// One version of a key as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version id.
    pub id: String,
    /// `enabled`, `disabled`, `pending-deletion` (GCP `DESTROY_SCHEDULED`) or `destroyed`, as
    /// its clients meet it (a disabled key's versions are all disabled).
    pub state: String,
    /// When a scheduled destruction takes effect (lab time).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub destroy_time: Option<OffsetDateTime>,
}

/// Everything the lab knows, behind one lock.
#[derive(Debug, Clone)]
pub struct KmsState {
    /// Keys by lab name.
    pub keys: BTreeMap<String, Key>,
    /// AWS aliases (name without `alias/`) → lab key name.
    pub aliases: BTreeMap<String, String>,
    /// Per cloud, how many times the service's sessions were revoked (GCP tokens remember it).
    pub(crate) session_epochs: BTreeMap<Cloud, u64>,
    /// The external key manager's keys, the key stores and the keys they back.
    pub xks: XksState,
    /// The customer's AWS access documents (trust, role and key policies).
    pub aws_access: AwsAccess,
    /// The customer's GCP access documents (providers, IAM policies, custom roles).
    pub gcp_access: GcpAccess,
    /// The customer's Azure access documents (service principals, roles, assignments, vault).
    pub azure_access: AzureAccess,
}

impl Default for KmsState {
    /// No keys and the demo tenant's documents.
    fn default() -> Self {
        let tenant = Tenant::default();
        Self {
            keys: BTreeMap::new(),
            aliases: BTreeMap::new(),
            session_epochs: BTreeMap::new(),
            xks: XksState::default(),
            aws_access: AwsAccess::demo(&tenant),
            gcp_access: GcpAccess::demo(&tenant),
            azure_access: AzureAccess::demo(&tenant),
        }
    }
}

impl KmsState {
    /// The key named `name`.
    pub fn key(&self, name: &str) -> Result<&Key, StateError> {
        self.keys
            .get(name)
            .ok_or_else(|| StateError::KeyNotFound(name.to_owned()))
    }

    /// The key named `name`, mutably.
    pub fn key_mut(&mut self, name: &str) -> Result<&mut Key, StateError> {
        self.keys
            .get_mut(name)
            .ok_or_else(|| StateError::KeyNotFound(name.to_owned()))
    }

    /// The key of `provider` whose cloud id is `id`.
    pub fn key_by_id(&self, provider: Cloud, id: &str) -> Option<&Key> {
        self.keys
            .values()
            .find(|k| k.provider == provider && k.id == id)
    }

    /// The current session epoch of a provider: sessions issued in an older epoch are revoked.
    pub fn session_epoch(&self, provider: Cloud) -> u64 {
        self.session_epochs.get(&provider).copied().unwrap_or(0)
    }

    /// Decides whether `caller` may use key `name` for `usage`; `action` is the cloud's word for
    /// it (`kms:Decrypt`, `cloudkms.cryptoKeyVersions.useToEncrypt`, `decrypt`), used in errors.
    pub fn authorize(
        &self,
        name: &str,
        caller: Caller,
        usage: KeyUse,
        action: &str,
    ) -> Result<&Key, StateError> {
        let key = self.key(name)?;
        if caller == Caller::Owner {
            return Ok(key);
        }
        // Encrypt and decrypt: the customer's documents decide, in the front-ends (`access`).
        if usage == KeyUse::Manage {
            return Err(StateError::AccessDenied {
                key: name.to_owned(),
                action: action.to_owned(),
            });
        }
        Ok(key)
    }

    /// Gives a new key the documents the demo key of its provider has: its AWS key policy, its
    /// GCP IAM policy or its Azure role assignment granting EKM encrypt and decrypt.
    pub fn give_demo_documents(&mut self, tenant: &Tenant, key: &Key) {
        match key.provider {
            Cloud::Aws => {
                let policy = AwsAccess::demo_key_policy(tenant);
                self.aws_access
                    .key_policies
                    .insert(key.name.clone(), policy);
            }
            Cloud::Gcp => self.gcp_access.put_demo_key_policy(tenant, &key.id),
            Cloud::Azure => self.azure_access.assign_demo_role(tenant, &key.id),
        }
    }

    /// Resolves an AWS alias (without `alias/`) to its key's lab name.
    pub fn alias_target(&self, alias: &str) -> Option<&str> {
        self.aliases.get(alias).map(String::as_str)
    }

    /// Destroys the keys whose deletion date has passed at `now`.
    pub fn settle(&mut self, now: OffsetDateTime) {
        for key in self.keys.values_mut() {
            key.settle(now);
        }
    }

    fn needs_settling(&self, now: OffsetDateTime) -> bool {
        self.keys.values().any(|key| key.needs_settling(now))
    }
}

/// Sees every change of the lab state before it takes effect, e.g. to persist it
/// (`--state FILE`): persist first, then apply.
pub trait StateObserver: Send + Sync + std::fmt::Debug {
    /// Called under the state lock with the state as it is about to become, at lab time `now`
    /// (a clock jump is told with the time it jumps to). An error cancels the change, which then
    /// fails the request that asked for it.
    fn changed(&self, state: &KmsState, now: OffsetDateTime) -> Result<(), StateError>;
}

/// The shared lab.
#[derive(Debug)]
pub struct Kms {
    clock: SharedClock,
    tenant: Tenant,
    vault_url: String,
    state: Mutex<KmsState>,
    /// When the state's next scheduled deletion falls due.
    next_deletion: NextDeletion,
    calls: CallLog,
    faults: Faults,
    xks: Xks,
    observer: OnceLock<Box<dyn StateObserver>>,
}

impl Kms {
    /// An empty lab (no keys) for `tenant`; `vault_url` is the Azure vault's base URL
    /// (`https://127.0.0.1:PORT`), which Azure key ids are rendered under.
    pub fn new(clock: SharedClock, tenant: Tenant, vault_url: String) -> Self {
        Self {
            clock,
            vault_url: vault_url.trim_end_matches('/').to_owned(),
            state: Mutex::new(KmsState {
                aws_access: AwsAccess::demo(&tenant),
                gcp_access: GcpAccess::demo(&tenant),
                azure_access: AzureAccess::demo(&tenant),
                ..KmsState::default()
            }),
            calls: CallLog::default(),
            faults: Faults::default(),
            xks: Xks::default(),
            next_deletion: NextDeletion::default(),
            observer: OnceLock::new(),
            tenant,
        }
    }

    /// Installs the observer told of every change from now on (at most one per lab).
    pub fn observe_changes(&self, observer: Box<dyn StateObserver>) -> Result<(), StateError> {
        self.observer
            .set(observer)
            .map_err(|_| StateError::Internal("the lab already has a state observer".into()))
    }

    /// Seeds the tenant's demo keys (`aws-demo` with its alias, `gcp-demo`, `azure-demo`).
    pub fn seed_demo_keys(&self) -> Result<(), StateError> {
        let now = self.now();
        let aws = &self.tenant.aws;
        let demo = [
            (
                "aws-demo",
                Cloud::Aws,
                aws.key_arn(&aws.demo_key_id),
                KeySpec::SymmetricDefault,
            ),
            (
                "gcp-demo",
                Cloud::Gcp,
                self.tenant.gcp.crypto_key_name(&self.tenant.gcp.demo_key),
                KeySpec::SymmetricDefault,
            ),
            (
                "azure-demo",
                Cloud::Azure,
                self.tenant.azure.demo_key.clone(),
                KeySpec::Rsa2048,
            ),
        ];
        let keys = demo
            .into_iter()
            .map(|(name, provider, id, spec)| Key::generate(name, provider, id, spec, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|state| {
            for key in keys {
                if state.keys.contains_key(&key.name) {
                    return Err(StateError::AlreadyExists(key.name));
                }
                state.give_demo_documents(&self.tenant, &key);
                state.keys.insert(key.name.clone(), key);
            }
            state
                .aliases
                .insert(aws.demo_alias.clone(), "aws-demo".to_owned());
            Ok(())
        })
    }

    /// The lab clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Lab time now.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Moves lab time forward by `by`; refused (400) past the clock's horizon, year 9999. The
    /// new time, and the destruction of keys whose deletion date it passes, are persisted
    /// before the clock moves.
    pub fn advance_clock(&self, by: Duration) -> Result<OffsetDateTime, StateError> {
        let past_horizon = |e: ekm_clock::ClockError| StateError::InvalidRequest(e.to_string());
        let mut state = self.lock();
        let target = ekm_clock::checked_later(self.clock.now(), by).map_err(past_horizon)?;
        let mut next = state.clone();
        next.settle(target);
        self.persist(&next, target)?;
        let now = self.clock.try_advance(by).map_err(past_horizon)?;
        *state = next;
        self.next_deletion.update(&state);
        Ok(now)
    }

    /// Who is who.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The Azure vault's base URL (`https://127.0.0.1:PORT`).
    pub fn vault_url(&self) -> &str {
        &self.vault_url
    }

    /// The call log.
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// Writes one answered call to the call log at the current lab time: the one place a
    /// [`CallRecord`] is written (by the request pipeline and the external key store hop).
    pub fn log_call(&self, mut record: CallRecord) {
        record.time = self.now();
        self.calls.record(record);
    }

    /// Logs one answered call of an external key store hop (see [`HopCall`]).
    pub fn log_hop(&self, call: HopCall<'_>) {
        let mut record = CallRecord::new(call.provider, call.operation, CallKind::Hop);
        record.key = call.key.map(str::to_owned);
        call.caller.clone_into(&mut record.caller);
        call.outcome.clone_into(&mut record.outcome);
        record.latency_ms = call.latency.as_secs_f64() * 1000.0;
        record.hop = Some(call.hop.to_owned());
        self.log_call(record);
    }

    /// The external key store: the lab's XKS proxy, the key manager behind it, the hop's faults.
    pub fn xks(&self) -> &Xks {
        &self.xks
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the active faults; their windows start now (lab time). Refused (and nothing
    /// set) when a window would end past the lab clock's horizon.
    pub fn set_faults(&self, faults: Vec<Fault>) -> Result<(), StateError> {
        self.faults
            .set(faults, self.now())
            .map_err(|e| StateError::InvalidRequest(e.to_string()))
    }

    /// Puts the lab back to `state` (a clone [`Kms::read`] took) with an empty call log, no
    /// faults and the external key store's run-time side as new; clock, tenant and observer
    /// stay, and the observer is not told. For harnesses that run many independent cases
    /// through one set of [`Routers`](crate::server::Routers), whose construction is most of a
    /// fresh lab's cost (the `mock_control` fuzz target). The routers' STS sessions and tokens
    /// stay too: each is a random secret no later case can name.
    pub fn restore(&self, state: KmsState) {
        let Self {
            clock: _,
            tenant: _,
            vault_url: _,
            state: current,
            next_deletion,
            calls,
            faults,
            xks,
            observer: _,
        } = self;
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = state;
        next_deletion.update(&current);
        drop(current);
        calls.clear();
        faults.clear();
        xks.reset();
    }

    /// Tells the observer (the state file) of `next` at lab time `now`.
    fn persist(&self, next: &KmsState, now: OffsetDateTime) -> Result<(), StateError> {
        match self.observer.get() {
            Some(observer) => observer.changed(next, now),
            None => Ok(()),
        }
    }

    /// The state, with the deletions whose date has passed settled (looked for only once the
    /// earliest pending one may be due).
    fn lock(&self) -> MutexGuard<'_, KmsState> {
        // Every change under the lock is applied whole or not at all, so the state behind a
        // poisoned lock is consistent.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        if self.next_deletion.may_be_due(now) {
            if state.needs_settling(now) {
                // A deletion date passed: the material goes from memory now, and from the
                // state file with it. If saving fails the next successful save carries the
                // destruction (and a restart applies it again from the saved clock).
                state.settle(now);
                if let Err(error) = self.persist(&state, now) {
                    tracing::error!(%error, "could not persist the destruction of a key");
                }
            }
            self.next_deletion.update(&state);
        }
        state
    }

    /// Destroys, and persists the destruction of, the keys whose deletion date has passed on
    /// the lab clock (the server calls this on a timer, so material does not wait for the next
    /// request to leave the state file).
    pub fn settle_deletions(&self) {
        drop(self.lock());
    }

    /// Reads the state (scheduled deletions whose date has passed are applied first).
    pub fn read<R>(&self, f: impl FnOnce(&KmsState) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state, all or nothing: `f` works on a copy, which is persisted (when a state
    /// file is attached) and only then installed. An error from `f` or from persisting leaves
    /// the state as it was.
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut KmsState) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let mut state = self.lock();
        let mut next = state.clone();
        let result = f(&mut next)?;
        self.persist(&next, self.clock.now())?;
        *state = next;
        self.next_deletion.update(&state);
        Ok(result)
    }

    /// The control-API view of key `name`.
    pub fn key_info(&self, name: &str) -> Result<KeyInfo, StateError> {
        self.read(|state| state.key(name).map(|key| self.info_in(state, key)))
    }

    /// The control-API view of every key, by name.
    pub fn list_keys(&self) -> Vec<KeyInfo> {
        self.read(|state| {
            state
                .keys
                .values()
                .map(|key| self.info_in(state, key))
                .collect()
        })
    }

    /// The cloud id as clients see it (Azure ids are URLs under the vault).
    pub fn display_id(&self, key: &Key) -> String {
        match key.provider {
            Cloud::Azure => format!("{}/keys/{}", self.vault_url, key.id),
            Cloud::Aws | Cloud::Gcp => key.id.clone(),
        }
    }

    /// The control-API view of `key` (which need not be in `state` yet), under the state lock.
    pub fn key_info_of(&self, state: &KmsState, key: &Key) -> KeyInfo {
        self.info_in(state, key)
    }

    /// The control-API view of `key` under the state lock: an AWS key's `access` and `trust` are what its
    /// documents decide for EKM's calls with EKM's encryption context.
    fn info_in(&self, state: &KmsState, key: &Key) -> KeyInfo {
        let (access, trust) = match key.provider {
            Cloud::Aws => state.aws_access.service_allowed(&self.tenant, key),
            Cloud::Gcp => state.gcp_access.service_allowed(&self.tenant, &key.id),
            Cloud::Azure => state.azure_access.service_allowed(&self.tenant, &key.id),
        };
        let now = self.now();
        let version_states = key
            .versions
            .iter()
            .map(|version| {
                let state = key.version_state_at(version, now);
                VersionInfo {
                    id: version.id.clone(),
                    state: state.as_str().to_owned(),
                    destroy_time: match state {
                        KeyState::PendingDeletion { deletion_date } => Some(deletion_date),
                        _ => None,
                    },
                }
            })
            .collect();
        let state = key.state_at(now);
        KeyInfo {
            name: key.name.clone(),
            provider: key.provider,
            id: self.display_id(key),
            spec: key.spec.as_str().to_owned(),
            state: state.as_str().to_owned(),
            deletion_date: match state {
                KeyState::PendingDeletion { deletion_date } => Some(deletion_date),
                _ => None,
            },
            access,
            trust,
            versions: key.versions.iter().map(|v| v.id.clone()).collect(),
            primary_version: key.primary().id.clone(),
            version_states,
        }
    }

    /// Takes `action` on version `version` of key `name` as its owner, as the key's cloud offers
    /// it: GCP all four (a destruction after [`VERSION_DESTROY_WINDOW`]), Azure enable and
    /// disable; AWS KMS keys have no per-version state. Repeating an enable or disable is not
    /// an error.
    pub fn apply_version(
        &self,
        name: &str,
        version: &str,
        action: VersionAction,
    ) -> Result<KeyInfo, StateError> {
        let now = self.now();
        self.write(|state| {
            let key = state.key_mut(name)?;
            if let Some(reason) = action.unsupported_on(key.provider) {
                return Err(StateError::UnsupportedOperation {
                    key: name.to_owned(),
                    reason: reason.to_owned(),
                });
            }
            key.change_version(version, action, now, VERSION_DESTROY_WINDOW)?;
            Ok(self.info_in(state, state.key(name)?))
        })
    }

    /// Creates key `name` with the same trust and policy for the service identity as the demo
    /// key of its provider. Its cloud id follows the provider's naming (a fresh AWS key ARN, a
    /// cryptoKey named `name` in the demo key ring, a vault key named `name`).
    pub fn create_key(
        &self,
        name: &str,
        provider: Cloud,
        spec: KeySpec,
    ) -> Result<KeyInfo, StateError> {
        validate_key_name(name)?;
        let id = match provider {
            Cloud::Aws => self.tenant.aws.key_arn(&uuid::Uuid::new_v4().to_string()),
            Cloud::Gcp => self.tenant.gcp.crypto_key_name(name),
            Cloud::Azure => name.to_owned(),
        };
        let key = Key::generate(name, provider, id, spec, self.now())?;
        self.write(|state| {
            if state.keys.contains_key(name) {
                return Err(StateError::AlreadyExists(name.to_owned()));
            }
            if state.key_by_id(provider, &key.id).is_some() {
                return Err(StateError::AlreadyExists(key.id.clone()));
            }
            state.give_demo_documents(&self.tenant, &key);
            let info = self.info_in(state, &key);
            state.keys.insert(name.to_owned(), key);
            Ok(info)
        })
    }

    /// Applies a lifecycle action to key `name`. Repeating an action is not an error.
    pub fn apply(&self, name: &str, action: KeyAction) -> Result<KeyInfo, StateError> {
        // New material is made before taking the state lock: an RSA-4096 key takes a while.
        let mut material = match action {
            KeyAction::Rotate => {
                let spec = self.read(|state| state.key(name).map(|key| key.spec))?;
                Some((spec, KeyMaterial::generate(spec)?))
            }
            _ => None,
        };
        let now = self.now();
        self.write(|state| {
            let provider = state.key(name)?.provider;
            let key = state.key_mut(name)?;
            let current = key.state_at(now);
            let refuse = |reason: &str| StateError::InvalidState {
                key: name.to_owned(),
                state: current.as_str(),
                reason: reason.to_owned(),
            };
            match action {
                KeyAction::Rotate => match current {
                    KeyState::Enabled | KeyState::Disabled => match material.take() {
                        Some((spec, material)) if spec == key.spec => {
                            key.add_version(now, material);
                        }
                        _ => return Err(refuse("the key was replaced meanwhile; retry")),
                    },
                    _ => return Err(refuse("only an enabled or disabled key can be rotated")),
                },
                KeyAction::Disable | KeyAction::Enable => match current {
                    KeyState::Enabled | KeyState::Disabled => {
                        key.state = if action == KeyAction::Enable {
                            KeyState::Enabled
                        } else {
                            KeyState::Disabled
                        };
                    }
                    _ => return Err(refuse("a key pending deletion or destroyed cannot change")),
                },
                KeyAction::ScheduleDeletion => match current {
                    KeyState::Enabled | KeyState::Disabled => {
                        key.state = KeyState::PendingDeletion {
                            deletion_date: deletion_date(name, now, DELETION_WINDOW)?,
                        };
                    }
                    KeyState::PendingDeletion { .. } => {}
                    KeyState::Destroyed => return Err(refuse("the key is already destroyed")),
                },
                KeyAction::Destroy => key.destroy(),
                KeyAction::RevokeAccess | KeyAction::RestoreAccess => {
                    let revoke = action == KeyAction::RevokeAccess;
                    let id = key.id.clone();
                    match provider {
                        Cloud::Aws => state.aws_access.set_access(&self.tenant, name, revoke),
                        Cloud::Gcp => state.gcp_access.set_access(&self.tenant, &id, revoke),
                        Cloud::Azure => state.azure_access.set_access(&self.tenant, &id, revoke),
                    }
                }
                KeyAction::RevokeTrust | KeyAction::RestoreTrust => {
                    let revoke = action == KeyAction::RevokeTrust;
                    match provider {
                        Cloud::Aws => state.aws_access.set_trust(&self.tenant, revoke),
                        Cloud::Gcp => state.gcp_access.set_trust(&self.tenant, revoke),
                        Cloud::Azure => state.azure_access.set_trust(&self.tenant, revoke),
                    }
                }
                KeyAction::RevokeSessions => match provider {
                    Cloud::Aws => state.aws_access.revoke_older_sessions(now),
                    Cloud::Gcp => *state.session_epochs.entry(provider).or_default() += 1,
                    Cloud::Azure => {
                        return Err(StateError::InvalidRequest(
                            "azure: Entra access tokens cannot be revoked — they live to their \
                             expiry (tenant.sessions.azure); continuous access evaluation, which \
                             ends them early, serves Microsoft Graph only, not Key Vault. Remove \
                             the role assignment (revoke-access) to stop the calls at once"
                                .into(),
                        ));
                    }
                },
            }
            Ok(self.info_in(state, state.key(name)?))
        })
    }

    /// Decrypts a ciphertext one of the lab's keys made, as the lab itself holding the key
    /// material: no authorization, no faults and no call-log entry, but the key's lifecycle
    /// still applies (a disabled or destroyed key decrypts nothing). For audits that must see
    /// what a wrapped secret is, e.g. the scenario runner proving that no plaintext DEK reaches
    /// the disk.
    pub fn owner_decrypt(
        &self,
        ciphertext: OwnerCiphertext<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, StateError> {
        let now = self.now();
        let (blob, aad) = match ciphertext {
            OwnerCiphertext::Aws {
                blob,
                encryption_context,
            } => (blob, crate::aws::kms::context_aad(encryption_context)),
            OwnerCiphertext::Gcp { ciphertext, aad } => (ciphertext, aad.to_vec()),
            OwnerCiphertext::Azure {
                key,
                version,
                ciphertext,
            } => {
                return self.read(|state| {
                    let key = state.key(key)?;
                    key.ensure_usable(now)?;
                    let version = key.version(version).ok_or_else(|| {
                        StateError::InvalidCiphertext(format!(
                            "key `{}` has no such version",
                            key.name
                        ))
                    })?;
                    rsa_oaep_256_decrypt(&key.name, &version.material, ciphertext)
                });
            }
        };
        let (header, header_len) = BlobHeader::parse(blob)?;
        self.read(|state| {
            let key = state.key(&header.key)?;
            let inner = match crate::xks::layer::owner_open(
                &state.xks,
                &header.key,
                blob,
                header_len,
                &aad,
            ) {
                Some(opened) => opened.map_err(StateError::InvalidCiphertext)?,
                None => Zeroizing::new(blob.to_vec()),
            };
            let (plaintext, _) = key.decrypt_blob(now, &inner, &aad)?;
            Ok(plaintext)
        })
    }

    /// Points AWS alias `alias` (without `alias/`) at key `target` (self-service revocation).
    pub fn set_alias(&self, alias: &str, target: &str) -> Result<(), StateError> {
        validate_key_name(alias)?;
        self.write(|state| {
            let key = state.key(target)?;
            if key.provider != Cloud::Aws {
                return Err(StateError::InvalidRequest(format!(
                    "aliases point at AWS keys; `{target}` is a {} key",
                    key.provider
                )));
            }
            state.aliases.insert(alias.to_owned(), target.to_owned());
            Ok(())
        })
    }
}

/// A ciphertext as its cloud made it, for [`Kms::owner_decrypt`].
#[derive(Debug, Clone, Copy)]
pub enum OwnerCiphertext<'a> {
    /// An AWS KMS `CiphertextBlob` made with this `EncryptionContext`.
    Aws {
        /// The blob.
        blob: &'a [u8],
        /// The encryption context it was made with.
        encryption_context: &'a BTreeMap<String, String>,
    },
    /// A Cloud KMS ciphertext made with this `additionalAuthenticatedData`.
    Gcp {
        /// The ciphertext.
        ciphertext: &'a [u8],
        /// The additional authenticated data it was made with.
        aad: &'a [u8],
    },
    /// A Key Vault `RSA-OAEP-256` result of version `version` of key `key` (lab names).
    Azure {
        /// Lab name of the key.
        key: &'a str,
        /// The version id.
        version: &'a str,
        /// The ciphertext.
        ciphertext: &'a [u8],
    },
}

fn rsa_oaep_256_decrypt(
    name: &str,
    material: &KeyMaterial,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, StateError> {
    use rsa::pkcs8::DecodePrivateKey as _;
    let KeyMaterial::Rsa(der) = material else {
        return Err(StateError::UnsupportedOperation {
            key: name.to_owned(),
            reason: "only RSA keys decrypt RSA-OAEP-256 ciphertexts".into(),
        });
    };
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|_| {
        StateError::Internal(format!("the RSA material of key `{name}` is unusable"))
    })?;
    key.decrypt(rsa::Oaep::new::<rsa::sha2::Sha256>(), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| StateError::InvalidCiphertext("the ciphertext is invalid".into()))
}

/// Key and alias names: 1–64 of ASCII letters, digits, `-` and `_` (safe in every cloud's URLs).
pub(crate) fn validate_key_name(name: &str) -> Result<(), StateError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidRequest(format!(
            "invalid name `{name}`: use 1-64 ASCII letters, digits, '-' or '_'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ekm_clock::{Clock, ManualClock};

    use super::*;

    /// A lab with the demo keys on a manual clock.
    pub(super) fn demo_lab() -> (Arc<ManualClock>, Kms) {
        let clock = Arc::new(ManualClock::default());
        let lab = Kms::new(
            clock.clone(),
            Tenant::default(),
            "https://127.0.0.1:4600/".into(),
        );
        lab.seed_demo_keys().unwrap();
        (clock, lab)
    }

    #[test]
    fn demo_keys_follow_the_contract() {
        let (_, lab) = demo_lab();
        let keys = lab.list_keys();
        let ids: Vec<_> = keys
            .iter()
            .map(|k| (k.name.as_str(), k.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                (
                    "aws-demo",
                    "arn:aws:kms:us-east-1:111122223333:key/0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30"
                ),
                ("azure-demo", "https://127.0.0.1:4600/keys/ekm-key"),
                (
                    "gcp-demo",
                    "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key"
                ),
            ]
        );
        assert!(
            keys.iter()
                .all(|k| k.state == "enabled" && k.access && k.trust)
        );
        assert_eq!(
            lab.read(|s| s.alias_target("ekm-demo").map(str::to_owned)),
            Some("aws-demo".into())
        );
    }

    #[test]
    fn lifecycle_actions_and_their_refusals() {
        let (clock, lab) = demo_lab();
        let rotated = lab.apply("aws-demo", KeyAction::Rotate).unwrap();
        assert_eq!(rotated.versions.len(), 2);
        assert_eq!(
            lab.apply("aws-demo", KeyAction::Disable).unwrap().state,
            "disabled"
        );
        assert_eq!(
            lab.apply("aws-demo", KeyAction::Disable).unwrap().state,
            "disabled"
        );
        let pending = lab.apply("aws-demo", KeyAction::ScheduleDeletion).unwrap();
        assert_eq!(pending.state, "pending-deletion");
        assert!(matches!(
            lab.apply("aws-demo", KeyAction::Enable),
            Err(StateError::InvalidState { .. })
        ));
        clock.advance(DELETION_WINDOW);
        assert_eq!(lab.key_info("aws-demo").unwrap().state, "destroyed");
        assert!(matches!(
            lab.apply("nope", KeyAction::Rotate),
            Err(StateError::KeyNotFound(_))
        ));
    }

    #[test]
    fn the_service_only_encrypts_and_decrypts_the_owner_does_anything() {
        let (_, lab) = demo_lab();
        lab.read(|s| {
            assert!(matches!(
                s.authorize("azure-demo", Caller::Service, KeyUse::Manage, "rotate"),
                Err(StateError::AccessDenied { .. })
            ));
            assert!(
                s.authorize("azure-demo", Caller::Service, KeyUse::Decrypt, "decrypt")
                    .is_ok()
            );
            assert!(
                s.authorize("azure-demo", Caller::Owner, KeyUse::Manage, "rotate")
                    .is_ok()
            );
        });
    }

    #[test]
    fn switches_edit_the_documents_and_trust_is_the_tenants() {
        let (_, lab) = demo_lab();
        let switches = |name: &str| {
            let info = lab.key_info(name).unwrap();
            (info.access, info.trust)
        };
        for (cloud, demo, spec) in [
            (Cloud::Aws, "aws-demo", KeySpec::SymmetricDefault),
            (Cloud::Gcp, "gcp-demo", KeySpec::SymmetricDefault),
            (Cloud::Azure, "azure-demo", KeySpec::Rsa2048),
        ] {
            let other = format!("{demo}-2");
            lab.create_key(&other, cloud, spec).unwrap();
            assert_eq!(switches(&other), (true, true), "{cloud}");
            lab.apply(demo, KeyAction::RevokeAccess).unwrap();
            assert_eq!(switches(demo), (false, true), "{cloud}");
            assert_eq!(switches(&other), (true, true), "{cloud}");
            let epoch = lab.read(|s| s.session_epoch(cloud));
            lab.apply(&other, KeyAction::RevokeTrust).unwrap();
            assert_eq!(lab.read(|s| s.session_epoch(cloud)), epoch, "{cloud}");
            assert_eq!(switches(demo), (false, false), "{cloud}");
            assert_eq!(switches(&other), (true, false), "{cloud}");
            lab.apply(demo, KeyAction::RestoreTrust).unwrap();
            lab.apply(demo, KeyAction::RestoreAccess).unwrap();
            assert_eq!(switches(demo), (true, true), "{cloud}");
            assert_eq!(switches(&other), (true, true), "{cloud}");
        }
    }

    #[test]
    fn revoke_sessions_is_each_clouds_nearest_real_thing() {
        let (_, lab) = demo_lab();
        let now = lab.now();
        lab.apply("aws-demo", KeyAction::RevokeSessions).unwrap();
        let policy = lab.read(|s| {
            s.aws_access.role_policies[crate::access::aws::REVOKE_OLDER_SESSIONS]
                .json()
                .clone()
        });
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(
            statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            now.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
        lab.apply("gcp-demo", KeyAction::RevokeSessions).unwrap();
        assert_eq!(lab.read(|s| s.session_epoch(Cloud::Gcp)), 1);
        let refused = lab
            .apply("azure-demo", KeyAction::RevokeSessions)
            .unwrap_err();
        assert!(
            refused.to_string().contains("cannot be revoked"),
            "{refused}"
        );
        assert_eq!(lab.read(|s| s.session_epoch(Cloud::Azure)), 0);
    }

    #[test]
    fn created_keys_and_aliases() {
        let (_, lab) = demo_lab();
        let key = lab
            .create_key("aws-2", Cloud::Aws, KeySpec::SymmetricDefault)
            .unwrap();
        assert!(
            key.id
                .starts_with("arn:aws:kms:us-east-1:111122223333:key/")
        );
        assert!(matches!(
            lab.create_key("aws-2", Cloud::Aws, KeySpec::SymmetricDefault),
            Err(StateError::AlreadyExists(_))
        ));
        assert!(
            lab.create_key("../x", Cloud::Gcp, KeySpec::SymmetricDefault)
                .is_err()
        );
        lab.set_alias("ekm-demo", "aws-2").unwrap();
        assert!(lab.set_alias("ekm-demo", "gcp-demo").is_err());
        assert_eq!(
            lab.read(|s| s.alias_target("ekm-demo").map(str::to_owned)),
            Some("aws-2".into())
        );
    }

    #[test]
    fn restore_leaves_nothing_of_what_came_after_the_snapshot() {
        use ekm_vocab::{FaultEffect, FaultScope, Probability};

        let (_, lab) = demo_lab();
        let snapshot = lab.read(KmsState::clone);
        let keys = lab.list_keys();
        lab.create_key("aws-2", Cloud::Aws, KeySpec::SymmetricDefault)
            .unwrap();
        lab.apply("gcp-demo", KeyAction::Disable).unwrap();
        lab.set_alias("ekm-demo", "aws-2").unwrap();
        lab.log_call(CallRecord::new(Cloud::Aws, "Encrypt", CallKind::Wrap));
        let outage = FaultEffect::Outage {
            probability: Probability::ALWAYS,
        };
        lab.set_faults(vec![Fault::new(FaultScope::cloud(Cloud::Aws), outage)])
            .unwrap();
        lab.xks()
            .configure(Some("/tenant-1/kms/xks/v1".into()), None)
            .unwrap();
        lab.xks()
            .hop()
            .set_timeout(Duration::from_millis(1))
            .unwrap();

        lab.restore(snapshot);
        assert_eq!(lab.list_keys(), keys);
        assert_eq!(
            lab.read(|s| s.alias_target("ekm-demo").map(str::to_owned)),
            Some("aws-demo".into())
        );
        let calls = lab.calls().since(0);
        assert!(calls.calls.is_empty());
        assert_eq!(calls.next, 0, "sequence numbers start again");
        assert!(lab.faults().list(lab.now()).is_empty());
        assert_eq!(
            lab.xks().endpoint().uri_path,
            crate::xks::Endpoint::default().uri_path
        );
        assert_eq!(lab.xks().hop().timeout(), crate::xks::hop::HOP_TIMEOUT);
    }
}
