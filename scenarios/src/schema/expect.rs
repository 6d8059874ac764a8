//! What a step expects right after its action (`expect:`): the outcome, which objects open,
//! KMS and hop call counts from the mock's call log, the DEK caches, the keys' states.

use std::collections::BTreeMap;
use std::fmt;

use ekm_vocab::{CallKind, Cloud, UnknownWord, Vocabulary, deserialize_word};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error_kind::ErrorKind;
use super::words::OneOrMany;
use crate::time::LabDuration;

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
    /// The KMS volume of a `fleet-traffic` step.
    #[serde(default)]
    pub volume: Option<VolumeExpectation>,
}

/// `volume:` — the KMS volume of a `fleet-traffic` step, as its volume report counts it.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeExpectation {
    /// KMS calls per 1,000 operations, at most.
    #[serde(default)]
    pub max_calls_per_1000_ops: Option<f64>,
    /// The share of operations served without a KMS call, at least.
    #[serde(default)]
    pub min_hit_ratio: Option<f64>,
    /// Each cloud's KMS calls within this fraction of the forecast's (`0.1`: 10 %).
    #[serde(default)]
    pub forecast_within: Option<f64>,
}

/// `unreadable:` — a list of objects (any error), or a map of object → error kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable(pub Vec<(String, Option<ErrorKind>)>);

/// `kms_calls:` — how many calls of one kind the mock's call log shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// The cloud.
    pub provider: Cloud,
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
    /// Only calls with this outcome: `ok`, `failed`, or the cloud's error code as the call log
    /// words it (`AccessDeniedException`, `PERMISSION_DENIED`, `Forbidden`, `unauthorized_client`).
    #[serde(default)]
    pub outcome: Option<CallOutcome>,
    /// Only calls the customer's documents refused with a trace containing this text (the
    /// deciding statement, binding or assignment, the failed condition).
    #[serde(default)]
    pub trace: Option<String>,
}

/// Which call outcomes `kms_calls` counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered.
    Ok,
    /// Any error.
    Failed,
    /// This error code.
    Is(String),
}

impl CallOutcome {
    /// Whether a logged call's outcome is one of these.
    pub fn matches(&self, outcome: &str) -> bool {
        match self {
            CallOutcome::Ok => outcome == "ok",
            CallOutcome::Failed => outcome != "ok",
            CallOutcome::Is(code) => outcome == code,
        }
    }
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Failed => "failed",
            CallOutcome::Is(code) => code,
        })
    }
}

impl<'de> Deserialize<'de> for CallOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match text.as_str() {
            "ok" => CallOutcome::Ok,
            "failed" => CallOutcome::Failed,
            _ => CallOutcome::Is(text),
        })
    }
}

/// `hop_calls:` — how many hops to the external key manager the call log shows, as the cloud
/// made them (its side of the hop: one entry per hop, with the latency and outcome KMS saw).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopExpectation {
    /// Only hops this cloud made (default both `aws` and `gcp`).
    #[serde(default)]
    pub provider: Option<Cloud>,
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
    pub provider: Option<Cloud>,
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

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            if text == "ok" {
                return Ok(Outcome::Ok);
            }
            ErrorKind::parse_as("outcome", text)
                .map(Outcome::Error)
                .map_err(|mut unknown| {
                    unknown.valid.insert(0, "ok");
                    unknown
                })
        })
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
ekm_vocab::vocabulary!(CallOp);

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
ekm_vocab::vocabulary!(HopOp);

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
                        UnknownWord::new("hop outcome", text, words)
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
ekm_vocab::vocabulary!(KeyStateWord);

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
