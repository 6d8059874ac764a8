//! The scenario file format: what a YAML scenario may say, as Rust types.
//!
//! Every struct refuses unknown fields. A step is a map with a time (`at:` or `after:`), an
//! optional `note:` and `expect:`, and exactly one action, whose name is the remaining key
//! (`rotate: aws-demo`). Names with a fixed vocabulary (actions, providers, error kinds, fault
//! operations) are matched exactly and a near miss gets a suggestion ("unknown action `rotat` —
//! did you mean `rotate`?"). The crate documentation shows a whole file; [`crate::validate`]
//! checks what the types cannot (references, times going backwards).

use std::collections::BTreeMap;
use std::fmt;

use ekm_engine::config::EngineSettings;
use ekm_engine::registration::Cloud;
pub use ekm_lab::{ExternalKeyAction, HealthStatus, HopErrorName};
pub use ekm_vocab::KeyAction;
use ekm_vocab::{CallKind, FaultOperation, InjectedError as FaultError, KmsErrorKind};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::time::LabDuration;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown in reports and used as the test case name.
    pub name: String,
    /// The story the scenario tells, in prose.
    pub description: String,
    /// Engine timings (`dek_rotation`, `revalidate_after`, `cache_capacity`); the engine's
    /// defaults (24 h, 1 h, 10 000) when absent.
    #[serde(default)]
    pub engine: Option<EngineSettings>,
    /// The clouds the story covers; when absent, the ones its objects and actions name.
    #[serde(default)]
    pub providers: Option<Vec<Provider>>,
    /// Keys to create at the start besides the demo keys (`aws-demo` with alias `ekm-demo`,
    /// `gcp-demo`, `azure-demo`), each trusted and granted like its provider's demo key.
    #[serde(default)]
    pub keys: Vec<KeyDecl>,
    /// How long the clouds wait for the external key manager's proxy (`hop_timeout: 250ms`, the
    /// XKS specification's timeout, when absent).
    #[serde(default)]
    pub hop_timeout: Option<LabDuration>,
    /// Named objects: which provider's project seals them and what they contain.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectDecl>,
    /// Properties checked after every step.
    #[serde(default)]
    pub invariants: Invariants,
    /// The timeline.
    pub steps: Vec<Step>,
}

/// An extra key (`keys:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecl {
    /// Lab-wide name (`aws-second`).
    pub name: String,
    /// Its cloud.
    pub provider: Provider,
    /// Key spec (`SYMMETRIC_DEFAULT`, `RSA_2048`, …); the provider's default when absent.
    #[serde(default)]
    pub spec: Option<String>,
    /// Back the key by this key of the customer's own external key manager (created when
    /// first named): AWS puts the key in an external key store, GCP makes it a Cloud EKM key
    /// (protection level `EXTERNAL`). Every use of the key then makes a hop to that manager.
    #[serde(default)]
    pub external_key: Option<String>,
}

/// A named object (`objects:` entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDecl {
    /// The provider whose engine project seals it (`proj_demo/<provider>`).
    pub provider: Provider,
    /// Seal it in another project of the same customer, registered on this key (lab name) for
    /// the whole run (`proj_demo/<key>`), instead of the provider's main project.
    #[serde(default)]
    pub key: Option<String>,
    /// Its plaintext.
    pub content: String,
}

/// Global properties (`invariants:`), checked after every step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invariants {
    /// Once this long has passed since a revocation (disable, schedule-deletion, destroy,
    /// revoke-access, revoke-trust, alias-swap, switch-key) that was not undone, every object
    /// sealed under the revoked key must be unreadable.
    #[serde(default)]
    pub revocation_effective_within: Option<LabDuration>,
    /// Objects are kept in a real directory, and no file in it may contain any DEK the
    /// scenario's envelopes carry (raw, hex or base64), as recovered by the key owner.
    #[serde(default)]
    pub no_plaintext_dek_on_disk: bool,
}

/// One step of the timeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// When it happens.
    pub time: StepTime,
    /// What happens.
    pub action: Action,
    /// A line of narration shown in the timeline.
    pub note: Option<String>,
    /// What must be true right after the action.
    pub expect: Option<Expect>,
}

/// When a step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepTime {
    /// At this offset from the start of the scenario (`at: 2h30m`).
    At(LabDuration),
    /// This long after the previous step ended (`after: 15m`).
    After(LabDuration),
}

/// The cloud of a key, object or fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// AWS KMS.
    Aws,
    /// GCP Cloud KMS.
    Gcp,
    /// Azure Key Vault.
    Azure,
}

/// One action.
#[derive(Debug, Clone)]
pub enum Action {
    /// Seal and store these objects (again, if they exist).
    Encrypt(Vec<String>),
    /// Read and open these objects.
    Decrypt(Vec<String>),
    /// Read every object encrypted so far.
    ReadAll,
    /// Many operations spread evenly over a window.
    Traffic(Traffic),
    /// A lifecycle action on a key (`rotate`, `disable`, …).
    Key {
        /// Which.
        action: KeyAction,
        /// Lab name of the key.
        key: String,
    },
    /// Repoint an AWS alias at another key.
    AliasSwap(AliasSwap),
    /// Re-register a provider's project on another key.
    SwitchKey(SwitchKey),
    /// A fault for a window of lab time.
    Fault(Fault),
    /// The customer acts on the external key backing a cloud key, in their own key manager.
    ExternalKey(ExternalKeyStep),
    /// The external key manager's HSM fleet reports this health for a window of lab time.
    HsmFleet(HsmFleet),
    /// A fault on the hop between the clouds and the external key manager, for a window.
    HopFault(HopFault),
}

/// `external-key:` — `action` on the external key backing the cloud key `key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalKeyStep {
    /// Lab name of a cloud key declared with `external_key:`.
    pub key: String,
    /// `disable`, `enable` or `delete`.
    pub action: ExternalKeyWord,
}

/// `hsm-fleet:` — every HSM of the external key manager reports `status` for `window`; the
/// runner sets the fleet `ACTIVE` again when the window ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmFleet {
    /// `ACTIVE`, `DEGRADED` or `UNAVAILABLE`.
    pub status: FleetStatus,
    /// How long.
    #[serde(rename = "for")]
    pub window: LabDuration,
}

/// `hop-fault:` — a fault on the hop to the external key manager's proxy, for `window`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopFault {
    /// Which fault: `latency`, `error`, `malformed`, `unreachable`, `wrong-credentials`.
    pub fault: HopFaultWord,
    /// `latency`: milliseconds the proxy takes longer (real time).
    #[serde(default)]
    pub ms: Option<u64>,
    /// `error`: the XKS error the proxy answers (`ThrottlingException`, …).
    #[serde(default)]
    pub error: Option<HopError>,
    /// `error`, `malformed`: the deterministic fraction of hops hit (default 1).
    #[serde(default)]
    pub rate: Option<f64>,
    /// How long; the runner removes the fault when the window ends.
    #[serde(rename = "for")]
    pub window: LabDuration,
}

/// `traffic:` — `operations` seals and opens spread evenly over `over`, deterministic: reads
/// open envelopes sealed earlier in the same traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// How many operations.
    pub operations: u64,
    /// The window they are spread over.
    pub over: LabDuration,
    /// Which providers' projects (round-robin).
    pub provider: OneOrMany<Provider>,
    /// Fraction of operations that are reads (default 0.5).
    #[serde(default)]
    pub reads: Option<f64>,
}

/// `alias-swap:` — point `alias` (default `ekm-demo`) at key `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasSwap {
    /// The alias, without `alias/`.
    #[serde(default = "default_alias")]
    pub alias: String,
    /// The AWS key it points at from now on.
    pub to: String,
}

fn default_alias() -> String {
    "ekm-demo".into()
}

/// `switch-key:` — register `provider`'s project on key `to`; the old key is unregistered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchKey {
    /// The project's provider.
    pub provider: Provider,
    /// The new key (lab name, same provider).
    pub to: String,
}

/// A fault window.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// Where it applies.
    pub scope: FaultScope,
    /// How long it lasts; the runner removes it when the window ends.
    pub window: LabDuration,
}

/// The kind of a fault and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// A real delay of `ms` milliseconds per call.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// A deterministic fraction of calls fail with `error`.
    ErrorRate {
        /// Fraction in (0, 1].
        rate: f64,
        /// The injected error.
        error: FaultError,
    },
    /// At most `limit` calls per `per` of lab time.
    Throttle {
        /// Calls per window.
        limit: u32,
        /// Window.
        per: LabDuration,
    },
    /// The provider answers "service unavailable".
    Outage,
}

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultScope {
    /// The cloud.
    pub provider: Provider,
    /// `encrypt`, `decrypt`, `auth` or `*`; absent = encrypt and decrypt.
    pub op: Option<FaultOperation>,
    /// Only this key (lab name).
    pub key: Option<String>,
}

/// `expect:` — checked right after the step's action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The action's outcome: `ok` or an error kind.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Objects that must open (each is read through the engine to check).
    #[serde(default)]
    pub readable: Option<OneOrMany<String>>,
    /// Objects that must fail to open, optionally with a given error kind.
    #[serde(default)]
    pub unreadable: Option<Unreadable>,
    /// KMS call counts from the mock's call log.
    #[serde(default)]
    pub kms_calls: Option<OneOrMany<CallExpectation>>,
    /// Counts of the hops the clouds made to the external key manager.
    #[serde(default)]
    pub hop_calls: Option<OneOrMany<HopExpectation>>,
    /// The engine's DEK caches.
    #[serde(default)]
    pub cache: Option<CacheExpectation>,
    /// Keys' states in their cloud, as the cloud shows them (`{aws-demo: enabled}`).
    #[serde(default)]
    pub key_state: Option<BTreeMap<String, KeyStateWord>>,
}

/// `unreadable:` — a list of objects (any error), or a map of object → error kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable(pub Vec<(String, Option<ErrorKind>)>);

/// `kms_calls:` — how many calls of one kind the mock's call log shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// The cloud.
    pub provider: Provider,
    /// Which calls (default `any`).
    #[serde(default)]
    pub op: Option<CallOp>,
    /// At least this many.
    #[serde(default)]
    pub min: Option<u64>,
    /// At most this many.
    #[serde(default)]
    pub max: Option<u64>,
    /// Exactly this many.
    #[serde(default)]
    pub exactly: Option<u64>,
    /// Count the calls of this last span of lab time (ending now) instead of the step's own.
    #[serde(default)]
    pub window: Option<LabDuration>,
}

/// `hop_calls:` — how many hops to the external key manager the call log shows, as the cloud
/// made them (its side of the hop: one entry per hop, with the latency and outcome KMS saw).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopExpectation {
    /// Only hops this cloud made (default both `aws` and `gcp`).
    #[serde(default)]
    pub provider: Option<Provider>,
    /// Only hops for this cloud key (lab name).
    #[serde(default)]
    pub key: Option<String>,
    /// Which hops (default `any`).
    #[serde(default)]
    pub op: Option<HopOp>,
    /// Only hops with this outcome: `ok`, `failed`, or one failure (`timeout`, an XKS error
    /// name, …).
    #[serde(default)]
    pub outcome: Option<HopOutcome>,
    /// At least this many.
    #[serde(default)]
    pub min: Option<u64>,
    /// At most this many.
    #[serde(default)]
    pub max: Option<u64>,
    /// Exactly this many.
    #[serde(default)]
    pub exactly: Option<u64>,
    /// Count the hops of this last span of lab time (ending now) instead of the step's own.
    #[serde(default)]
    pub window: Option<LabDuration>,
}

/// `cache:` — live (unexpired) entries in the engine's DEK caches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheExpectation {
    /// Only entries of this provider's keys.
    #[serde(default)]
    pub provider: Option<Provider>,
    /// Live encrypt-path (active) DEKs.
    #[serde(default)]
    pub active_deks: Option<Count>,
    /// Live decrypt-path entries.
    #[serde(default)]
    pub decrypt_entries: Option<Count>,
}

/// A count: exact (`3`) or bounded (`{min: 1, max: 3}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    /// At least.
    pub min: Option<u64>,
    /// At most.
    pub max: Option<u64>,
}

impl Count {
    /// Whether `n` is within the bounds.
    pub fn admits(self, n: u64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a}..={b}"),
            (Some(a), None) => write!(f, "≥ {a}"),
            (None, Some(b)) => write!(f, "≤ {b}"),
            (None, None) => f.write_str("any number"),
        }
    }
}

/// One value or a list of them (`encrypt: a` or `encrypt: [a, b]`).
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

/// The expected result of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the action did succeeded.
    Ok,
    /// It failed with this kind of error.
    Error(ErrorKind),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Error(kind) => kind.fmt(f),
        }
    }
}

/// A closed vocabulary parsed from YAML strings with suggestions on near misses.
pub trait Vocabulary: Sized + Copy + 'static {
    /// What the words name, for messages ("action", "provider").
    const WHAT: &'static str;
    /// Every word and its value.
    const WORDS: &'static [(&'static str, Self)];

    /// The word for a value.
    fn word(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::WORDS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(w, _)| w)
    }

    /// Parses `text`, or explains what was expected.
    fn parse_word(text: &str) -> Result<Self, String> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let words: Vec<&str> = Self::WORDS.iter().map(|(w, _)| *w).collect();
                unknown(Self::WHAT, text, &words)
            })
    }
}

/// "unknown action `rotat` — did you mean `rotate`?" or "… — expected one of …".
pub fn unknown(what: &str, found: &str, candidates: &[&str]) -> String {
    match suggest(found, candidates.iter().copied()) {
        Some(best) => format!("unknown {what} `{found}` — did you mean `{best}`?"),
        None => format!(
            "unknown {what} `{found}` — expected one of {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The candidate closest to `found`, if it is close enough to be a typo.
pub fn suggest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&found.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Reads a word and maps it with `parse`, failing inside the string's own deserialization so
/// the error carries the word's line and column.
fn deserialize_word<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct WordVisitor<T>(fn(&str) -> Result<T, String>);
    impl<T> Visitor<'_> for WordVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a word")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(WordVisitor(parse))
}

/// Implements `Deserialize` for a [`Vocabulary`] from a YAML string.
macro_rules! vocabulary_deserialize {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserialize_word(deserializer, <$ty as Vocabulary>::parse_word)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}

impl Vocabulary for Provider {
    const WHAT: &'static str = "provider";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("aws", Provider::Aws),
        ("gcp", Provider::Gcp),
        ("azure", Provider::Azure),
    ];
}
vocabulary_deserialize!(Provider);

impl Provider {
    /// The engine's cloud.
    pub fn cloud(self) -> Cloud {
        match self {
            Provider::Aws => Cloud::Aws,
            Provider::Gcp => Cloud::Gcp,
            Provider::Azure => Cloud::Azure,
        }
    }

    /// The lab name of the provider's demo key.
    pub fn demo_key(self) -> &'static str {
        match self {
            Provider::Aws => "aws-demo",
            Provider::Gcp => "gcp-demo",
            Provider::Azure => "azure-demo",
        }
    }

    /// The scenario word's counterpart of `cloud`.
    pub fn from_cloud(cloud: Cloud) -> Self {
        match cloud {
            Cloud::Aws => Provider::Aws,
            Cloud::Gcp => Provider::Gcp,
            Cloud::Azure => Provider::Azure,
        }
    }
}

/// The kinds of error an outcome can name: the engine's KMS error classes, plus the engine's
/// own refusals and the lab refusing a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorKind {
    /// The service identity may not use the key.
    AccessDenied,
    /// The key is disabled.
    KeyDisabled,
    /// The key does not exist (Azure: also pending deletion or destroyed).
    KeyNotFound,
    /// The key is destroyed or pending deletion.
    KeyDestroyed,
    /// The KMS rate-limited the call.
    Throttled,
    /// The KMS did not answer.
    Unavailable,
    /// The KMS refused the eDEK (another key's, e.g. after an alias swap).
    InvalidCiphertext,
    /// The service identity could not authenticate (trust removed).
    Authentication,
    /// The KMS refused the request for a reason retrying cannot fix (a validation error, a key of
    /// the wrong usage, an unexpected 4xx).
    Rejected,
    /// The request did not reach the KMS.
    Transport,
    /// No key registered for the project owns the envelope's key (after a switch-key).
    UnknownKey,
    /// The project has no key to seal with.
    NoProvider,
    /// The envelope is malformed or opened with the wrong context; or the content differs.
    Envelope,
    /// The object store failed.
    Store,
    /// The mock KMS refused a key or fault change.
    Refused,
    /// Anything else.
    Other,
}

impl From<KmsErrorKind> for ErrorKind {
    fn from(kind: KmsErrorKind) -> Self {
        match kind {
            KmsErrorKind::AccessDenied => ErrorKind::AccessDenied,
            KmsErrorKind::KeyDisabled => ErrorKind::KeyDisabled,
            KmsErrorKind::KeyNotFound => ErrorKind::KeyNotFound,
            KmsErrorKind::KeyDestroyed => ErrorKind::KeyDestroyed,
            KmsErrorKind::Throttled => ErrorKind::Throttled,
            KmsErrorKind::Unavailable => ErrorKind::Unavailable,
            KmsErrorKind::InvalidCiphertext => ErrorKind::InvalidCiphertext,
            KmsErrorKind::Authentication => ErrorKind::Authentication,
            KmsErrorKind::Rejected => ErrorKind::Rejected,
            KmsErrorKind::Transport => ErrorKind::Transport,
            _ => ErrorKind::Other,
        }
    }
}

impl Vocabulary for ErrorKind {
    const WHAT: &'static str = "error kind";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("AccessDenied", ErrorKind::AccessDenied),
        ("KeyDisabled", ErrorKind::KeyDisabled),
        ("KeyNotFound", ErrorKind::KeyNotFound),
        ("KeyDestroyed", ErrorKind::KeyDestroyed),
        ("Throttled", ErrorKind::Throttled),
        ("Unavailable", ErrorKind::Unavailable),
        ("InvalidCiphertext", ErrorKind::InvalidCiphertext),
        ("Authentication", ErrorKind::Authentication),
        ("Rejected", ErrorKind::Rejected),
        ("Transport", ErrorKind::Transport),
        ("UnknownKey", ErrorKind::UnknownKey),
        ("NoProvider", ErrorKind::NoProvider),
        ("Envelope", ErrorKind::Envelope),
        ("Store", ErrorKind::Store),
        ("Refused", ErrorKind::Refused),
        ("Other", ErrorKind::Other),
    ];
}
vocabulary_deserialize!(ErrorKind);

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            if text == "ok" {
                return Ok(Outcome::Ok);
            }
            ErrorKind::parse_word(text)
                .map(Outcome::Error)
                .map_err(|_| {
                    let mut words = vec!["ok"];
                    words.extend(ErrorKind::WORDS.iter().map(|(w, _)| *w));
                    unknown("outcome", text, &words)
                })
        })
    }
}

/// Every action name, as a step key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionName {
    Encrypt,
    Decrypt,
    ReadAll,
    Traffic,
    Key(KeyAction),
    AliasSwap,
    SwitchKey,
    Latency,
    ErrorRate,
    Throttle,
    Outage,
    ExternalKey,
    HsmFleet,
    HopFault,
}

impl Vocabulary for ActionName {
    const WHAT: &'static str = "action";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", ActionName::Encrypt),
        ("decrypt", ActionName::Decrypt),
        ("read-all", ActionName::ReadAll),
        ("traffic", ActionName::Traffic),
        ("rotate", ActionName::Key(KeyAction::Rotate)),
        ("disable", ActionName::Key(KeyAction::Disable)),
        ("enable", ActionName::Key(KeyAction::Enable)),
        (
            "schedule-deletion",
            ActionName::Key(KeyAction::ScheduleDeletion),
        ),
        ("destroy", ActionName::Key(KeyAction::Destroy)),
        ("revoke-access", ActionName::Key(KeyAction::RevokeAccess)),
        ("restore-access", ActionName::Key(KeyAction::RestoreAccess)),
        ("revoke-trust", ActionName::Key(KeyAction::RevokeTrust)),
        ("restore-trust", ActionName::Key(KeyAction::RestoreTrust)),
        ("alias-swap", ActionName::AliasSwap),
        ("switch-key", ActionName::SwitchKey),
        ("latency", ActionName::Latency),
        ("error-rate", ActionName::ErrorRate),
        ("throttle", ActionName::Throttle),
        ("outage", ActionName::Outage),
        ("external-key", ActionName::ExternalKey),
        ("hsm-fleet", ActionName::HsmFleet),
        ("hop-fault", ActionName::HopFault),
    ];
}

impl Action {
    /// The action's name as written in a scenario (`rotate`, `read-all`, …).
    pub fn name(&self) -> &'static str {
        let name = match self {
            Action::Encrypt(_) => ActionName::Encrypt,
            Action::Decrypt(_) => ActionName::Decrypt,
            Action::ReadAll => ActionName::ReadAll,
            Action::Traffic(_) => ActionName::Traffic,
            Action::Key { action, .. } => ActionName::Key(*action),
            Action::AliasSwap(_) => ActionName::AliasSwap,
            Action::SwitchKey(_) => ActionName::SwitchKey,
            Action::Fault(fault) => match fault.kind {
                FaultKind::Latency { .. } => ActionName::Latency,
                FaultKind::ErrorRate { .. } => ActionName::ErrorRate,
                FaultKind::Throttle { .. } => ActionName::Throttle,
                FaultKind::Outage => ActionName::Outage,
            },
            Action::ExternalKey(_) => ActionName::ExternalKey,
            Action::HsmFleet(_) => ActionName::HsmFleet,
            Action::HopFault(_) => ActionName::HopFault,
        };
        name.word()
    }

    /// The window of a fault, fleet or hop-fault action.
    pub fn window(&self) -> Option<LabDuration> {
        match self {
            Action::Fault(fault) => Some(fault.window),
            Action::HsmFleet(fleet) => Some(fleet.window),
            Action::HopFault(fault) => Some(fault.window),
            _ => None,
        }
    }

    /// How much lab time the action itself spans (traffic windows); zero for the rest.
    pub fn span(&self) -> LabDuration {
        match self {
            Action::Traffic(traffic) => traffic.over,
            _ => LabDuration::default(),
        }
    }
}

/// Operations counted by `kms_calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOp {
    /// Encrypt / wrapkey.
    Encrypt,
    /// Decrypt / unwrapkey.
    Decrypt,
    /// STS, token and impersonation calls.
    Auth,
    /// Every call.
    Any,
}

impl Vocabulary for CallOp {
    const WHAT: &'static str = "KMS operation";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", CallOp::Encrypt),
        ("decrypt", CallOp::Decrypt),
        ("auth", CallOp::Auth),
        ("any", CallOp::Any),
    ];
}
vocabulary_deserialize!(CallOp);

impl CallOp {
    /// Whether a logged call of `kind` is one of these. `any` counts the calls clients made,
    /// not a cloud's own hops to an external key store.
    pub fn matches(self, kind: CallKind) -> bool {
        match self {
            CallOp::Encrypt => kind == CallKind::Wrap,
            CallOp::Decrypt => kind == CallKind::Unwrap,
            CallOp::Auth => kind == CallKind::SignIn,
            CallOp::Any => kind != CallKind::Hop,
        }
    }
}

/// Hops counted by `hop_calls`, by the XKS API they called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopOp {
    /// `Encrypt` (the cloud's Encrypt, a DEK being wrapped).
    Encrypt,
    /// `Decrypt` (the cloud's Decrypt, an eDEK being opened).
    Decrypt,
    /// Every hop.
    Any,
}

impl Vocabulary for HopOp {
    const WHAT: &'static str = "hop operation";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", HopOp::Encrypt),
        ("decrypt", HopOp::Decrypt),
        ("any", HopOp::Any),
    ];
}
vocabulary_deserialize!(HopOp);

impl HopOp {
    /// Whether a hop to the XKS API `operation` (`Encrypt`, `GetHealthStatus`, …) is one of
    /// these.
    pub fn matches(self, operation: &str) -> bool {
        match self {
            HopOp::Encrypt => operation == "Encrypt",
            HopOp::Decrypt => operation == "Decrypt",
            HopOp::Any => true,
        }
    }
}

/// Which hop outcomes `hop_calls` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopOutcome {
    /// Answered in time.
    Ok,
    /// Any failure.
    Failed,
    /// This failure, as the call log words it (`timeout`, `InternalException`, …).
    Is(&'static str),
}

impl HopOutcome {
    /// Whether a logged hop outcome is one of these.
    pub fn matches(self, outcome: &str) -> bool {
        match self {
            HopOutcome::Ok => outcome == "ok",
            HopOutcome::Failed => outcome != "ok",
            HopOutcome::Is(word) => outcome == word,
        }
    }
}

impl fmt::Display for HopOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HopOutcome::Ok => "ok",
            HopOutcome::Failed => "failed",
            HopOutcome::Is(word) => word,
        })
    }
}

impl<'de> Deserialize<'de> for HopOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            let failures = ekm_lab::hop_failure_outcomes();
            match text {
                "ok" => Ok(HopOutcome::Ok),
                "failed" => Ok(HopOutcome::Failed),
                _ => failures
                    .iter()
                    .find(|w| **w == text)
                    .map(|w| HopOutcome::Is(w))
                    .ok_or_else(|| {
                        let mut words = vec!["ok", "failed"];
                        words.extend(failures);
                        unknown("hop outcome", text, &words)
                    }),
            }
        })
    }
}

/// A key's state in its cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStateWord(pub &'static str);

impl Vocabulary for KeyStateWord {
    const WHAT: &'static str = "key state";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("enabled", KeyStateWord("enabled")),
        ("disabled", KeyStateWord("disabled")),
        ("pending-deletion", KeyStateWord("pending-deletion")),
        ("destroyed", KeyStateWord("destroyed")),
    ];
}
vocabulary_deserialize!(KeyStateWord);

/// The customer's actions on an external key, with the scenario's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalKeyWord(pub ExternalKeyAction);

impl Vocabulary for ExternalKeyWord {
    const WHAT: &'static str = "external key action";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("disable", ExternalKeyWord(ExternalKeyAction::Disable)),
        ("enable", ExternalKeyWord(ExternalKeyAction::Enable)),
        ("delete", ExternalKeyWord(ExternalKeyAction::Delete)),
    ];
}
vocabulary_deserialize!(ExternalKeyWord);

/// The fleet health statuses of the XKS specification, as it spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetStatus(pub HealthStatus);

impl Vocabulary for FleetStatus {
    const WHAT: &'static str = "HSM fleet status";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("ACTIVE", FleetStatus(HealthStatus::Active)),
        ("DEGRADED", FleetStatus(HealthStatus::Degraded)),
        ("UNAVAILABLE", FleetStatus(HealthStatus::Unavailable)),
    ];
}
vocabulary_deserialize!(FleetStatus);

/// The faults of the hop to the external key manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopFaultWord {
    /// The proxy answers `ms` later.
    Latency,
    /// The proxy answers an XKS error at a rate.
    Error,
    /// The proxy answers 200 with a body that is not the spec's JSON, at a rate.
    Malformed,
    /// The proxy stops answering: every hop times out.
    Unreachable,
    /// The proxy refuses the cloud's SigV4 credential (a rotation the cloud did not follow).
    WrongCredentials,
}

impl Vocabulary for HopFaultWord {
    const WHAT: &'static str = "hop fault";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("latency", HopFaultWord::Latency),
        ("error", HopFaultWord::Error),
        ("malformed", HopFaultWord::Malformed),
        ("unreachable", HopFaultWord::Unreachable),
        ("wrong-credentials", HopFaultWord::WrongCredentials),
    ];
}
vocabulary_deserialize!(HopFaultWord);

/// An XKS error name (`ThrottlingException`, …), as the specification spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopError(pub HopErrorName);

impl<'de> Deserialize<'de> for HopError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            HopErrorName::parse(text).map(HopError).ok_or_else(|| {
                let words: Vec<&str> = HopErrorName::ALL.iter().map(|e| e.as_str()).collect();
                unknown("XKS error", text, &words)
            })
        })
    }
}

/// The fault operations of the mock, with the scenario's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FaultOp(FaultOperation);

impl Vocabulary for FaultOp {
    const WHAT: &'static str = "fault operation";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("encrypt", FaultOp(FaultOperation::Encrypt)),
        ("decrypt", FaultOp(FaultOperation::Decrypt)),
        ("auth", FaultOp(FaultOperation::Auth)),
        ("any", FaultOp(FaultOperation::Any)),
    ];
}
vocabulary_deserialize!(FaultOp);

/// The injectable errors, with the scenario's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InjectedError(FaultError);

impl Vocabulary for InjectedError {
    const WHAT: &'static str = "injected error";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("unavailable", InjectedError(FaultError::Unavailable)),
        ("internal", InjectedError(FaultError::Internal)),
        ("access-denied", InjectedError(FaultError::AccessDenied)),
        ("throttled", InjectedError(FaultError::Throttled)),
    ];
}
vocabulary_deserialize!(InjectedError);

/// The words of a fault operation (`encrypt`, `decrypt`, `auth`, `any`).
pub fn fault_op_word(op: FaultOperation) -> &'static str {
    FaultOp(op).word()
}

/// The word of an injected error (`unavailable`, …).
pub fn injected_error_word(error: FaultError) -> &'static str {
    InjectedError(error).word()
}

// ---- fault argument maps ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyArgs {
    provider: Provider,
    ms: u64,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorRateArgs {
    provider: Provider,
    rate: f64,
    #[serde(default)]
    error: Option<InjectedError>,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleArgs {
    provider: Provider,
    limit: u32,
    per: LabDuration,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageArgs {
    provider: Provider,
    #[serde(default)]
    op: Option<FaultOp>,
    #[serde(default)]
    key: Option<String>,
    #[serde(rename = "for")]
    window: LabDuration,
}

/// `read-all:` takes nothing (`read-all:` or `read-all: {}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn fault(
    kind: FaultKind,
    provider: Provider,
    op: Option<FaultOp>,
    key: Option<String>,
    window: LabDuration,
) -> Action {
    Action::Fault(Fault {
        kind,
        scope: FaultScope {
            provider,
            op: op.map(|op| op.0),
            key,
        },
        window,
    })
}

impl ActionName {
    /// Reads this action's arguments from the step map.
    fn read_args<'de, A: MapAccess<'de>>(self, map: &mut A) -> Result<Action, A::Error> {
        Ok(match self {
            ActionName::Encrypt => Action::Encrypt(map.next_value::<OneOrMany<String>>()?.0),
            ActionName::Decrypt => Action::Decrypt(map.next_value::<OneOrMany<String>>()?.0),
            ActionName::ReadAll => {
                map.next_value::<Option<NoArgs>>()?;
                Action::ReadAll
            }
            ActionName::Traffic => Action::Traffic(map.next_value()?),
            ActionName::Key(action) => Action::Key {
                action,
                key: map.next_value()?,
            },
            ActionName::AliasSwap => Action::AliasSwap(map.next_value()?),
            ActionName::SwitchKey => Action::SwitchKey(map.next_value()?),
            ActionName::Latency => {
                let a: LatencyArgs = map.next_value()?;
                fault(
                    FaultKind::Latency { ms: a.ms },
                    a.provider,
                    a.op,
                    a.key,
                    a.window,
                )
            }
            ActionName::ErrorRate => {
                let a: ErrorRateArgs = map.next_value()?;
                let kind = FaultKind::ErrorRate {
                    rate: a.rate,
                    error: a.error.map_or(FaultError::Unavailable, |e| e.0),
                };
                fault(kind, a.provider, a.op, a.key, a.window)
            }
            ActionName::Throttle => {
                let a: ThrottleArgs = map.next_value()?;
                let kind = FaultKind::Throttle {
                    limit: a.limit,
                    per: a.per,
                };
                fault(kind, a.provider, a.op, a.key, a.window)
            }
            ActionName::Outage => {
                let a: OutageArgs = map.next_value()?;
                fault(FaultKind::Outage, a.provider, a.op, a.key, a.window)
            }
            ActionName::ExternalKey => Action::ExternalKey(map.next_value()?),
            ActionName::HsmFleet => Action::HsmFleet(map.next_value()?),
            ActionName::HopFault => Action::HopFault(map.next_value()?),
        })
    }
}

/// A key of a step map: a known field or an action name (checked as it is read, so an unknown
/// one is reported at its own line and column).
enum StepKey {
    At,
    After,
    Note,
    Expect,
    Action(ActionName),
}

impl<'de> Deserialize<'de> for StepKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            Ok(match text {
                "at" => StepKey::At,
                "after" => StepKey::After,
                "note" => StepKey::Note,
                "expect" => StepKey::Expect,
                other => StepKey::Action(ActionName::parse_word(other).map_err(|_| {
                    let mut words: Vec<&str> = ActionName::WORDS.iter().map(|(w, _)| *w).collect();
                    words.extend(["at", "after", "note", "expect"]);
                    unknown("action", other, &words)
                })?),
            })
        })
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: a map with `at:` or `after:`, one action and optionally `note:` and `expect:`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let mut at = None;
                let mut after = None;
                let mut note = None;
                let mut expect = None;
                let mut action: Option<Action> = None;
                while let Some(key) = map.next_key::<StepKey>()? {
                    match key {
                        StepKey::At => at = Some(map.next_value()?),
                        StepKey::After => after = Some(map.next_value()?),
                        StepKey::Note => note = Some(map.next_value()?),
                        StepKey::Expect => expect = Some(map.next_value()?),
                        StepKey::Action(name) => {
                            let next = name.read_args(&mut map)?;
                            if let Some(first) = &action {
                                return Err(de::Error::custom(format!(
                                    "a step has exactly one action, this one has `{}` and `{}`: \
                                     split it into two steps (the second with `after: 0s`)",
                                    first.name(),
                                    next.name()
                                )));
                            }
                            action = Some(next);
                        }
                    }
                }
                let time = match (at, after) {
                    (Some(at), None) => StepTime::At(at),
                    (None, Some(after)) => StepTime::After(after),
                    (Some(_), Some(_)) => {
                        return Err(de::Error::custom(
                            "a step has `at:` (time since the start) or `after:` (time since the \
                             previous step), not both",
                        ));
                    }
                    (None, None) => {
                        return Err(de::Error::custom(
                            "a step needs a time: `at: 2h30m` (since the start) or `after: 15m` \
                             (since the previous step)",
                        ));
                    }
                };
                let action = action.ok_or_else(|| {
                    de::Error::custom(
                        "a step needs one action, e.g. `encrypt: [report]`, `rotate: aws-demo` \
                         or `outage: { provider: aws, for: 20m }`",
                    )
                })?;
                Ok(Step {
                    time,
                    action,
                    note,
                    expect,
                })
            }
        }
        deserializer.deserialize_map(StepVisitor)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one value or a list of values")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(|t| OneOrMany(vec![t]))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| OneOrMany(vec![t]))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Unreadable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UnreadableVisitor;
        impl<'de> Visitor<'de> for UnreadableVisitor {
            type Value = Unreadable;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object, a list of objects, or a map of object to error kind")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Unreadable, E> {
                Ok(Unreadable(vec![(v.to_owned(), None)]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unreadable, A::Error> {
                let mut items = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    items.push((name, None));
                }
                Ok(Unreadable(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unreadable, A::Error> {
                let mut items = Vec::new();
                while let Some((name, kind)) = map.next_entry::<String, ErrorKind>()? {
                    items.push((name, Some(kind)));
                }
                Ok(Unreadable(items))
            }
        }
        deserializer.deserialize_any(UnreadableVisitor)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count (`3`) or bounds (`{min: 1, max: 3}`)")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count {
                    min: Some(v),
                    max: Some(v),
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Count, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Bounds {
                    #[serde(default)]
                    min: Option<u64>,
                    #[serde(default)]
                    max: Option<u64>,
                }
                let b = Bounds::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Count {
                    min: b.min,
                    max: b.max,
                })
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}
