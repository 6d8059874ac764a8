//! The sparklines: KMS calls and workload operations per lab minute.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::Sparkline;
use time::OffsetDateTime;

use super::bordered;
use crate::model::{Model, unix_minute};

pub(super) fn pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let [kms, ops] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let minute = unix_minute(now);
    for (counts, title, colour, area) in [
        (&model.kms_per_minute, "KMS/min", Color::Yellow, kms),
        (&model.ops_per_minute, "ops/min", Color::Cyan, ops),
    ] {
        let width = usize::from(area.width.saturating_sub(2));
        let data = counts.window(minute, width);
        let current = data.last().copied().unwrap_or(0);
        let peak = data.iter().copied().max().unwrap_or(0);
        let block = bordered(format!(" {title} {current} · peak {peak} "), false);
        frame.render_widget(
            Sparkline::default()
                .block(block)
                .data(&data)
                .style(Style::new().fg(colour)),
            area,
        );
    }
}
