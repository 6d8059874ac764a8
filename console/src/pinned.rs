//! Reading the story's pinned objects: every object the scenario declares, with the key and
//! version that wrapped it (from its envelope's ciphertext, not the key's current primary),
//! the key's state now, and whether it reads.
//!
//! The viewer must not change what the scenario measures, so it only performs reads that leave
//! the engine's DEK cache as it was: an object whose DEK is cached is opened (a cache hit), and
//! an object whose key no longer unwraps is opened (the KMS refuses, nothing is cached). An
//! object whose key still unwraps and whose DEK is not cached is shown readable without being
//! opened — opening it would cache a DEK the script did not ask for.
//!
//! A refusal is remembered ([`Verdicts`]) until a key event — a step played, a key's state,
//! access, trust or versions changed, a fault window opened or closed — so an object shredded
//! for good costs one refused Decrypt, not one a second for as long as the demo runs.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ekm_engine::dek::DekId;
use ekm_engine::envelope;
use ekm_engine::events::CachePath;
use ekm_engine::registration::Cloud;
use ekm_engine::{ObjectName, ProjectId};
use ekm_lab::KeyInfo;
use ekm_scenarios::runner::Playback;
use ekm_scenarios::schema::demo_key;
use ekm_vocab::Fault;

use crate::story::{Column, Pinned, Readable, revoked_keys};
use crate::workload::reason;

/// What the lab looked like when a refusal was seen: any difference is a key event.
#[derive(Debug, Clone, PartialEq)]
struct KeyEvents {
    steps_played: usize,
    keys: Vec<KeyInfo>,
    faults: Vec<Fault>,
}

/// Refusals seen by earlier reads, by object, with the envelope (its DEK id) they were for and
/// the key events they are valid until.
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    refused: Mutex<Refusals>,
}

#[derive(Debug, Default)]
struct Refusals {
    since: Option<KeyEvents>,
    by_object: HashMap<String, (DekId, String)>,
}

impl Verdicts {
    /// Forgets every refusal (a story restarted in a fresh lab).
    pub(crate) fn clear(&self) {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Refusals::default();
    }

    /// The remembered refusal of `object`'s envelope `dek`, if no key event happened since.
    fn recall(&self, events: &KeyEvents, object: &str, dek: DekId) -> Option<String> {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.since.as_ref() != Some(events) {
            refused.since = Some(events.clone());
            refused.by_object.clear();
            return None;
        }
        refused
            .by_object
            .get(object)
            .filter(|(seen, _)| *seen == dek)
            .map(|(_, reason)| reason.clone())
    }

    fn remember(&self, object: &str, dek: DekId, reason: &str) {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_object
            .insert(object.to_owned(), (dek, reason.to_owned()));
    }
}

/// The declared objects of `playback`'s scenario, as they read now, by cloud, column and name;
/// refusals already seen come from `verdicts` until a key event.
pub(crate) async fn read(playback: &Playback, verdicts: &Verdicts) -> Vec<Pinned> {
    let lab = playback.lab();
    let scenario = playback.scenario();
    let revoked = revoked_keys(scenario);
    let engine = lab.engine();
    let keys = lab.keys();
    let events = KeyEvents {
        steps_played: playback.reports().len(),
        keys: keys.clone(),
        faults: lab.faults(),
    };
    let snapshot = engine.snapshot();
    let now = lab.clock().now();
    let mut pinned = Vec::new();
    for (name, decl) in &scenario.objects {
        let cloud = decl.provider;
        let declared_key = decl
            .key
            .clone()
            .unwrap_or_else(|| demo_key(cloud).to_owned());
        let stored = ObjectName::new(name.as_str())
            .ok()
            .and_then(|object| engine.store().get(&object).ok().map(|e| (object, e)));
        let wrapped = stored
            .as_ref()
            .and_then(|(_, envelope)| lab.wrapping_key(envelope).ok());
        let key_name = wrapped
            .as_ref()
            .map_or(declared_key, |wrapped| wrapped.key.clone());
        let key = keys.iter().find(|k| k.name == key_name);
        let version = wrapped.as_ref().and_then(|wrapped| {
            let index = key?.versions.iter().position(|v| *v == wrapped.version)?;
            Some(format!("v{}", index + 1))
        });
        let usable = key.is_some_and(|k| k.state == "enabled" && k.access && k.trust);
        let key_now = key.map_or_else(
            || "no such key".to_owned(),
            |k| {
                let mut words = vec![k.state.to_owned()];
                if !k.access {
                    words.push("no access".to_owned());
                }
                if !k.trust {
                    words.push("no trust".to_owned());
                }
                format!("{} · primary v{}", words.join(", "), k.versions.len())
            },
        );
        let mut cached_until = None;
        let readable = match &stored {
            None => Readable::NotSealed,
            Some((object, bytes)) => match envelope::parse(bytes) {
                Err(error) => Readable::Shredded(error.to_string()),
                Ok(parsed) => {
                    let header = parsed.header();
                    cached_until = snapshot
                        .entries
                        .iter()
                        .filter(|e| e.path == CachePath::Decrypt && e.dek == header.dek_id())
                        .map(|e| e.expires_at)
                        .find(|expires| *expires > now);
                    let dek = header.dek_id();
                    if cached_until.is_none() && usable {
                        Readable::Yes
                    } else if let Some(reason) = cached_until
                        .is_none()
                        .then(|| verdicts.recall(&events, name, dek))
                        .flatten()
                    {
                        Readable::Shredded(reason)
                    } else {
                        let project = ProjectId::from(header.project());
                        match engine.get(object, &project, &header.context()).await {
                            Ok(_) if usable => Readable::Yes,
                            Ok(_) => Readable::FromCache(cached_until.unwrap_or(now)),
                            Err(error) => {
                                let reason = reason(&error);
                                verdicts.remember(name, dek, &reason);
                                Readable::Shredded(reason)
                            }
                        }
                    }
                }
            },
        };
        pinned.push(Pinned {
            name: name.clone(),
            cloud,
            column: if revoked.contains(&key_name) {
                Column::Revoked
            } else {
                Column::Rotated
            },
            key: key_name,
            version,
            key_now,
            readable,
            cached_until,
        });
    }
    pinned.sort_by(|a, b| {
        let order = |c: Cloud| Cloud::ALL.iter().position(|x| *x == c);
        (order(a.cloud), a.column, &a.name).cmp(&(order(b.cloud), b.column, &b.name))
    });
    pinned
}
