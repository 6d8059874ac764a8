//! The DEK cache pane: both caches' entries with age, uses and time to expiry.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use time::OffsetDateTime;

use ekm_engine::events::CachePath;

use super::text::short_duration;
use super::{bordered, header, placeholder};
use crate::model::Model;

pub(super) fn pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let s = model.stats;
    let title = format!(
        " DEK cache {} · hits {} · misses {} ",
        model.cache.len(),
        s.hits,
        s.misses
    );
    let block = bordered(title, false);
    let visible = usize::from(area.height.saturating_sub(3));
    let rows = model.cache.iter().take(visible).map(|entry| {
        let left = entry.expires_at - now;
        let expires = if left <= time::Duration::ZERO {
            Span::styled("expired", Style::new().fg(Color::Red))
        } else {
            Span::styled(short_duration(left), Style::new().fg(Color::Green))
        };
        Row::new([
            Cell::from(entry.dek.clone()),
            Cell::from(match entry.path {
                CachePath::Encrypt => "enc",
                CachePath::Decrypt => "dec",
            }),
            Cell::from(entry.kek.clone()),
            Cell::from(short_duration(now - entry.created_at)),
            Cell::from(entry.uses.to_string()),
            Cell::from(expires),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(7),
        ],
    )
    .header(header(&["DEK", "path", "KEK", "age", "uses", "expires"]))
    .block(block);
    if model.cache.is_empty() {
        let text = if model.lab.is_some() {
            "no cached DEKs"
        } else {
            placeholder(model)
        };
        frame.render_widget(
            Paragraph::new(text).block(bordered(" DEK cache ", false)),
            area,
        );
    } else {
        frame.render_widget(table, area);
    }
}
