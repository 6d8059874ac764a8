//! The customer's external key manager in a scenario: actions on an external key
//! (`external-key:`), the HSM fleet's health (`hsm-fleet:`) and faults on the hop from the clouds
//! to its proxy (`hop-fault:`), with their words.

use ekm_lab::HopErrorName;
use ekm_vocab::{ExternalKeyAction, HealthStatus};
use serde::{Deserialize, Deserializer};

use crate::time::LabDuration;
use ekm_vocab::{UnknownWord, Vocabulary, deserialize_word};

/// `external-key:` — `action` on the external key backing the cloud key `key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalKeyStep {
    /// Lab name of a cloud key declared with `external_key:`.
    pub key: String,
    /// `disable`, `enable` or `delete`.
    pub action: ExternalKeyAction,
}

/// `hsm-fleet:` — every HSM of the external key manager reports `status` for `window`; the
/// runner sets the fleet `ACTIVE` again when the window ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmFleet {
    /// `ACTIVE`, `DEGRADED` or `UNAVAILABLE`.
    pub status: HealthStatus,
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
ekm_vocab::vocabulary!(HopFaultWord);

/// An XKS error name (`ThrottlingException`, …), as the specification spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopError(pub HopErrorName);

impl<'de> Deserialize<'de> for HopError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            HopErrorName::parse(text).map(HopError).ok_or_else(|| {
                let words: Vec<&str> = HopErrorName::ALL.iter().map(|e| e.as_str()).collect();
                UnknownWord::new("XKS error", text, words)
            })
        })
    }
}
