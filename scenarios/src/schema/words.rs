//! The closed vocabularies of the format: a [`Vocabulary`] parses its words exactly and answers
//! a near miss with a suggestion; [`OneOrMany`] reads one value or a list.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

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
pub(super) fn deserialize_word<'de, D: Deserializer<'de>, T>(
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
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::schema::words::deserialize_word(
                    deserializer,
                    <$ty as $crate::schema::words::Vocabulary>::parse_word,
                )
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}
pub(super) use vocabulary_deserialize;

/// One value or a list of them (`encrypt: a` or `encrypt: [a, b]`).
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

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
