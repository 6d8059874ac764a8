//! `ekm-vocab`: the words of EKM Lab, one type per idea, shared by the mock KMS, the engine, the
//! lab, the scenarios and the console. It depends on nothing of theirs, so every crate can use it.
//!
//! # Layout
//! - [`Cloud`]: AWS, GCP or Azure.
//! - [`KeyAction`]: a lifecycle action the key's owner takes (rotate, disable, revoke trust, …).
//! - [`Fault`]: an injected failure — a [`FaultScope`] (cloud, operation, key), one
//!   [`FaultEffect`] (latency, error rate, throttle or outage) and an optional lab-time window;
//!   valid by construction, with the control API's wire shape (`PUT /_mock/v1/faults`) as serde.
//! - [`CallKind`]: what a logged KMS call did (wrap, unwrap, sign-in, …), decided by the mock.
//! - [`KmsErrorKind`]: the class of a KMS failure as the engine sees it
//!   (`ekm_engine::KmsError::kind()`).
//!
//! Each word type parses from and prints as its wire word (`schedule-deletion`, `aws`), and an
//! unknown word is an [`UnknownWord`] naming the valid ones.

mod call;
mod cloud;
mod error_kind;
mod fault;
mod key_action;

pub use call::CallKind;
pub use cloud::Cloud;
pub use error_kind::KmsErrorKind;
pub use fault::{
    Fault, FaultEffect, FaultOperation, FaultScope, InjectedError, InvalidFault, Latency,
    MAX_LATENCY, Probability, Throttle,
};
pub use key_action::KeyAction;

/// A word outside a closed vocabulary (`unknown action `rotat`; valid actions: rotate, …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{word}`; valid {what}s: {}", valid.join(", "))]
pub struct UnknownWord {
    /// What the word should have named (`action`, `provider`).
    pub what: &'static str,
    /// The word given.
    pub word: String,
    /// Every valid word.
    pub valid: Vec<&'static str>,
}

/// Looks `word` up in a `(word, value)` table.
fn lookup<T: Copy>(
    what: &'static str,
    table: &[(&'static str, T)],
    word: &str,
) -> Result<T, UnknownWord> {
    table
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, value)| *value)
        .ok_or_else(|| UnknownWord {
            what,
            word: word.to_owned(),
            valid: table.iter().map(|(name, _)| *name).collect(),
        })
}

/// The word of `value` in a `(word, value)` table.
fn word_of<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("", |(name, _)| name)
}

/// Reads a word of `table`, failing inside the string's own deserialization so that the error
/// carries the word's line and column (YAML).
fn deserialize_word<'de, D: serde::Deserializer<'de>, T: Copy>(
    deserializer: D,
    what: &'static str,
    table: &'static [(&'static str, T)],
) -> Result<T, D::Error> {
    struct Word<T: 'static> {
        what: &'static str,
        table: &'static [(&'static str, T)],
    }
    impl<T: Copy> serde::de::Visitor<'_> for Word<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a {} word", self.what)
        }

        fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<T, E> {
            lookup(self.what, self.table, word).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Word { what, table })
}

/// `Display`, `FromStr` and string serde for a type with a `WORDS` table.
macro_rules! words {
    ($ty:ty, $what:literal) => {
        impl $ty {
            /// The value's wire word.
            pub fn as_str(self) -> &'static str {
                crate::word_of(Self::WORDS, self)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = crate::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                crate::lookup($what, Self::WORDS, s)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::deserialize_word(deserializer, $what, Self::WORDS)
            }
        }
    };
}
pub(crate) use words;
