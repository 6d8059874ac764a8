//! Key bindings: one table ([`BINDINGS`]) that both [`map_key`] and the help overlay read, so
//! the help can never disagree with what a key does.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;

use ekm_vocab::KeyAction;

use crate::model::{Action, FaultKind, KeyCommand, Mode, Model};
use crate::view::Areas;

/// The help overlay's sections, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// Quit, help, focus.
    General,
    /// Lifecycle of the selected key.
    Key,
    /// Faults on the selected key.
    Faults,
    /// The lab clock.
    Time,
    /// The KMS call log.
    Log,
    /// Story mode (`ekm demo`, `ekm play`).
    Story,
}

impl Section {
    /// Every section, in display order.
    pub(crate) const ALL: [Section; 6] = [
        Section::General,
        Section::Story,
        Section::Key,
        Section::Faults,
        Section::Time,
        Section::Log,
    ];

    /// The heading.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Section::General => "General",
            Section::Key => "Selected key",
            Section::Faults => "Faults (selected key)",
            Section::Time => "Lab time",
            Section::Log => "Call log (Tab to focus)",
            Section::Story => "Story (ekm demo, ekm play)",
        }
    }
}

/// One entry of the key table.
#[derive(Debug)]
pub(crate) struct Binding {
    /// Where it applies.
    pub modes: &'static [Mode],
    /// The keys (any of them).
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// What it does.
    pub action: Action,
    /// Its help text.
    pub help: &'static str,
    /// Its help section.
    pub section: Section,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const MAIN: &[Mode] = &[Mode::Keys, Mode::Log];
const ANY: &[Mode] = &[Mode::Keys, Mode::Log, Mode::Story];
const STORY: &[Mode] = &[Mode::Story];
const KEYS: &[Mode] = &[Mode::Keys];
const LOG: &[Mode] = &[Mode::Log];
const HELP: &[Mode] = &[Mode::Help];

const fn ch(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

const fn lab(action: KeyAction) -> Action {
    Action::Key(KeyCommand::Lab(action))
}

macro_rules! bind {
    ($section:ident, $modes:expr, [$($key:expr),+], $action:expr, $help:literal) => {
        Binding {
            modes: $modes,
            keys: &[$($key),+],
            action: $action,
            help: $help,
            section: Section::$section,
        }
    };
}

/// Every key binding.
pub(crate) static BINDINGS: &[Binding] = &[
    bind!(
        General,
        ANY,
        [ch('q'), (KeyCode::Char('c'), KeyModifiers::CONTROL)],
        Action::Quit,
        "quit"
    ),
    bind!(General, ANY, [ch('?')], Action::ToggleHelp, "help"),
    bind!(
        General,
        HELP,
        [ch('?'), (KeyCode::Esc, NONE), ch('q')],
        Action::ToggleHelp,
        "close help"
    ),
    bind!(
        General,
        HELP,
        [(KeyCode::Char('c'), KeyModifiers::CONTROL)],
        Action::Quit,
        "quit"
    ),
    bind!(
        General,
        ANY,
        [(KeyCode::Tab, NONE)],
        Action::FocusNext,
        "focus keys or story / call log"
    ),
    bind!(
        Story,
        STORY,
        [ch('n'), (KeyCode::Enter, NONE), (KeyCode::Right, NONE)],
        Action::NextStep,
        "play the next beat"
    ),
    bind!(
        Story,
        STORY,
        [ch('b'), (KeyCode::Left, NONE)],
        Action::Back,
        "back one beat (replayed)"
    ),
    bind!(
        Story,
        STORY,
        [ch('R')],
        Action::Restart,
        "restart the story"
    ),
    bind!(
        Story,
        STORY,
        [ch('w')],
        Action::WriteReport,
        "write the report so far (HTML + Markdown) to ./ekm-report/"
    ),
    bind!(
        Story,
        STORY,
        [ch(' ')],
        Action::TogglePause,
        "autoplay on / off"
    ),
    bind!(
        Key,
        KEYS,
        [ch('k'), (KeyCode::Up, NONE)],
        Action::Up,
        "previous key"
    ),
    bind!(
        Key,
        KEYS,
        [ch('j'), (KeyCode::Down, NONE)],
        Action::Down,
        "next key"
    ),
    bind!(
        Key,
        MAIN,
        [ch('r')],
        lab(KeyAction::Rotate),
        "rotate (new version, old data readable)"
    ),
    bind!(Key, MAIN, [ch('d')], lab(KeyAction::Disable), "disable"),
    bind!(Key, MAIN, [ch('e')], lab(KeyAction::Enable), "enable"),
    bind!(
        Key,
        MAIN,
        [ch('a')],
        lab(KeyAction::RevokeAccess),
        "revoke access (policy)"
    ),
    bind!(
        Key,
        MAIN,
        [ch('A')],
        lab(KeyAction::RestoreAccess),
        "restore access"
    ),
    bind!(
        Key,
        MAIN,
        [ch('t')],
        lab(KeyAction::RevokeTrust),
        "revoke trust (identity)"
    ),
    bind!(
        Key,
        MAIN,
        [ch('T')],
        lab(KeyAction::RestoreTrust),
        "restore trust"
    ),
    bind!(
        Key,
        MAIN,
        [ch('X')],
        lab(KeyAction::ScheduleDeletion),
        "schedule deletion (7 d)"
    ),
    bind!(
        Key,
        MAIN,
        [ch('w')],
        Action::Key(KeyCommand::SwapAlias),
        "swap the AWS alias to another key"
    ),
    bind!(
        Key,
        MAIN,
        [ch('s')],
        Action::Key(KeyCommand::SwitchKey),
        "switch the cloud's registered key"
    ),
    bind!(
        Faults,
        MAIN,
        [ch('1')],
        Action::ToggleFault(FaultKind::Latency),
        "latency 400 ms on/off"
    ),
    bind!(
        Faults,
        MAIN,
        [ch('2')],
        Action::ToggleFault(FaultKind::Errors),
        "50% errors on/off"
    ),
    bind!(
        Faults,
        MAIN,
        [ch('3')],
        Action::ToggleFault(FaultKind::Throttle),
        "throttle 2/min on/off"
    ),
    bind!(
        Faults,
        MAIN,
        [ch('4')],
        Action::ToggleFault(FaultKind::Outage),
        "outage on/off"
    ),
    bind!(
        Faults,
        MAIN,
        [ch('0')],
        Action::ClearFaults,
        "clear every fault"
    ),
    bind!(Time, MAIN, [ch(' ')], Action::TogglePause, "pause / resume"),
    bind!(
        Time,
        MAIN,
        [ch('+'), ch('=')],
        Action::Faster,
        "faster (x2)"
    ),
    bind!(Time, MAIN, [ch('-')], Action::Slower, "slower (/2)"),
    bind!(Time, MAIN, [ch('J')], Action::JumpHour, "jump +1 h"),
    bind!(
        Log,
        LOG,
        [ch('k'), (KeyCode::Up, NONE)],
        Action::Scroll(1),
        "older"
    ),
    bind!(
        Log,
        LOG,
        [ch('j'), (KeyCode::Down, NONE)],
        Action::Scroll(-1),
        "newer"
    ),
    bind!(
        Log,
        LOG,
        [(KeyCode::PageUp, NONE)],
        Action::Page(1),
        "page older"
    ),
    bind!(
        Log,
        LOG,
        [(KeyCode::PageDown, NONE)],
        Action::Page(-1),
        "page newer"
    ),
    bind!(Log, LOG, [ch('g')], Action::LogTop, "oldest page"),
    bind!(Log, LOG, [ch('G')], Action::LogFollow, "follow newest"),
    bind!(
        Log,
        LOG,
        [ch('f')],
        Action::CycleCloudFilter,
        "filter provider"
    ),
    bind!(
        Log,
        LOG,
        [ch('o')],
        Action::CycleOutcomeFilter,
        "filter outcome"
    ),
    bind!(
        Log,
        LOG,
        [(KeyCode::Esc, NONE)],
        Action::LeaveLog,
        "follow newest, back to keys / story"
    ),
    bind!(
        General,
        HELP,
        [ch('k'), (KeyCode::Up, NONE)],
        Action::Scroll(1),
        "scroll help up"
    ),
    bind!(
        General,
        HELP,
        [ch('j'), (KeyCode::Down, NONE)],
        Action::Scroll(-1),
        "scroll help down"
    ),
    bind!(
        General,
        HELP,
        [(KeyCode::PageUp, NONE)],
        Action::Page(1),
        "help page up"
    ),
    bind!(
        General,
        HELP,
        [(KeyCode::PageDown, NONE)],
        Action::Page(-1),
        "help page down"
    ),
];

/// The action `key` triggers in `mode`, if any. Key releases and repeats of non-navigation
/// keys are ignored; Shift is implied by upper-case characters.
pub(crate) fn map_key(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let modifiers = match key.code {
        KeyCode::Char(_) => key.modifiers - KeyModifiers::SHIFT,
        _ => key.modifiers,
    };
    BINDINGS
        .iter()
        .filter(|b| b.modes.contains(&mode))
        .find(|b| {
            b.keys
                .iter()
                .any(|(c, m)| *c == key.code && *m == modifiers)
        })
        .map(|b| b.action.clone())
}

/// The action a mouse event triggers: a click on a key row selects it, a click in the call
/// log focuses it, the wheel over the log scrolls it. `areas` is the current layout.
pub(crate) fn map_mouse(model: &Model, areas: &Areas, event: MouseEvent) -> Option<Action> {
    if model.mode == Mode::Help || model.story().is_some() {
        return None;
    }
    let at = Position::new(event.column, event.row);
    match event.kind {
        MouseEventKind::Down(MouseButton::Left) if areas.keys.contains(at) => {
            let first_row = areas.keys.y + 2;
            let visible = areas.keys.height.saturating_sub(3).max(1);
            let offset = model.selected.saturating_sub(usize::from(visible) - 1);
            let row = usize::from(event.row.checked_sub(first_row)?);
            (row < usize::from(visible)).then_some(Action::SelectKey(offset + row))
        }
        MouseEventKind::Down(MouseButton::Left) if areas.log.contains(at) => Some(Action::FocusLog),
        MouseEventKind::ScrollUp if areas.log.contains(at) => Some(Action::Scroll(3)),
        MouseEventKind::ScrollDown if areas.log.contains(at) => Some(Action::Scroll(-3)),
        _ => None,
    }
}

/// How a key is written in the help overlay.
pub(crate) fn key_label((code, modifiers): (KeyCode, KeyModifiers)) -> String {
    let base = match code {
        KeyCode::Char(' ') => "Space".to_owned(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Up => "↑".to_owned(),
        KeyCode::Down => "↓".to_owned(),
        KeyCode::Tab => "Tab".to_owned(),
        KeyCode::Esc => "Esc".to_owned(),
        KeyCode::PageUp => "PgUp".to_owned(),
        KeyCode::PageDown => "PgDn".to_owned(),
        other => other.to_string(),
    };
    if modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{base}")
    } else {
        base
    }
}

/// The help overlay's lines: per section, each binding's keys and text.
pub(crate) fn help_entries() -> Vec<(Section, String, &'static str)> {
    Section::ALL
        .iter()
        .flat_map(|section| {
            BINDINGS
                .iter()
                .filter(move |b| b.section == *section && !b.modes.contains(&Mode::Help))
                .map(move |b| {
                    let keys: Vec<String> = b.keys.iter().map(|k| key_label(*k)).collect();
                    (*section, keys.join(" "), b.help)
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_mode_maps_navigation_and_key_actions() {
        assert_eq!(
            map_key(Mode::Keys, press(KeyCode::Char('j'))),
            Some(Action::Down)
        );
        assert_eq!(map_key(Mode::Keys, press(KeyCode::Up)), Some(Action::Up));
        assert_eq!(
            map_key(Mode::Keys, press(KeyCode::Char('r'))),
            Some(lab(KeyAction::Rotate))
        );
        assert_eq!(
            map_key(Mode::Keys, press(KeyCode::Char('2'))),
            Some(Action::ToggleFault(FaultKind::Errors))
        );
        assert_eq!(map_key(Mode::Keys, press(KeyCode::Char('z'))), None);
    }

    #[test]
    fn shifted_letters_are_their_own_bindings() {
        let shifted = KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT);
        assert_eq!(
            map_key(Mode::Keys, shifted),
            Some(lab(KeyAction::RestoreAccess))
        );
        let jump = KeyEvent::new(KeyCode::Char('J'), KeyModifiers::SHIFT);
        assert_eq!(map_key(Mode::Log, jump), Some(Action::JumpHour));
    }

    #[test]
    fn the_same_key_means_different_things_per_mode() {
        assert_eq!(
            map_key(Mode::Log, press(KeyCode::Char('k'))),
            Some(Action::Scroll(1))
        );
        assert_eq!(
            map_key(Mode::Keys, press(KeyCode::Char('k'))),
            Some(Action::Up)
        );
        assert_eq!(
            map_key(Mode::Help, press(KeyCode::Char('q'))),
            Some(Action::ToggleHelp)
        );
        assert_eq!(map_key(Mode::Help, press(KeyCode::Char('r'))), None);
        assert_eq!(map_key(Mode::Keys, press(KeyCode::Char('f'))), None);
    }

    #[test]
    fn ctrl_c_quits_everywhere_and_releases_are_ignored() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [Mode::Keys, Mode::Log, Mode::Help] {
            assert_eq!(map_key(mode, ctrl_c), Some(Action::Quit), "{mode}");
        }
        let mut release = press(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(map_key(Mode::Keys, release), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        for mode in [Mode::Keys, Mode::Log, Mode::Help] {
            let mut seen = Vec::new();
            for binding in BINDINGS.iter().filter(|b| b.modes.contains(&mode)) {
                for key in binding.keys {
                    assert!(!seen.contains(key), "{key:?} bound twice in {mode}");
                    seen.push(*key);
                }
            }
        }
    }

    #[test]
    fn clicks_select_keys_and_focus_the_log() {
        use ratatui::layout::Rect;
        let model = Model::new(10, None);
        let areas = crate::view::layout(Rect::new(0, 0, 100, 30));
        let click = |column, row| MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(
            map_mouse(&model, &areas, click(3, areas.keys.y + 3)),
            Some(Action::SelectKey(1))
        );
        assert_eq!(
            map_mouse(&model, &areas, click(3, areas.keys.y)),
            None,
            "border"
        );
        assert_eq!(
            map_mouse(&model, &areas, click(3, areas.log.y + 4)),
            Some(Action::FocusLog)
        );
        let wheel = MouseEvent {
            kind: MouseEventKind::ScrollUp,
            ..click(3, areas.log.y + 4)
        };
        assert_eq!(map_mouse(&model, &areas, wheel), Some(Action::Scroll(3)));
    }

    #[test]
    fn help_lists_every_main_binding() {
        let entries = help_entries();
        assert!(
            entries
                .iter()
                .any(|(_, keys, help)| keys == "k ↑" && *help == "previous key")
        );
        assert!(entries.iter().any(|(_, keys, _)| keys == "q Ctrl-c"));
        let main = BINDINGS
            .iter()
            .filter(|b| !b.modes.contains(&Mode::Help))
            .count();
        assert_eq!(entries.len(), main);
    }
}
