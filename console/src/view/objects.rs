//! The Objects pane: the demo workload's objects, the key version that wrapped each, and
//! whether it is readable now.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

use super::{bordered, header};
use crate::model::{Model, Readability};

pub(super) fn pane(model: &Model, frame: &mut Frame, area: Rect) {
    let unreadable = model
        .objects
        .iter()
        .filter(|o| o.status != Readability::Readable)
        .count();
    let title = format!(
        " Objects {} · unreadable {} ",
        model.objects.len(),
        unreadable
    );
    let visible = usize::from(area.height.saturating_sub(3));
    let skip = model.objects.len().saturating_sub(visible);
    let rows = model.objects.iter().skip(skip).map(|object| {
        let status = match &object.status {
            Readability::Readable => Span::styled("✓ yes", Style::new().fg(Color::Green)),
            Readability::Unreadable(why) => {
                Span::styled(format!("✗ {why}"), Style::new().fg(Color::Red).bold())
            }
        };
        Row::new([
            Cell::from(object.name.clone()),
            Cell::from(object.key.clone()),
            Cell::from(status),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Length(13),
            Constraint::Fill(1),
        ],
    )
    .header(header(&["object", "key", "readable"]))
    .block(bordered(title, false));
    frame.render_widget(table, area);
}
