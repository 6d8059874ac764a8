//! The help overlay, drawn from the key table ([`crate::keymap::BINDINGS`]).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::keymap::{Section, help_entries};
use crate::model::{Mode, Model};

/// Draws the help for the mode it was opened from: story keys in story mode, key, fault and
/// time keys otherwise. Long entries wrap rather than being cut.
pub(super) fn overlay(model: &Model, frame: &mut Frame) {
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(96);
    let height = area.height.saturating_sub(2).min(24);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(" Key bindings (? or Esc to close) ")
        .border_style(Style::new().fg(Color::Cyan));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let entries = help_entries();
    let column = |sections: &[Section]| {
        let mut lines = Vec::new();
        for section in sections {
            lines.push(Line::styled(
                section.title(),
                Style::new().bold().fg(Color::Yellow),
            ));
            for (_, keys, help) in entries.iter().filter(|(s, _, _)| s == section) {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {keys:<9}"), Style::new().fg(Color::Cyan)),
                    Span::raw(*help),
                ]));
            }
        }
        Paragraph::new(lines).wrap(Wrap { trim: false })
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let (first, second): (&[Section], &[Section]) = if model.help_return == Mode::Story {
        (&[Section::General, Section::Story], &[Section::Log])
    } else {
        (
            &[Section::General, Section::Key],
            &[Section::Faults, Section::Time, Section::Log],
        )
    };
    frame.render_widget(column(first), left);
    frame.render_widget(column(second), right);
}
