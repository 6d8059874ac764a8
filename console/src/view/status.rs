//! The status bar: lab time, speed, focus, and the latest notice or the key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use time::OffsetDateTime;

use super::text::{TIME_FORMAT, speed_label};
use crate::model::{Mode, Model};

pub(super) fn bar(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let speed = match model.clock.speed {
        _ if model.clock.paused => "PAUSED".to_owned(),
        Some(speed) => speed_label(speed),
        None => "manual".to_owned(),
    };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", now.format(TIME_FORMAT).unwrap_or_default()),
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::styled(
            format!(" {speed} "),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ),
        Span::styled(
            format!(" {} ", model.mode),
            Style::new().fg(Color::Black).bg(Color::Gray),
        ),
        Span::raw(" "),
    ];
    if let Some(error) = &model.start_error {
        spans.push(Span::styled(
            error.clone(),
            Style::new().fg(Color::Red).bold(),
        ));
    } else if let Some(notice) = &model.notice {
        let style = if notice.error {
            Style::new().fg(Color::Red).bold()
        } else {
            Style::new().fg(Color::Green)
        };
        spans.push(Span::styled(notice.text.clone(), style));
    } else {
        let used: usize = spans.iter().map(Span::width).sum();
        let room = usize::from(area.width).saturating_sub(used);
        let hints = fitted(hints(model), room);
        if let Some(first) = model.first_frame {
            let up = format!("up in {:.2} s · ", first.as_secs_f64());
            if up.chars().count() + hints.chars().count() <= room {
                spans.push(Span::raw(up));
            }
        }
        spans.push(Span::styled(hints, Style::new().fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys that work now, most needed first: story keys in story mode, log keys in the log,
/// help keys in the help; key actions only where the lab takes them.
fn hints(model: &Model) -> &'static [&'static str] {
    let key_actions = model.lab.as_ref().is_some_and(|lab| lab.key_actions);
    match (model.story().is_some(), model.mode, key_actions) {
        (_, Mode::Help, _) => &["? close", "j/k scroll", "PgUp/PgDn page", "Ctrl-c quit"],
        (true, Mode::Log, _) => &[
            "? help",
            "q quit",
            "PgUp/PgDn page",
            "g oldest",
            "Esc story",
        ],
        (true, _, _) => &[
            "? help",
            "q quit",
            "n next",
            "b back",
            "R restart",
            "space autoplay",
            "Tab log",
            "w report",
        ],
        (false, Mode::Log, _) => &[
            "? help",
            "q quit",
            "PgUp/PgDn page",
            "g oldest",
            "Esc keys",
            "f/o filter",
        ],
        (false, _, true) => &[
            "? help", "q quit", "r rotate", "a revoke", "Tab log", "J +1h",
        ],
        (false, _, false) => &["? help", "q quit", "Tab log", "J +1h"],
    }
}

/// As many of `hints` as fit in `width` columns, two spaces apart.
fn fitted(hints: &[&str], width: usize) -> String {
    let mut line = String::new();
    for hint in hints {
        let gap = if line.is_empty() { 0 } else { 2 };
        if line.chars().count() + gap + hint.chars().count() > width {
            break;
        }
        line.push_str(&"  "[..gap]);
        line.push_str(hint);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_that_do_not_fit_are_left_out_whole() {
        let hints = ["? help", "q quit", "r rotate"];
        assert_eq!(fitted(&hints, 80), "? help  q quit  r rotate");
        assert_eq!(fitted(&hints, 16), "? help  q quit");
        assert_eq!(fitted(&hints, 15), "? help  q quit");
        assert_eq!(fitted(&hints, 13), "? help");
        assert_eq!(fitted(&hints, 3), "");
    }
}
