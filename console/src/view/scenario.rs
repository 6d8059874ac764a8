//! The Scenario pane (`ekm play`): the steps, the one to play next, and the last step's
//! note and checks.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::bordered;
use crate::model::{Model, ScenarioInfo};

pub(super) fn pane(model: &Model, scenario: &ScenarioInfo, frame: &mut Frame, area: Rect) {
    let done = model.played.len();
    let title = format!(
        " {} {done}/{} · n next ",
        scenario.name,
        scenario.steps.len()
    );
    let mut lines = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let line = match model.played.get(i) {
            Some(played) if played.passed() => Line::styled(
                format!("✓ {} {step} → {}", i + 1, played.outcome),
                Style::new().fg(Color::Green),
            ),
            Some(played) => Line::styled(
                format!("✗ {} {step} → {}", i + 1, played.outcome),
                Style::new().fg(Color::Red).bold(),
            ),
            None if i == done => Line::styled(
                format!("▶ {} {step}", i + 1),
                Style::new().add_modifier(Modifier::REVERSED),
            ),
            None => Line::styled(
                format!("  {} {step}", i + 1),
                Style::new().fg(Color::DarkGray),
            ),
        };
        lines.push(line);
        if i + 1 == done
            && let Some(played) = model.played.last()
        {
            if let Some(note) = &played.note {
                lines.push(Line::styled(
                    format!("    {note}"),
                    Style::new().fg(Color::Cyan),
                ));
            }
            for (expected, actual, passed) in &played.checks {
                let mark = if *passed { "✓" } else { "✗" };
                let style = if *passed {
                    Style::new().fg(Color::Green)
                } else {
                    Style::new().fg(Color::Red)
                };
                lines.push(Line::styled(
                    format!("    {mark} expect {expected}: {actual}"),
                    style,
                ));
            }
        }
    }
    let height = usize::from(area.height.saturating_sub(2));
    let current = lines
        .iter()
        .position(|l| l.spans.first().is_some_and(|s| s.content.starts_with('▶')))
        .unwrap_or(lines.len());
    let skip = (current + 2).saturating_sub(height);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(lines).block(bordered(title, true)), area);
}
