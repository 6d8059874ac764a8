//! The Timers pane: per registered cloud, bars for the active DEK's next rotation and its
//! re-validation, and when the next decrypt-cache entry expires.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use time::OffsetDateTime;

use ekm_engine::events::CachePath;

use super::text::{bar, short_duration};
use super::{bordered, placeholder};
use crate::model::{CacheRow, Model};

pub(super) fn pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let block = bordered(" Timers: next rotation · re-validation ", false);
    let Some(lab) = &model.lab else {
        frame.render_widget(Paragraph::new(placeholder(model)).block(block), area);
        return;
    };
    let inner = usize::from(area.width.saturating_sub(2));
    let bar_width = inner.saturating_sub(6 + 2 * 8).max(2) / 2;
    let mut lines = Vec::new();
    for project in &model.projects {
        let active = model.cache.iter().find(|e| {
            e.path == CachePath::Encrypt && e.project == project.project && e.kek == project.key
        });
        let mut spans = vec![Span::raw(format!("{:<6}", project.cloud.as_str()))];
        match active {
            Some(entry) => {
                let rotation = entry
                    .next_rotation
                    .map_or(time::Duration::ZERO, |t| t - now);
                let revalidation = entry.expires_at - now;
                spans.push(Span::styled(
                    bar(rotation, lab.dek_rotation, bar_width),
                    Style::new().fg(Color::Blue),
                ));
                spans.push(Span::raw(format!(" {:>6} ", short_duration(rotation))));
                let colour = if revalidation <= time::Duration::ZERO {
                    Color::Red
                } else if revalidation.as_seconds_f64() < lab.revalidate_after.as_secs_f64() / 4.0 {
                    Color::Yellow
                } else {
                    Color::Green
                };
                spans.push(Span::styled(
                    bar(revalidation, lab.revalidate_after, bar_width),
                    Style::new().fg(colour),
                ));
                spans.push(Span::raw(format!(" {:>6}", short_duration(revalidation))));
            }
            None => spans.push(Span::styled(
                "no active DEK",
                Style::new().fg(Color::DarkGray),
            )),
        }
        lines.push(Line::from(spans));
        let decrypt: Vec<&CacheRow> = model
            .cache
            .iter()
            .filter(|e| e.path == CachePath::Decrypt && e.project == project.project)
            .collect();
        if let Some(next) = decrypt
            .iter()
            .map(|e| e.expires_at)
            .filter(|t| *t > now)
            .min()
        {
            lines.push(Line::styled(
                format!(
                    "      {} decrypt DEK(s) · expiry {}",
                    decrypt.len(),
                    short_duration(next - now)
                ),
                Style::new().fg(Color::DarkGray),
            ));
        }
    }
    let height = usize::from(area.height.saturating_sub(2));
    if lines.len() > height {
        lines.retain(|l| l.style.fg != Some(Color::DarkGray));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
