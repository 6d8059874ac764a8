//! A step of the timeline: its time, its one action, its note and expectations, read from a
//! step map whose action is the remaining key (an unknown key is reported at its own line).

use std::fmt;

use ekm_vocab::{UnknownWord, deserialize_word};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::action::{Action, ActionName};
use super::expect::Expect;
use crate::time::LabDuration;

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
                other => StepKey::Action(ActionName::parse(other).ok_or_else(|| {
                    let mut words = ActionName::words();
                    words.extend(["at", "after", "note", "expect"]);
                    UnknownWord::new("action", other, words)
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
