//! [`update`]: applies one [`Action`] to the [`Model`] and returns the [`Effect`]s the runtime
//! must perform. Pure and synchronous, so every behaviour is a unit test.

use std::collections::BTreeSet;
use std::time::Duration;

use ekm_engine::events::EventKind;
use ekm_engine::registration::Cloud;
use ekm_vocab::{Fault, FaultEffect, FaultScope, InjectedError, Latency, Probability, Throttle};

use crate::model::{
    Action, CallRow, Effect, FaultKind, KeyCommand, KeyRow, Mode, Model, Notice, Refresh,
    WorkloadEvent, unix_minute,
};
use crate::view;
use crate::view::text::{action_label, kms_error_label, speed_label, tail};

/// Slowest and fastest speed factors.
pub const SPEED_RANGE: (f64, f64) = (0.25, 3600.0);

/// How far "jump" moves lab time.
pub const JUMP: Duration = Duration::from_secs(3600);

/// Applies `action` to `model`; returns what the runtime must do.
pub fn update(model: &mut Model, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            model.quit = true;
            vec![Effect::Quit]
        }
        Action::ToggleHelp => {
            if model.mode == Mode::Help {
                model.mode = model.help_return;
            } else {
                model.help_return = model.mode;
                model.mode = Mode::Help;
                model.help_scroll = 0;
            }
            Vec::new()
        }
        Action::FocusNext => {
            model.mode = match model.mode {
                Mode::Keys | Mode::Story => Mode::Log,
                Mode::Log | Mode::Help => home(model),
            };
            Vec::new()
        }
        Action::FocusLog => {
            model.mode = Mode::Log;
            Vec::new()
        }
        Action::Up => {
            model.selected = model.selected.saturating_sub(1);
            Vec::new()
        }
        Action::Down => {
            let rows = model.keys.as_ref().map_or(0, Vec::len);
            model.selected = (model.selected + 1).min(rows.saturating_sub(1));
            Vec::new()
        }
        Action::SelectKey(row) => {
            if model.keys.as_ref().is_some_and(|keys| row < keys.len()) {
                model.selected = row;
                model.mode = Mode::Keys;
            }
            Vec::new()
        }
        Action::Scroll(lines) if model.mode == Mode::Help => {
            let down = lines.checked_neg().unwrap_or(i32::MAX);
            model.help_scroll = scrolled(model.help_scroll, down, view::help_max_scroll(model));
            Vec::new()
        }
        Action::Scroll(lines) => {
            model.log_scroll = scrolled(model.log_scroll, lines, max_log_scroll(model));
            Vec::new()
        }
        Action::Page(pages) => {
            let page = if model.mode == Mode::Help {
                view::help_rows(model)
            } else {
                view::log_rows(model)
            };
            let lines = i32::try_from(page)
                .unwrap_or(i32::MAX)
                .saturating_mul(pages);
            update(model, Action::Scroll(lines))
        }
        Action::LogTop => {
            model.log_scroll = max_log_scroll(model);
            Vec::new()
        }
        Action::LogFollow => {
            model.log_scroll = 0;
            Vec::new()
        }
        Action::LeaveLog => {
            model.log_scroll = 0;
            model.mode = home(model);
            Vec::new()
        }
        Action::Resize(screen) => {
            model.screen = screen;
            model.log_scroll = model.log_scroll.min(max_log_scroll(model));
            model.help_scroll = model.help_scroll.min(view::help_max_scroll(model));
            Vec::new()
        }
        Action::CycleCloudFilter => {
            model.cycle_cloud_filter();
            Vec::new()
        }
        Action::CycleOutcomeFilter => {
            model.cycle_outcome_filter();
            Vec::new()
        }
        Action::Key(command) => key_command(model, command),
        Action::ToggleFault(kind) => toggle_fault(model, Some(kind)),
        Action::ClearFaults => toggle_fault(model, None),
        Action::TogglePause if model.story().is_some() => {
            model.autoplay = !model.autoplay;
            let text = if model.autoplay {
                "autoplay: a beat every 8 s (space stops)"
            } else {
                "autoplay stopped: n plays the next beat"
            };
            model.notice = Some(Notice::new(text, false));
            Vec::new()
        }
        Action::TogglePause => match model.clock.speed {
            Some(_) => {
                model.clock.paused = !model.clock.paused;
                let text = if model.clock.paused {
                    "lab time paused"
                } else {
                    "lab time runs"
                };
                model.notice = Some(Notice::new(text, false));
                vec![Effect::SetPaused(model.clock.paused)]
            }
            None => manual_clock(model),
        },
        Action::Faster | Action::Slower => match model.clock.speed {
            Some(speed) => {
                let factor = if action == Action::Faster { 2.0 } else { 0.5 };
                let new = (speed * factor).clamp(SPEED_RANGE.0, SPEED_RANGE.1);
                model.clock.speed = Some(new);
                model.notice = Some(Notice::new(format!("speed {}", speed_label(new)), false));
                vec![Effect::SetSpeed(new)]
            }
            None => manual_clock(model),
        },
        Action::JumpHour if model.story().is_some() => {
            refuse(model, "lab time follows the script: n plays the next beat")
        }
        Action::JumpHour => {
            model.notice = Some(Notice::new("lab time +1 h", false));
            vec![Effect::Advance(JUMP), Effect::CheckObjects, Effect::Refresh]
        }
        Action::NextStep
        | Action::Back
        | Action::Restart
        | Action::WriteReport
        | Action::Stepped(_)
        | Action::Restarted(_)
        | Action::Pinned(_) => crate::story::update(model, action),
        Action::Tick => {
            let mut effects = Vec::new();
            if model.story().is_some() {
                effects.extend(crate::story::tick(model));
            }
            if let Some(notice) = &mut model.notice {
                notice.ticks_left = notice.ticks_left.saturating_sub(1);
                if notice.ticks_left == 0 {
                    model.notice = None;
                }
            }
            if model.lab.is_some() {
                effects.push(Effect::Refresh);
            }
            effects
        }
        Action::Started(info) if info.scenario.is_some() => {
            model.lab = Some(*info);
            model.mode = Mode::Story;
            model.help_return = Mode::Story;
            vec![Effect::Refresh, Effect::ReadPinned]
        }
        Action::Started(info) => {
            model.lab = Some(*info);
            vec![Effect::Refresh]
        }
        Action::StartFailed(error) => {
            model.start_error = Some(error);
            Vec::new()
        }
        Action::Refreshed(refresh) => {
            apply_refresh(model, *refresh);
            Vec::new()
        }
        Action::FirstFrame(elapsed) => {
            model.first_frame = Some(elapsed);
            Vec::new()
        }
        Action::Engine(event) => {
            if model.lab.as_ref().is_some_and(|lab| lab.engine_calls)
                && let EventKind::KmsCall {
                    op,
                    key,
                    outcome,
                    latency,
                } = &event.kind
            {
                let call = CallRow {
                    time: event.at,
                    provider: key.provider().to_owned(),
                    operation: op.to_string(),
                    key: Some(tail(key.key()).to_owned()),
                    outcome: outcome
                        .as_ref()
                        .map_or_else(|e| kms_error_label(e).to_owned(), |()| "ok".to_owned()),
                    latency_ms: latency.as_secs_f64() * 1000.0,
                    hop: None,
                };
                apply_refresh_calls(model, vec![call]);
            }
            match event.kind {
                EventKind::CacheHit { .. } => model.stats.hits += 1,
                EventKind::CacheMiss { .. } => model.stats.misses += 1,
                EventKind::DekRotated { .. } => model.stats.rotations += 1,
                EventKind::OperationFailed { .. } => model.stats.failures += 1,
                _ => {}
            }
            Vec::new()
        }
        Action::Workload(event) => {
            apply_workload(model, *event);
            Vec::new()
        }
        Action::Clock(status) => {
            model.clock = status;
            Vec::new()
        }
        Action::Done(result) => {
            model.notice = Some(match result {
                Ok(text) => Notice::new(text, false),
                Err(text) => Notice::new(text, true),
            });
            vec![Effect::Refresh]
        }
    }
}

fn manual_clock(model: &mut Model) -> Vec<Effect> {
    model.notice = Some(Notice::new("manual clock: only jumps move it", true));
    Vec::new()
}

/// The selected key, or why there is none to act on.
fn target(model: &Model) -> Result<KeyRow, &'static str> {
    let actions = model.lab.as_ref().is_some_and(|lab| lab.key_actions);
    if !actions {
        return Err("key actions need a lab mock: the embedded one, or --config on a mock-kms");
    }
    model.selected_key().cloned().ok_or("no key selected")
}

fn refuse(model: &mut Model, why: &str) -> Vec<Effect> {
    model.notice = Some(Notice::new(why, true));
    Vec::new()
}

fn key_command(model: &mut Model, command: KeyCommand) -> Vec<Effect> {
    let key = match target(model) {
        Ok(key) => key,
        Err(why) => return refuse(model, why),
    };
    let keys = model.keys.clone().unwrap_or_default();
    match command {
        KeyCommand::Lab(action) => {
            model.notice = Some(Notice::new(
                format!("{} {}…", action_label(action), key.name),
                false,
            ));
            vec![Effect::KeyAction {
                key: key.name,
                action,
            }]
        }
        KeyCommand::SwapAlias => {
            let Some((alias, current)) = keys
                .iter()
                .find_map(|k| k.aliases.first().map(|a| (a.clone(), k.name.clone())))
            else {
                return refuse(model, "no AWS alias to swap");
            };
            let others: Vec<&KeyRow> = keys
                .iter()
                .filter(|k| k.provider == "aws" && k.name != current)
                .collect();
            let (target, create) = if key.provider == "aws" && key.name != current {
                (key.name.clone(), false)
            } else if let Some(other) = others.first() {
                (other.name.clone(), false)
            } else {
                (fresh_name(&keys, "aws"), true)
            };
            model.notice = Some(Notice::new(format!("alias/{alias} → {target}…"), false));
            vec![Effect::SwapAlias {
                alias,
                target,
                create,
            }]
        }
        KeyCommand::SwitchKey => {
            let Ok(cloud) = key.provider.parse::<Cloud>() else {
                return refuse(model, "unknown cloud");
            };
            let active = model
                .projects
                .iter()
                .find(|p| p.cloud == cloud)
                .and_then(|p| p.key_name.clone());
            let (target, create) = if active.as_deref() == Some(key.name.as_str()) {
                (fresh_name(&keys, cloud.as_str()), true)
            } else {
                (key.name.clone(), false)
            };
            model.notice = Some(Notice::new(
                format!("{cloud} registration → {target}…"),
                false,
            ));
            vec![Effect::SwitchKey {
                cloud,
                target,
                create,
            }]
        }
    }
}

/// `aws-k2`, `aws-k3`, …: the first such name not taken.
fn fresh_name(keys: &[KeyRow], provider: &str) -> String {
    (2..)
        .map(|n| format!("{provider}-k{n}"))
        .find(|name| keys.iter().all(|k| &k.name != name))
        .unwrap_or_else(|| format!("{provider}-new"))
}

fn toggle_fault(model: &mut Model, kind: Option<FaultKind>) -> Vec<Effect> {
    let key = match target(model) {
        Ok(key) => key,
        Err(why) => return refuse(model, why),
    };
    let text = match kind {
        Some(kind) => {
            let set = model.faults.entry(key.name.clone()).or_default();
            let on = set.insert(kind) || {
                set.remove(&kind);
                false
            };
            let state = if on { "on" } else { "off" };
            format!("{} {state} for {}", kind.label(), key.name)
        }
        None => {
            model.faults.clear();
            "faults cleared".to_owned()
        }
    };
    model.faults.retain(|_, set| !set.is_empty());
    model.notice = Some(Notice::new(text, false));
    let keys = model.keys.clone().unwrap_or_default();
    vec![Effect::SetFaults(fault_rules(&model.faults, &keys))]
}

/// The mock's rules for the toggled faults.
pub fn fault_rules(
    faults: &std::collections::BTreeMap<String, BTreeSet<FaultKind>>,
    keys: &[KeyRow],
) -> Vec<Fault> {
    let mut rules = Vec::new();
    for (name, kinds) in faults {
        let Some(provider) = keys
            .iter()
            .find(|k| &k.name == name)
            .and_then(|k| k.provider.parse::<Cloud>().ok())
        else {
            continue;
        };
        for kind in kinds {
            let scope = FaultScope {
                key: Some(name.clone()),
                ..FaultScope::cloud(provider)
            };
            let effect = match kind {
                FaultKind::Latency => {
                    Latency::new(Duration::from_millis(400)).map(|latency| FaultEffect::Latency {
                        latency,
                        probability: Probability::ALWAYS,
                    })
                }
                FaultKind::Errors => {
                    Probability::new(0.5).map(|probability| FaultEffect::ErrorRate {
                        error: InjectedError::Unavailable,
                        probability,
                    })
                }
                FaultKind::Throttle => {
                    Throttle::new(2, Duration::from_secs(60)).map(FaultEffect::Throttle)
                }
                FaultKind::Outage => Ok(FaultEffect::Outage {
                    probability: Probability::ALWAYS,
                }),
            };
            rules.extend(effect.ok().map(|effect| Fault::new(scope, effect)));
        }
    }
    rules
}

fn apply_refresh(model: &mut Model, refresh: Refresh) {
    if let Some(keys) = &refresh.keys {
        model.selected = model.selected.min(keys.len().saturating_sub(1));
    }
    model.keys = refresh.keys;
    model.projects = refresh.projects;
    model.cache = refresh.cache;
    apply_refresh_calls(model, refresh.calls);
}

fn apply_refresh_calls(model: &mut Model, calls: Vec<CallRow>) {
    let following = model.log_scroll == 0;
    for call in calls {
        if call.hop.is_none() {
            model.kms_per_minute.add(unix_minute(call.time), 1);
        }
        if !following && model.filter.admits(&call) {
            model.log_scroll += 1;
        }
        model.calls.push(call);
    }
    model.log_scroll = model.log_scroll.min(max_log_scroll(model));
}

/// Where focus goes back to from the log or the help: the story, or the keys.
fn home(model: &Model) -> Mode {
    if model.story().is_some() {
        Mode::Story
    } else {
        Mode::Keys
    }
}

/// How far back the log scrolls: to the page that shows the oldest calls.
fn max_log_scroll(model: &Model) -> usize {
    model.filtered_calls().saturating_sub(view::log_rows(model))
}

/// `current` moved by `lines` (positive: up the list), kept within `0..=max`.
fn scrolled(current: usize, lines: i32, max: usize) -> usize {
    let distance = usize::try_from(lines.unsigned_abs()).unwrap_or(usize::MAX);
    let moved = if lines >= 0 {
        current.saturating_add(distance)
    } else {
        current.saturating_sub(distance)
    };
    moved.min(max)
}

fn apply_workload(model: &mut Model, event: WorkloadEvent) {
    match event {
        WorkloadEvent::Sealed { object, forget } => {
            model.ops_per_minute.add(unix_minute(object.checked_at), 1);
            if let Some(name) = forget {
                model.objects.retain(|o| o.name != name);
            }
            model.objects.retain(|o| o.name != object.name);
            model.objects.push(object);
        }
        WorkloadEvent::SealFailed { cloud, reason, at } => {
            model.ops_per_minute.add(unix_minute(at), 1);
            if !model.notice.as_ref().is_some_and(|n| n.own) {
                let text = format!("workload: {cloud} cannot seal: {reason}");
                model.notice = Some(Notice::workload(text));
            }
        }
        WorkloadEvent::Opened { name, status, at } => {
            model.ops_per_minute.add(unix_minute(at), 1);
            if let Some(object) = model.objects.iter_mut().find(|o| o.name == name) {
                object.status = status;
                object.checked_at = at;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;
    use time::macros::datetime;

    use super::*;
    use crate::model::{CallRow, LabInfo, ObjectRow, ProjectRow, Readability};
    use ekm_vocab::KeyAction;

    fn keys() -> Vec<KeyRow> {
        ["aws-demo", "gcp-demo", "azure-demo"]
            .into_iter()
            .map(|name| KeyRow {
                name: name.into(),
                provider: name.trim_end_matches("-demo").into(),
                state: "enabled".into(),
                versions: 1,
                access: Some(true),
                trust: Some(true),
                aliases: if name == "aws-demo" {
                    vec!["ekm-demo".into()]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn ready() -> Model {
        let mut model = Model::new(100, Some(60.0));
        update(
            &mut model,
            Action::Started(Box::new(LabInfo {
                source: "test".into(),
                key_actions: true,
                dek_rotation: Duration::from_secs(86_400),
                revalidate_after: Duration::from_secs(3600),
                engine_calls: false,
                scenario: None,
            })),
        );
        update(
            &mut model,
            Action::Refreshed(Box::new(Refresh {
                keys: Some(keys()),
                projects: vec![ProjectRow {
                    cloud: Cloud::Gcp,
                    project: "proj_demo/gcp".into(),
                    key: "gcp-demo".into(),
                    key_name: Some("gcp-demo".into()),
                }],
                ..Refresh::default()
            })),
        );
        model
    }

    fn call(outcome: &str) -> CallRow {
        CallRow {
            time: datetime!(2026-01-01 00:00 UTC),
            provider: "aws".into(),
            operation: "Encrypt".into(),
            key: Some("aws-demo".into()),
            outcome: outcome.into(),
            latency_ms: 1.0,
            hop: None,
        }
    }

    #[test]
    fn quit_sets_the_flag_and_stops_the_runtime() {
        let mut model = ready();
        assert_eq!(update(&mut model, Action::Quit), [Effect::Quit]);
        assert!(model.quit);
    }

    #[test]
    fn help_returns_to_the_mode_it_came_from() {
        let mut model = ready();
        update(&mut model, Action::FocusNext);
        assert_eq!(model.mode, Mode::Log);
        update(&mut model, Action::ToggleHelp);
        assert_eq!(model.mode, Mode::Help);
        update(&mut model, Action::ToggleHelp);
        assert_eq!(model.mode, Mode::Log);
    }

    #[test]
    fn selection_stays_within_the_keys() {
        let mut model = ready();
        update(&mut model, Action::Up);
        assert_eq!(model.selected, 0);
        for _ in 0..5 {
            update(&mut model, Action::Down);
        }
        assert_eq!(model.selected, 2);
        update(&mut model, Action::SelectKey(9));
        assert_eq!(model.selected, 2);
        update(&mut model, Action::SelectKey(1));
        assert_eq!(
            model.selected_key().map(|k| k.name.as_str()),
            Some("gcp-demo")
        );
    }

    #[test]
    fn key_actions_target_the_selected_key() {
        let mut model = ready();
        update(&mut model, Action::Down);
        let effects = update(
            &mut model,
            Action::Key(KeyCommand::Lab(KeyAction::RevokeAccess)),
        );
        assert_eq!(
            effects,
            [Effect::KeyAction {
                key: "gcp-demo".into(),
                action: KeyAction::RevokeAccess
            }]
        );
    }

    #[test]
    fn key_actions_are_refused_without_the_embedded_lab() {
        let mut model = ready();
        if let Some(lab) = &mut model.lab {
            lab.key_actions = false;
        }
        let effects = update(&mut model, Action::Key(KeyCommand::Lab(KeyAction::Rotate)));
        assert!(effects.is_empty());
        assert!(model.notice.as_ref().is_some_and(|n| n.error));
    }

    #[test]
    fn switching_the_active_key_creates_a_fresh_one() {
        let mut model = ready();
        update(&mut model, Action::SelectKey(1));
        let effects = update(&mut model, Action::Key(KeyCommand::SwitchKey));
        assert_eq!(
            effects,
            [Effect::SwitchKey {
                cloud: Cloud::Gcp,
                target: "gcp-k2".into(),
                create: true
            }]
        );
    }

    #[test]
    fn alias_swap_moves_the_alias_off_its_current_key() {
        let mut model = ready();
        let effects = update(&mut model, Action::Key(KeyCommand::SwapAlias));
        assert_eq!(
            effects,
            [Effect::SwapAlias {
                alias: "ekm-demo".into(),
                target: "aws-k2".into(),
                create: true
            }]
        );
    }

    #[test]
    fn faults_toggle_per_key_and_clear() {
        let mut model = ready();
        let on = update(&mut model, Action::ToggleFault(FaultKind::Outage));
        let [Effect::SetFaults(rules)] = on.as_slice() else {
            panic!("{on:?}")
        };
        assert_eq!(rules.len(), 1);
        assert!(
            matches!(rules[0].effect, FaultEffect::Outage { .. })
                && rules[0].scope.key.as_deref() == Some("aws-demo")
        );
        update(&mut model, Action::ToggleFault(FaultKind::Latency));
        let off = update(&mut model, Action::ToggleFault(FaultKind::Outage));
        let [Effect::SetFaults(rules)] = off.as_slice() else {
            panic!("{off:?}")
        };
        assert_eq!(rules.len(), 1);
        assert!(matches!(
            rules[0].effect,
            FaultEffect::Latency { latency, .. } if latency.get() == Duration::from_millis(400)
        ));
        assert_eq!(
            update(&mut model, Action::ClearFaults),
            [Effect::SetFaults(Vec::new())]
        );
        assert!(model.faults.is_empty());
    }

    #[test]
    fn time_controls_change_the_clock() {
        let mut model = ready();
        assert_eq!(
            update(&mut model, Action::Faster),
            [Effect::SetSpeed(120.0)]
        );
        assert_eq!(update(&mut model, Action::Slower), [Effect::SetSpeed(60.0)]);
        assert_eq!(
            update(&mut model, Action::TogglePause),
            [Effect::SetPaused(true)]
        );
        assert!(model.clock.paused);
        assert_eq!(
            update(&mut model, Action::JumpHour),
            [Effect::Advance(JUMP), Effect::CheckObjects, Effect::Refresh]
        );
        let mut manual = Model::new(10, None);
        assert!(update(&mut manual, Action::Faster).is_empty());
    }

    #[test]
    fn a_story_plays_one_beat_at_a_time_and_goes_back_by_replaying() {
        let mut model = ready();
        assert!(
            update(&mut model, Action::NextStep).is_empty(),
            "no scenario"
        );
        let scenario = ekm_scenarios::validate::parse(crate::story::DEMO_SCENARIO, "demo.yaml")
            .expect("valid");
        if let Some(lab) = &mut model.lab {
            lab.scenario = Some(crate::model::ScenarioInfo {
                name: "demo".into(),
                description: String::new(),
                steps: Vec::new(),
                key_events: Vec::new(),
                beats: crate::story::beats(&scenario),
                start: datetime!(2026-01-01 00:00 UTC),
            });
        }
        let step = || crate::model::StepView {
            at: Duration::ZERO,
            outcome: "ok".into(),
            note: None,
            checks: vec![("outcome ok".into(), "ok".into(), true)],
        };
        for (beat, steps) in [(0, 1), (1, 1), (2, 6)] {
            assert_eq!(
                update(&mut model, Action::NextStep),
                [Effect::PlaySteps(steps)],
                "beat {beat}"
            );
            assert!(
                update(&mut model, Action::NextStep).is_empty(),
                "one at a time"
            );
            for _ in 0..steps {
                update(&mut model, Action::Stepped(Some(Box::new(step()))));
            }
            assert!(!model.stepping);
        }
        assert_eq!(model.played.len(), 8);
        assert_eq!(update(&mut model, Action::Back), [Effect::Restart(2)]);
        update(&mut model, Action::Restarted(Ok(vec![step(), step()])));
        assert_eq!(update(&mut model, Action::Restart), [Effect::Restart(0)]);
        update(&mut model, Action::Restarted(Ok(Vec::new())));
        assert!(update(&mut model, Action::Back).is_empty(), "at the start");
        assert_eq!(
            update(&mut model, Action::JumpHour),
            Vec::new(),
            "the clock follows the script"
        );
    }

    #[test]
    fn ticks_refresh_once_started_and_expire_notices() {
        let mut model = Model::new(10, Some(60.0));
        assert!(update(&mut model, Action::Tick).is_empty());
        let mut model = ready();
        model.notice = Some(Notice {
            ticks_left: 1,
            ..Notice::new("x", false)
        });
        assert_eq!(update(&mut model, Action::Tick), [Effect::Refresh]);
        assert!(model.notice.is_none());
    }

    #[test]
    fn the_status_line_keeps_the_answer_to_the_users_action() {
        let mut model = ready();
        let seal_failed = || {
            Action::Workload(Box::new(WorkloadEvent::SealFailed {
                cloud: Cloud::Aws,
                reason: "key disabled".into(),
                at: datetime!(2026-12-02 10:00 UTC),
            }))
        };
        update(&mut model, Action::Done(Ok("aws-demo disabled".into())));
        update(&mut model, seal_failed());
        let notice = model.notice.clone().unwrap();
        assert_eq!(
            (notice.text.as_str(), notice.own),
            ("aws-demo disabled", true)
        );
        while model.notice.is_some() {
            update(&mut model, Action::Tick);
        }
        update(&mut model, seal_failed());
        let notice = model.notice.clone().unwrap();
        assert_eq!(notice.text, "workload: aws cannot seal: key disabled");
        assert!(notice.error && !notice.own);
        update(
            &mut model,
            Action::Done(Err("cannot enable: refused".into())),
        );
        assert!(
            model.notice.as_ref().unwrap().own,
            "the user's answer replaces the workload's"
        );
    }

    #[test]
    fn the_log_keeps_its_place_while_scrolled_back() {
        let mut model = ready();
        let calls = |n| Refresh {
            keys: Some(keys()),
            calls: vec![call("ok"); n],
            ..Refresh::default()
        };
        update(&mut model, Action::Refreshed(Box::new(calls(20))));
        update(&mut model, Action::Scroll(2));
        assert_eq!(model.log_scroll, 2);
        update(&mut model, Action::Refreshed(Box::new(calls(3))));
        assert_eq!(model.log_scroll, 5, "still showing the same calls");
        let page = view::log_rows(&model);
        assert_eq!(page, 6, "an 80×24 screen shows six calls");
        update(&mut model, Action::Scroll(100));
        assert_eq!(
            model.log_scroll,
            23 - page,
            "the oldest calls fill a whole page"
        );
        update(&mut model, Action::Page(-1));
        assert_eq!(model.log_scroll, 23 - 2 * page);
        update(&mut model, Action::LogFollow);
        assert_eq!(model.log_scroll, 0);
        update(&mut model, Action::LogTop);
        assert_eq!(model.log_scroll, 23 - page);
        update(&mut model, Action::Resize(Rect::new(0, 0, 160, 45)));
        assert!(view::log_rows(&model) > page);
        assert_eq!(
            model.log_scroll,
            23 - view::log_rows(&model),
            "still a full page"
        );
        model.mode = Mode::Log;
        update(&mut model, Action::LeaveLog);
        assert_eq!((model.log_scroll, model.mode), (0, Mode::Keys));
    }

    #[test]
    fn the_help_scrolls_within_its_lines() {
        let mut model = ready();
        update(&mut model, Action::ToggleHelp);
        let max = view::help_max_scroll(&model);
        assert!(max > 0, "80×24 needs scrolling");
        update(&mut model, Action::Scroll(-3));
        assert_eq!(model.help_scroll, 3, "j moves the help down");
        update(&mut model, Action::Page(-1));
        assert_eq!(model.help_scroll, (3 + view::help_rows(&model)).min(max));
        update(&mut model, Action::Page(-100));
        assert_eq!(model.help_scroll, max);
        update(&mut model, Action::Scroll(i32::MAX));
        assert_eq!(model.help_scroll, 0);
        update(&mut model, Action::Scroll(-2));
        update(&mut model, Action::Resize(Rect::new(0, 0, 200, 60)));
        assert_eq!(model.help_scroll, 0, "everything fits: nothing to scroll");
        update(&mut model, Action::ToggleHelp);
        assert_eq!(model.log_scroll, 0, "help scrolling leaves the log alone");
    }

    #[test]
    fn the_log_ring_is_bounded_and_filters_cycle() {
        let mut model = Model::new(4, None);
        let refresh = Refresh {
            calls: vec![
                call("AccessDeniedException"),
                call("ok"),
                call("ok"),
                call("ok"),
                call("ok"),
            ],
            ..Refresh::default()
        };
        update(&mut model, Action::Refreshed(Box::new(refresh)));
        assert_eq!(model.calls.len(), 4);
        update(&mut model, Action::CycleOutcomeFilter);
        assert_eq!(model.filtered_calls(), 4);
        update(&mut model, Action::CycleOutcomeFilter);
        assert_eq!(
            model.filtered_calls(),
            0,
            "the failed call fell out of the ring"
        );
        update(&mut model, Action::CycleCloudFilter);
        assert_eq!(model.filter.cloud, Some(Cloud::Aws));
        for _ in 0..3 {
            update(&mut model, Action::CycleCloudFilter);
        }
        assert_eq!(model.filter.cloud, None);
    }

    #[test]
    fn workload_events_update_objects_and_counts() {
        let mut model = ready();
        let at = datetime!(2026-01-01 00:00 UTC);
        let object = ObjectRow {
            name: "aws-001".into(),
            cloud: Cloud::Aws,
            key: "aws-demo v1".into(),
            status: Readability::Readable,
            checked_at: at,
        };
        update(
            &mut model,
            Action::Workload(Box::new(WorkloadEvent::Sealed {
                object,
                forget: None,
            })),
        );
        update(
            &mut model,
            Action::Workload(Box::new(WorkloadEvent::Opened {
                name: "aws-001".into(),
                status: Readability::Unreadable("access denied".into()),
                at,
            })),
        );
        assert_eq!(model.objects.len(), 1);
        assert_eq!(
            model.objects[0].status,
            Readability::Unreadable("access denied".into())
        );
        assert_eq!(model.ops_per_minute.window(unix_minute(at), 1), [2]);
    }
}
