//! What a scenario can name — its objects, the demo and declared keys, the keys backed by an
//! external key, its providers — and the messages for a name it does not know, with the near
//! miss it probably meant.

use std::collections::BTreeMap;

use super::{Problems, Seg};
use crate::schema::{Cloud, Scenario, suggest};

/// What a scenario can name.
pub(super) struct Names<'a> {
    pub(super) scenario: &'a Scenario,
    /// Lab key names and their providers: the demo keys and the declared ones.
    pub(super) keys: BTreeMap<String, Cloud>,
    /// The declared keys backed by an external key, and that key's id.
    pub(super) external: BTreeMap<String, String>,
}

impl Names<'_> {
    pub(super) fn object(
        &self,
        problems: &mut Problems,
        at: Vec<Seg>,
        name: &str,
    ) -> Option<Cloud> {
        match self.scenario.objects.get(name) {
            Some(object) => Some(object.provider),
            None => {
                let message = if self.scenario.objects.is_empty() {
                    format!("unknown object `{name}` — declare it under `objects:` first")
                } else {
                    unknown_name(
                        "object",
                        name,
                        self.scenario.objects.keys().map(String::as_str),
                    )
                };
                problems.push((at, message));
                None
            }
        }
    }

    pub(super) fn key(&self, problems: &mut Problems, at: Vec<Seg>, name: &str) -> Option<Cloud> {
        match self.keys.get(name) {
            Some(provider) => Some(*provider),
            None => {
                problems.push((
                    at,
                    unknown_name("key", name, self.keys.keys().map(String::as_str)),
                ));
                None
            }
        }
    }

    /// A key backed by an external key (for `external-key:` and `hop_calls:`).
    pub(super) fn external_key(&self, problems: &mut Problems, at: Vec<Seg>, name: &str) {
        if self.key(problems, at.clone(), name).is_some() && !self.external.contains_key(name) {
            let backed: Vec<&str> = self.external.keys().map(String::as_str).collect();
            let hint = if backed.is_empty() {
                "declare one under `keys:` with `external_key: ID`".to_owned()
            } else {
                format!("backed keys: {}", quoted(&backed))
            };
            problems.push((
                at,
                format!("key `{name}` is not backed by an external key — {hint}"),
            ));
        }
    }

    /// Whether an action or expectation about the external key manager has any key to act on.
    pub(super) fn needs_external(&self, problems: &mut Problems, at: Vec<Seg>, what: &str) {
        if self.external.is_empty() {
            problems.push((
                at,
                format!(
                    "`{what}` concerns the external key manager, but no key of this scenario is \
                     backed by one — declare one under `keys:` with `external_key: ID`"
                ),
            ));
        }
    }

    pub(super) fn provider(&self, problems: &mut Problems, at: Vec<Seg>, provider: Cloud) {
        if let Some(declared) = &self.scenario.providers
            && !declared.contains(&provider)
        {
            let list: Vec<String> = declared.iter().map(ToString::to_string).collect();
            problems.push((
                at,
                format!(
                    "provider `{provider}` is not one of this scenario's `providers: [{}]`",
                    list.join(", ")
                ),
            ));
        }
    }
}

pub(super) fn unknown_name<'a>(
    what: &str,
    found: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> String {
    match suggest(found, known.clone()) {
        Some(best) => format!("unknown {what} `{found}` — did you mean `{best}`?"),
        None => format!(
            "unknown {what} `{found}` — known: {}",
            known
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn is_lab_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
