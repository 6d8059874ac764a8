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
        if let Some(first) = model.first_frame {
            spans.push(Span::raw(format!("up in {:.2} s · ", first.as_secs_f64())));
        }
        spans.push(Span::styled(hints(model), Style::new().fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys that work now: story keys in story mode; key actions only where the lab takes them.
fn hints(model: &Model) -> &'static str {
    let key_actions = model.lab.as_ref().is_some_and(|lab| lab.key_actions);
    match (model.story().is_some(), model.mode, key_actions) {
        (true, Mode::Log, _) => "? help  q quit  PgUp/PgDn page  g oldest  Esc story",
        (true, _, _) => "? help  q quit  n next  b back  R restart  space autoplay  Tab log",
        (false, _, true) => "? help  q quit  r rotate  a revoke  J +1h  Tab log",
        (false, _, false) => "? help  q quit  J +1h  Tab log",
    }
}
