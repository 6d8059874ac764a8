//! The kinds of error an outcome or an `unreadable:` entry can name: ekm-vocab's KMS error
//! kinds (their words are [`KmsErrorKind`]'s table) and the scenario's own few.

use std::fmt;

use ekm_vocab::{KmsErrorKind, UnknownWord, Vocabulary};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::words::{find_in, word_in};

/// The kinds of error an outcome can name: the engine's KMS error classes, plus the engine's
/// own refusals and the lab refusing a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A KMS call failed with this kind (`AccessDenied`, `KeyDisabled`, …).
    Kms(KmsErrorKind),
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

impl ErrorKind {
    /// The scenario's own error words; the KMS kinds' words are [`KmsErrorKind`]'s.
    const OWN: &'static [(&'static str, ErrorKind)] = &[
        ("UnknownKey", ErrorKind::UnknownKey),
        ("NoProvider", ErrorKind::NoProvider),
        ("Envelope", ErrorKind::Envelope),
        ("Store", ErrorKind::Store),
        ("Refused", ErrorKind::Refused),
        ("Other", ErrorKind::Other),
    ];

    /// The kind's word (`AccessDenied`, `Refused`).
    pub fn word(self) -> &'static str {
        match self {
            ErrorKind::Kms(kind) => kind.word(),
            own => word_in(Self::OWN, own),
        }
    }

    /// Every error word: the KMS kinds' first.
    pub fn words() -> Vec<&'static str> {
        let mut words = KmsErrorKind::words();
        words.extend(Self::OWN.iter().map(|(word, _)| *word));
        words
    }

    /// The kind `text` names; an unknown word names the nearest valid one (as `what`).
    pub(super) fn parse_as(what: &'static str, text: &str) -> Result<Self, UnknownWord> {
        KmsErrorKind::parse_word(text)
            .map(ErrorKind::Kms)
            .ok()
            .or_else(|| find_in(Self::OWN, text))
            .ok_or_else(|| UnknownWord::new(what, text, Self::words()))
    }
}

impl From<KmsErrorKind> for ErrorKind {
    fn from(kind: KmsErrorKind) -> Self {
        ErrorKind::Kms(kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ekm_vocab::deserialize_word(deserializer, |text| ErrorKind::parse_as("error kind", text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_through_one_table() {
        for word in ErrorKind::words() {
            let kind = ErrorKind::parse_as("error kind", word).unwrap();
            assert_eq!(kind.word(), word);
        }
        assert_eq!(
            ErrorKind::parse_as("error kind", "AccessDenied"),
            Ok(ErrorKind::Kms(KmsErrorKind::AccessDenied))
        );
        assert_eq!(
            ErrorKind::parse_as("outcome", "Refusd")
                .unwrap_err()
                .to_string(),
            "unknown outcome `Refusd` — did you mean `Refused`?"
        );
    }
}
