//! The format's word handling: the closed vocabularies are [`ekm_vocab::Vocabulary`] tables
//! (ekm-vocab's own for clouds, key actions, KMS error kinds and injected errors; the scenario-only
//! word sets here in `schema`), each read by `ekm_vocab::vocabulary!` with a suggestion on a near
//! miss; [`OneOrMany`] reads one value or a list.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The word of `value` in a table of the scenario's own words (empty if it has none there).
pub(super) fn word_in<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("", |(word, _)| word)
}

/// The value `text` names in a table of the scenario's own words.
pub(super) fn find_in<T: Copy>(table: &[(&'static str, T)], text: &str) -> Option<T> {
    table
        .iter()
        .find(|(word, _)| *word == text)
        .map(|(_, v)| *v)
}

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
