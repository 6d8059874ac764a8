//! Story mode — `ekm demo` and `ekm play FILE`: a scenario told beat by beat. A [`Beat`] is
//! one moment of the script (steps at the same lab time play together, so "rotate three keys
//! and disable three others" is one key press); its narration is shown *before* it plays.
//! The objects the script declares stay pinned on screen ([`Pinned`]), one row per cloud, the
//! keys the script rotates or leaves alone on the left and the keys it revokes on the right,
//! each re-read while the story runs so "still readable after rotation" is always in view.

use std::collections::BTreeSet;
use std::time::Duration;

use ekm_engine::registration::Cloud;
use ekm_scenarios::runner::describe;
use ekm_scenarios::schema::{Action as Step, Scenario, StepTime};
use ekm_scenarios::time::LabDuration;
use ekm_vocab::KeyAction;
use time::OffsetDateTime;

use crate::model::{Action, CacheStats, Effect, Model, Notice};
use crate::ring::Ring;

/// The built-in demo (`ekm demo`): rotation against revocation on all three clouds.
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/rotation-vs-revocation.yaml");

/// One moment of the story: consecutive steps, the later ones `after: 0s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// Index of its first step.
    pub first: usize,
    /// Its steps' actions as written (`rotate aws-demo`).
    pub actions: Vec<String>,
    /// What the narrator says before it plays: the steps' notes, or their actions.
    pub narration: String,
}

impl Beat {
    /// Index one past its last step.
    pub fn end(&self) -> usize {
        self.first + self.actions.len()
    }
}

/// The script cut into beats.
pub fn beats(scenario: &Scenario) -> Vec<Beat> {
    let mut beats: Vec<Beat> = Vec::new();
    let mut notes: Vec<Vec<String>> = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let same_moment = matches!(step.time, StepTime::After(LabDuration(d)) if d.is_zero());
        if !same_moment || beats.is_empty() {
            beats.push(Beat {
                first: i,
                actions: Vec::new(),
                narration: String::new(),
            });
            notes.push(Vec::new());
        }
        if let (Some(beat), Some(beat_notes)) = (beats.last_mut(), notes.last_mut()) {
            beat.actions.push(describe(&step.action));
            beat_notes.extend(step.note.clone());
        }
    }
    for (beat, notes) in beats.iter_mut().zip(notes) {
        beat.narration = if notes.is_empty() {
            beat.actions.join("; ")
        } else {
            notes.join(" — ")
        };
    }
    beats
}

/// The key actions that take a key away from the service (the right-hand column).
pub fn is_revocation(action: KeyAction) -> bool {
    !matches!(
        action,
        KeyAction::Rotate | KeyAction::Enable | KeyAction::RestoreAccess | KeyAction::RestoreTrust
    )
}

/// Lab names of the keys the script revokes at some step.
pub fn revoked_keys(scenario: &Scenario) -> BTreeSet<String> {
    scenario
        .steps
        .iter()
        .filter_map(|step| match &step.action {
            Step::Key { action, key } if is_revocation(*action) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// Which column an object sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    /// Under a key the script rotates or leaves alone.
    Rotated,
    /// Under a key the script revokes.
    Revoked,
}

/// Whether a pinned object can be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readable {
    /// Not sealed yet.
    NotSealed,
    /// Readable: its key still unwraps.
    Yes,
    /// Readable only from the DEK cache, until then; the key no longer unwraps.
    FromCache(OffsetDateTime),
    /// Unreadable, and why (`key disabled`).
    Shredded(String),
}

/// One pinned object as the story shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// Its name in the script.
    pub name: String,
    /// The cloud.
    pub cloud: Cloud,
    /// Its column.
    pub column: Column,
    /// Lab name of the key that wrapped its DEK (or will).
    pub key: String,
    /// The key version that wrapped it (`v1`), from the envelope's ciphertext.
    pub version: Option<String>,
    /// The key now: state and primary version (`enabled · primary v2`).
    pub key_now: String,
    /// Whether it reads.
    pub readable: Readable,
    /// When its cached DEK must be re-validated, if one is cached.
    pub cached_until: Option<OffsetDateTime>,
}

/// A played step as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Lab time since the start.
    pub at: Duration,
    /// The action (`disable aws-revoked`).
    pub what: String,
}

/// Ticks between two reads of the pinned objects (1 s at 10 fps).
const READ_EVERY: u64 = 10;
/// Ticks between two beats under autoplay (8 s at 10 fps).
const AUTOPLAY_EVERY: u64 = 80;

/// The story's part of [`update`](crate::update::update): next beat, back, restart, and the
/// results of playing, replaying and reading.
pub(crate) fn update(model: &mut Model, action: Action) -> Vec<Effect> {
    let Some(info) = model.story().cloned() else {
        return refuse(
            model,
            "no story: `ekm demo` tells one, `ekm play FILE` plays a scenario",
        );
    };
    let beat = info.next_beat(model.played.len());
    match action {
        Action::NextStep if model.stepping => Vec::new(),
        Action::NextStep => match info.beats.get(beat) {
            None => refuse(model, "the story is over: b goes back, R restarts"),
            Some(next) => {
                model.stepping = true;
                model.beat_end = next.end();
                model.notice = Some(Notice::new(
                    format!(
                        "beat {}/{}: {}…",
                        beat + 1,
                        info.beats.len(),
                        next.actions.join("; ")
                    ),
                    false,
                ));
                vec![Effect::PlaySteps(next.end() - model.played.len())]
            }
        },
        Action::Back | Action::Restart if model.stepping => Vec::new(),
        Action::Back if beat == 0 => refuse(model, "this is the start: n plays the first beat"),
        Action::Back | Action::Restart => {
            let replay = match action {
                Action::Back => info.beats.get(beat - 1).map_or(0, |b| b.first),
                _ => 0,
            };
            model.stepping = true;
            model.notice = Some(Notice::new("replaying the story in a fresh lab…", false));
            vec![Effect::Restart(replay)]
        }
        Action::Stepped(step) => {
            let more = step.is_some();
            if let Some(step) = step {
                model.played.push(*step);
            }
            if more && model.played.len() < model.beat_end {
                return Vec::new();
            }
            model.stepping = false;
            let done = &model.played[info
                .beats
                .get(beat)
                .map_or(0, |b| b.first)
                .min(model.played.len())..];
            let checks: Vec<_> = done.iter().flat_map(|s| &s.checks).collect();
            let passed = checks.iter().filter(|c| c.2).count();
            let failed: Vec<&str> = done
                .iter()
                .filter(|s| s.outcome != "ok")
                .map(|s| s.outcome.as_str())
                .collect();
            let outcome = if failed.is_empty() {
                "ok".to_owned()
            } else {
                failed.join(", ")
            };
            let text = format!(
                "beat {}/{} played: {outcome} · {passed}/{} checks passed",
                beat.min(info.beats.len().saturating_sub(1)) + 1,
                info.beats.len(),
                checks.len()
            );
            model.notice = Some(Notice::new(text, passed < checks.len()));
            vec![Effect::Refresh, Effect::ReadPinned]
        }
        Action::Restarted(Ok(steps)) => {
            model.stepping = false;
            model.played = steps;
            model.pinned.clear();
            model.calls = Ring::new(model.calls.capacity());
            model.log_scroll = 0;
            model.stats = CacheStats::default();
            let next = info.next_beat(model.played.len());
            model.notice = Some(Notice::new(
                format!("back at beat {}/{}", next + 1, info.beats.len()),
                false,
            ));
            vec![Effect::Refresh, Effect::ReadPinned]
        }
        Action::Restarted(Err(why)) => {
            model.stepping = false;
            refuse(model, &format!("cannot restart the story: {why}"))
        }
        Action::Pinned(pinned) => {
            model.pinned = pinned;
            Vec::new()
        }
        Action::WriteReport if model.stepping => Vec::new(),
        Action::WriteReport => {
            model.notice = Some(Notice::new("writing the report…", false));
            vec![Effect::WriteReport]
        }
        _ => Vec::new(),
    }
}

/// A tick in story mode: re-read the pinned objects every second; under autoplay, the next
/// beat every few seconds.
pub(crate) fn tick(model: &mut Model) -> Vec<Effect> {
    model.story_ticks += 1;
    let mut effects = Vec::new();
    if model.story_ticks.is_multiple_of(READ_EVERY) && !model.stepping {
        effects.push(Effect::ReadPinned);
    }
    if model.autoplay && !model.stepping && model.story_ticks.is_multiple_of(AUTOPLAY_EVERY) {
        let over = model
            .story()
            .is_some_and(|info| info.next_beat(model.played.len()) >= info.beats.len());
        if over {
            model.autoplay = false;
        } else {
            effects.extend(update(model, Action::NextStep));
        }
    }
    effects
}

fn refuse(model: &mut Model, why: &str) -> Vec<Effect> {
    model.notice = Some(Notice::new(why, true));
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Scenario {
        ekm_scenarios::validate::parse(DEMO_SCENARIO, "rotation-vs-revocation.yaml")
            .expect("the demo scenario is valid")
    }

    #[test]
    fn same_moment_steps_are_one_beat_with_their_note() {
        let beats = beats(&demo());
        assert_eq!(beats.len(), 6, "{beats:#?}");
        let key_actions = &beats[2];
        assert_eq!(key_actions.actions.len(), 6);
        assert_eq!(
            key_actions.narration,
            "rotated on the left, revoked on the right"
        );
        assert_eq!(beats.last().map(Beat::end), Some(demo().steps.len()));
    }

    #[test]
    fn the_revoked_column_holds_the_keys_the_script_revokes() {
        let revoked = revoked_keys(&demo());
        assert_eq!(
            revoked.into_iter().collect::<Vec<_>>(),
            ["aws-revoked", "azure-revoked", "gcp-revoked"]
        );
        assert!(!is_revocation(KeyAction::Rotate));
        assert!(is_revocation(KeyAction::Disable));
    }
}
