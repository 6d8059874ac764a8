//! The KMS call log pane: the newest calls that pass the filter, or a page further back. A hop
//! the cloud's KMS made to the customer's external key manager is a row of its own beside the
//! call that caused it (the log lists calls as they are answered, so just before it), in cyan:
//! `↳ xks Decrypt` is the cloud waiting for the XKS proxy, `↳ proxy Decrypt` the proxy's own
//! time in front of the HSMs, each with its own latency and outcome.

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
        let operation = match call.hop.as_deref() {
            None => call.operation.clone(),
            Some("xks-proxy") => format!("↳ proxy {}", call.operation),
            Some(hop) => format!("↳ {hop} {}", call.operation),
        };
        let row = Row::new([
            Cell::from(lab_time(call.time)),
            Cell::from(call.provider.clone()),
            Cell::from(operation),
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
        ]);
        if call.hop.is_some() {
            row.style(Style::new().fg(Color::Cyan))
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(15),
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
