//! The KMS call log pane: the newest calls that pass the filter, or a page further back.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::text::lab_time;
use super::{bordered, header};
use crate::model::{CallRow, Mode, Model};

fn outcome_style(outcome: &str) -> Style {
    match outcome {
        "ok" => Style::new().fg(Color::Green),
        o if o.contains("hrottl") || o.contains("EXHAUSTED") || o == "429" => {
            Style::new().fg(Color::Yellow)
        }
        _ => Style::new().fg(Color::Red).bold(),
    }
}

pub(super) fn pane(model: &Model, frame: &mut Frame, area: Rect) {
    let filter = &model.filter;
    let cloud = filter.cloud.map_or("all", |c| c.as_str());
    let scrolled = if model.log_scroll > 0 {
        format!(" · ↑{}", model.log_scroll)
    } else {
        String::new()
    };
    let title = format!(
        " KMS calls {} · provider {cloud} · outcome {}{scrolled} ",
        model.calls.len(),
        filter.outcome
    );
    let visible = usize::from(area.height.saturating_sub(3));
    let mut shown: Vec<&CallRow> = model
        .calls
        .iter()
        .rev()
        .filter(|c| filter.admits(c))
        .skip(model.log_scroll)
        .take(visible)
        .collect();
    shown.reverse();
    let rows = shown.into_iter().map(|call| {
        Row::new([
            Cell::from(lab_time(call.time)),
            Cell::from(call.provider.clone()),
            Cell::from(call.operation.clone()),
            Cell::from(call.key.clone().unwrap_or_else(|| "—".into())),
            Cell::from(if call.latency_ms < 10.0 {
                format!("{:.1}ms", call.latency_ms)
            } else {
                format!("{:.0}ms", call.latency_ms)
            }),
            Cell::from(Span::styled(
                call.outcome.clone(),
                outcome_style(&call.outcome),
            )),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Fill(1),
        ],
    )
    .header(header(&[
        "time",
        "cloud",
        "operation",
        "key",
        "lat",
        "outcome",
    ]))
    .block(bordered(title, model.mode == Mode::Log));
    frame.render_widget(table, area);
}
