//! Closed vocabularies: each word maps onto one value in one table, parsing refuses anything
//! else with an [`UnknownWord`] that suggests the nearest word, and serde reads and writes the
//! words.

use std::fmt;

/// A closed set of words, each naming one value of `Self` (`aws` → `Cloud::Aws`). The table is
/// the one place a word is spelled; parsing, printing and serde all read it.
pub trait Vocabulary: Copy + PartialEq + 'static {
    /// What the words name, for messages (`provider`, `action`).
    const WHAT: &'static str;
    /// Every word with its value, in the order messages list them.
    const WORDS: &'static [(&'static str, Self)];

    /// The word for this value (empty for a value the table does not name).
    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(word, _)| word)
    }

    /// The value `text` names, or an [`UnknownWord`] naming the nearest valid word.
    fn parse_word(text: &str) -> Result<Self, UnknownWord> {
        Self::WORDS
            .iter()
            .find(|(word, _)| *word == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| UnknownWord::new(Self::WHAT, text, Self::words()))
    }

    /// Every word, in table order.
    fn words() -> Vec<&'static str> {
        Self::WORDS.iter().map(|(word, _)| *word).collect()
    }
}

/// A word outside a closed vocabulary. It prints as one line for people: the nearest valid word
/// when the given one looks like a typo of it ("unknown action `rotat` — did you mean
/// `rotate`?"), otherwise every valid word ("unknown provider `ibm` — expected one of `aws`,
/// `gcp`, `azure`").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct UnknownWord {
    /// What the word should have named (`action`, `provider`).
    pub what: &'static str,
    /// The word given.
    pub word: String,
    /// Every valid word.
    pub valid: Vec<&'static str>,
}

impl UnknownWord {
    /// `word` was given where one of `valid` was expected.
    pub fn new(what: &'static str, word: &str, valid: Vec<&'static str>) -> Self {
        UnknownWord {
            what,
            word: word.to_owned(),
            valid,
        }
    }

    /// The valid word the given one is most likely a typo of.
    pub fn suggestion(&self) -> Option<&'static str> {
        suggest(&self.word, self.valid.iter().copied())
    }

    fn message(&self) -> String {
        let (what, word) = (self.what, &self.word);
        match self.suggestion() {
            Some(best) => format!("unknown {what} `{word}` — did you mean `{best}`?"),
            None => {
                let valid: Vec<String> = self.valid.iter().map(|w| format!("`{w}`")).collect();
                format!(
                    "unknown {what} `{word}` — expected one of {}",
                    valid.join(", ")
                )
            }
        }
    }
}

/// The candidate closest to `found` if it is close enough to be a typo of it (Jaro-Winkler
/// similarity of at least 0.8, case ignored); for names outside a vocabulary too (objects, keys).
pub fn suggest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let found = found.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&found, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Reads a string and maps it with `parse`, failing inside the string's own deserialization so
/// that the error carries the word's line and column (YAML). For word sets that are not one
/// table (a vocabulary plus a few words of the caller's own).
pub fn deserialize_word<'de, D: serde::Deserializer<'de>, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T, UnknownWord>,
) -> Result<T, D::Error> {
    struct Word<T>(fn(&str) -> Result<T, UnknownWord>);
    impl<T> serde::de::Visitor<'_> for Word<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a word")
        }

        fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<T, E> {
            (self.0)(word).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Word(parse))
}

/// Implements `Display`, `FromStr` and string serde for a [`Vocabulary`], all through its table,
/// and an inherent `as_str`.
#[macro_export]
macro_rules! vocabulary {
    ($ty:ty) => {
        impl $ty {
            /// The value's word.
            pub fn as_str(self) -> &'static str {
                <$ty as $crate::Vocabulary>::word(self)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty as $crate::Vocabulary>::parse_word(s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                $crate::deserialize_word(deserializer, <$ty as $crate::Vocabulary>::parse_word)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_gets_a_suggestion_and_a_far_one_the_list() {
        let near = UnknownWord::new("provider", "awz", vec!["aws", "gcp", "azure"]);
        assert_eq!(near.suggestion(), Some("aws"));
        assert_eq!(
            near.to_string(),
            "unknown provider `awz` — did you mean `aws`?"
        );
        let far = UnknownWord::new("provider", "ibm", vec!["aws", "gcp", "azure"]);
        assert_eq!(far.suggestion(), None);
        assert_eq!(
            far.to_string(),
            "unknown provider `ibm` — expected one of `aws`, `gcp`, `azure`"
        );
    }

    #[test]
    fn suggestions_ignore_case_and_take_the_closest() {
        assert_eq!(
            suggest("keydisbled", ["KeyDisabled", "KeyDestroyed"]),
            Some("KeyDisabled")
        );
        assert_eq!(suggest("x", ["KeyDisabled"]), None);
    }
}
