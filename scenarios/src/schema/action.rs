//! The actions a step can take (`encrypt`, `rotate`, `alias-swap`, `outage`, …), their names
//! as step keys and how each reads its arguments.

use ekm_vocab::{Cloud, KeyAction, VersionAction, Vocabulary};
use serde::Deserialize;
use serde::de::MapAccess;

use super::access::{AccessEdit, AccessWord};
use super::external::{ExternalKeyStep, HopFault, HsmFleet};
use super::fault::{ErrorRateArgs, Fault, FaultKind, LatencyArgs, OutageArgs, ThrottleArgs};
use super::words::{OneOrMany, find_in, word_in};
use crate::time::LabDuration;

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
    /// The fleet's workload over a window (`fleet-traffic:`).
    FleetTraffic(crate::fleet::Workload),
    /// A lifecycle action on a key (`rotate`, `disable`, …).
    Key {
        /// Which.
        action: KeyAction,
        /// Lab name of the key.
        key: String,
    },
    /// The owner's action on one version of a key (`disable-version`, …): GCP and Azure.
    Version(VersionStep),
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
    /// The customer edits their access documents (a statement, binding, assignment, service
    /// principal, or whole documents).
    Access(AccessEdit),
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
    pub provider: OneOrMany<Cloud>,
    /// Fraction of operations that are reads (default 0.5).
    #[serde(default)]
    pub reads: Option<f64>,
}

/// `disable-version:` / `enable-version:` / `destroy-version:` / `restore-version:` —
/// `{key, version}`: the customer's action on one version of a GCP or Azure key, as the cloud's
/// own calls take it (`cryptoKeyVersions` patch of `state`, `:destroy`, `:restore`; Key Vault's
/// `PATCH /keys/{name}/{version}`). `version` counts the key's versions from 1, oldest first (GCP's
/// own numbering; for Azure, the version the lab made in that place).
#[derive(Debug, Clone)]
pub struct VersionStep {
    /// Which.
    pub action: VersionAction,
    /// Lab name of the key.
    pub key: String,
    /// The version's place, 1 = the oldest.
    pub version: u32,
}

/// The argument map of a version action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionArgs {
    key: String,
    version: u32,
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
    pub provider: Cloud,
    /// The new key (lab name, same provider).
    pub to: String,
}

/// Every action name, as a step key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ActionName {
    Encrypt,
    Decrypt,
    ReadAll,
    Traffic,
    FleetTraffic,
    Key(KeyAction),
    Version(VersionAction),
    AliasSwap,
    SwitchKey,
    Latency,
    ErrorRate,
    Throttle,
    Outage,
    ExternalKey,
    HsmFleet,
    HopFault,
    Access(AccessWord),
}

impl ActionName {
    /// The action words besides the key actions (whose words are [`KeyAction`]'s).
    const OWN: &'static [(&'static str, ActionName)] = &[
        ("encrypt", ActionName::Encrypt),
        ("decrypt", ActionName::Decrypt),
        ("read-all", ActionName::ReadAll),
        ("traffic", ActionName::Traffic),
        ("fleet-traffic", ActionName::FleetTraffic),
        (
            "disable-version",
            ActionName::Version(VersionAction::Disable),
        ),
        ("enable-version", ActionName::Version(VersionAction::Enable)),
        (
            "destroy-version",
            ActionName::Version(VersionAction::Destroy),
        ),
        (
            "restore-version",
            ActionName::Version(VersionAction::Restore),
        ),
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

    /// The action's word (`encrypt`, `rotate`).
    fn word(self) -> &'static str {
        match self {
            ActionName::Key(action) => action.word(),
            ActionName::Access(edit) => edit.word(),
            own => word_in(Self::OWN, own),
        }
    }

    /// The action `text` names.
    pub(super) fn parse(text: &str) -> Option<Self> {
        KeyAction::parse_word(text)
            .map(ActionName::Key)
            .or_else(|_| AccessWord::parse_word(text).map(ActionName::Access))
            .ok()
            .or_else(|| find_in(Self::OWN, text))
    }

    /// Every action word: the scenario's own, then the key and access actions.
    pub(super) fn words() -> Vec<&'static str> {
        let mut words: Vec<&'static str> = Self::OWN.iter().map(|(word, _)| *word).collect();
        words.extend(KeyAction::words());
        words.extend(AccessWord::words());
        words
    }
}

impl Action {
    /// The action's name as written in a scenario (`rotate`, `read-all`, …).
    pub fn name(&self) -> &'static str {
        let name = match self {
            Action::Encrypt(_) => ActionName::Encrypt,
            Action::Decrypt(_) => ActionName::Decrypt,
            Action::ReadAll => ActionName::ReadAll,
            Action::Traffic(_) => ActionName::Traffic,
            Action::FleetTraffic(_) => ActionName::FleetTraffic,
            Action::Key { action, .. } => ActionName::Key(*action),
            Action::Version(step) => ActionName::Version(step.action),
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
            Action::Access(edit) => ActionName::Access(AccessWord::of(edit)),
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
            Action::FleetTraffic(workload) => workload.over,
            _ => LabDuration::default(),
        }
    }
}

/// `read-all:` takes nothing (`read-all:` or `read-all: {}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

impl ActionName {
    /// Reads this action's arguments from the step map.
    pub(super) fn read_args<'de, A: MapAccess<'de>>(self, map: &mut A) -> Result<Action, A::Error> {
        Ok(match self {
            ActionName::Encrypt => Action::Encrypt(map.next_value::<OneOrMany<String>>()?.0),
            ActionName::Decrypt => Action::Decrypt(map.next_value::<OneOrMany<String>>()?.0),
            ActionName::ReadAll => {
                map.next_value::<Option<NoArgs>>()?;
                Action::ReadAll
            }
            ActionName::Traffic => Action::Traffic(map.next_value()?),
            ActionName::FleetTraffic => Action::FleetTraffic(map.next_value()?),
            ActionName::Key(action) => Action::Key {
                action,
                key: map.next_value()?,
            },
            ActionName::Version(action) => {
                let args: VersionArgs = map.next_value()?;
                Action::Version(VersionStep {
                    action,
                    key: args.key,
                    version: args.version,
                })
            }
            ActionName::AliasSwap => Action::AliasSwap(map.next_value()?),
            ActionName::SwitchKey => Action::SwitchKey(map.next_value()?),
            ActionName::Latency => map.next_value::<LatencyArgs>()?.into_action(),
            ActionName::ErrorRate => map.next_value::<ErrorRateArgs>()?.into_action(),
            ActionName::Throttle => map.next_value::<ThrottleArgs>()?.into_action(),
            ActionName::Outage => map.next_value::<OutageArgs>()?.into_action(),
            ActionName::ExternalKey => Action::ExternalKey(map.next_value()?),
            ActionName::HsmFleet => Action::HsmFleet(map.next_value()?),
            ActionName::HopFault => Action::HopFault(map.next_value()?),
            ActionName::Access(word) => Action::Access(word.read_args(map)?),
        })
    }
}
