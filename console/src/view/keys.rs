//! The Keys pane: every key of the lab with its state, primary version, access and trust,
//! aliases and toggled faults; the selected row is the target of key and fault actions.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{bordered, header, placeholder};
use crate::model::{Mode, Model};

fn flag(value: Option<bool>) -> Span<'static> {
    match value {
        Some(true) => Span::styled("yes", Style::new().fg(Color::Green)),
        Some(false) => Span::styled("NO", Style::new().fg(Color::Red).bold()),
        None => Span::raw("—"),
    }
}

fn state_style(state: &str) -> Style {
    match state {
        "enabled" => Style::new().fg(Color::Green),
        "disabled" | "pending-deletion" => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Red),
    }
}

pub(super) fn pane(model: &Model, frame: &mut Frame, area: Rect) {
    let block = bordered(" Keys ", model.mode == Mode::Keys);
    let Some(keys) = &model.keys else {
        let text = if model.lab.is_some() {
            "keys are not observable: real cloud KMS".to_owned()
        } else {
            placeholder(model).to_owned()
        };
        let mut lines: Vec<Line> = vec![Line::raw(text)];
        lines.extend(
            model
                .projects
                .iter()
                .map(|p| Line::raw(format!(" {:<6}{}", p.cloud.as_str(), p.key))),
        );
        frame.render_widget(Paragraph::new(lines).block(block), area);
        return;
    };
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let first = model.selected.saturating_sub(visible - 1);
    let rows = keys
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, key)| {
            let registered = model
                .projects
                .iter()
                .any(|p| p.key_name.as_deref() == Some(key.name.as_str()));
            let mut name = key.name.clone();
            if registered {
                name.push('*');
            }
            let faults = model
                .faults
                .get(&key.name)
                .map(|set| set.iter().map(|f| f.label()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let aliases: String = key.aliases.iter().map(|a| format!("@{a} ")).collect();
            let row = Row::new([
                Cell::from(key.provider.clone()),
                Cell::from(name),
                Cell::from(Span::styled(key.state.clone(), state_style(&key.state))),
                Cell::from(format!("v{}", key.versions)),
                Cell::from(flag(key.access)),
                Cell::from(flag(key.trust)),
                Cell::from(Line::from(vec![
                    Span::raw(aliases),
                    Span::styled(faults, Style::new().fg(Color::Magenta).bold()),
                ])),
            ]);
            if i == model.selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(3),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Fill(1),
        ],
    )
    .header(header(&[
        "cloud", "name", "state", "ver", "access", "trust", "notes",
    ]))
    .block(block);
    frame.render_widget(table, area);
}
