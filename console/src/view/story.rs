//! The story screen (`ekm demo`, `ekm play`): the narration of the next beat, the pinned
//! objects — one row per cloud, rotated keys on the left and revoked keys on the right — a
//! timeline strip of lab time, key events and cached-DEK expiries, then the call log (and the
//! step list on wide screens).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use time::OffsetDateTime;

use super::text::short_duration;
use super::{bordered, header, log, scenario, status};
use crate::model::{Model, ScenarioInfo};
use crate::story::{Column, Pinned, Readable};

/// Where each part of the story screen goes.
struct StoryAreas {
    narration: Rect,
    table: Rect,
    timeline: Rect,
    /// The call log, when there is room for one.
    log: Option<Rect>,
    /// The steps and their checks, beside the log on wide screens.
    steps: Option<Rect>,
    status: Rect,
}

/// Splits `area`: the narration (tall before the first beat), the objects table (once the story
/// has started), the timeline, the call log (with the steps beside it when wide) and the status.
fn story_layout(model: &Model, area: Rect) -> StoryAreas {
    let started = !model.played.is_empty();
    let rows = table_lines(&model.pinned);
    let narration = if started {
        if area.height >= 40 { 6 } else { 4 }
    } else {
        area.height.saturating_sub(1 + 4 + 6).max(4)
    };
    let table = if started { 3 + 2 * rows } else { 0 };
    let [narration, table, timeline, bottom, status] = Layout::vertical([
        Constraint::Length(narration),
        Constraint::Length(table),
        Constraint::Length(4),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let (log, steps) = if bottom.height < 4 {
        (None, None)
    } else if bottom.width >= 120 {
        let [log, steps] =
            Layout::horizontal([Constraint::Min(60), Constraint::Length(56)]).areas(bottom);
        (Some(log), Some(steps))
    } else {
        (Some(bottom), None)
    };
    StoryAreas {
        narration,
        table,
        timeline,
        log,
        steps,
        status,
    }
}

/// Where the story screen draws the call log on `area`, if anywhere.
pub(super) fn log_area(model: &Model, area: Rect) -> Option<Rect> {
    story_layout(model, area).log
}

/// Draws the story screen for lab time `now`.
pub(super) fn draw(model: &Model, info: &ScenarioInfo, now: OffsetDateTime, frame: &mut Frame) {
    let areas = story_layout(model, frame.area());
    narration_pane(model, info, frame, areas.narration);
    if !model.played.is_empty() {
        objects_table(model, now, frame, areas.table);
    }
    timeline(model, info, now, frame, areas.timeline);
    if let Some(log_area) = areas.log {
        log::pane(model, frame, log_area);
    }
    if let Some(steps) = areas.steps {
        scenario::pane(model, info, frame, steps);
    }
    status::bar(model, now, frame, areas.status);
}

/// Table lines: per cloud, the longer of its two columns.
fn table_lines(pinned: &[Pinned]) -> u16 {
    let mut lines = 0;
    for cloud in ekm_engine::registration::Cloud::ALL {
        let count = |column| {
            pinned
                .iter()
                .filter(|p| p.cloud == cloud && p.column == column)
                .count()
        };
        lines += count(Column::Rotated).max(count(Column::Revoked));
    }
    u16::try_from(lines).unwrap_or(u16::MAX).max(1)
}

fn narration_pane(model: &Model, info: &ScenarioInfo, frame: &mut Frame, area: Rect) {
    let next = info.next_beat(model.played.len());
    let total = info.beats.len();
    let title = format!(" {} · beat {}/{total} ", info.name, next.min(total));
    let mut lines = Vec::new();
    if model.played.is_empty() && !info.description.is_empty() {
        lines.push(Line::raw(info.description.replace('\n', " ")));
        lines.push(Line::raw(""));
    }
    let bold = Style::new().add_modifier(Modifier::BOLD);
    match info.beats.get(next) {
        _ if model.stepping => lines.push(Line::styled("playing…", bold.fg(Color::Yellow))),
        Some(beat) => {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("Next ({}/{total}): ", next + 1),
                    bold.fg(Color::Cyan),
                ),
                Span::styled(beat.narration.clone(), bold),
            ]));
            lines.push(Line::styled(
                format!("  n plays: {}", beat.actions.join("; ")),
                Style::new().fg(Color::DarkGray),
            ));
        }
        None => lines.push(Line::styled(
            "The story is over — b goes back a beat, R restarts, q quits.",
            bold.fg(Color::Green),
        )),
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: true })
            .block(bordered(title, true)),
        area,
    );
}

fn cell(object: Option<&Pinned>, now: OffsetDateTime) -> Cell<'static> {
    let Some(object) = object else {
        return Cell::from("");
    };
    let (status, style) = match &object.readable {
        Readable::NotSealed => (
            "· not sealed yet".to_owned(),
            Style::new().fg(Color::DarkGray),
        ),
        Readable::Yes => ("✓ readable".to_owned(), Style::new().fg(Color::Green)),
        Readable::FromCache(until) => (
            format!("⏳ from cache {}", short_duration(*until - now)),
            Style::new().fg(Color::Yellow).bold(),
        ),
        Readable::Shredded(why) => (format!("✗ {why}"), Style::new().fg(Color::Red).bold()),
    };
    let version = object.version.as_deref().unwrap_or("—");
    Cell::from(Text::from(vec![
        Line::from(vec![
            Span::styled(status, style),
            Span::raw(format!("  {}", object.name)),
        ]),
        Line::from(vec![
            Span::raw(format!("  {} {version}", object.key)),
            Span::styled(
                format!(" · key {}", object.key_now),
                Style::new().fg(Color::DarkGray),
            ),
        ]),
    ]))
}

fn objects_table(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let mut rows = Vec::new();
    for cloud in ekm_engine::registration::Cloud::ALL {
        let of = |column| -> Vec<&Pinned> {
            model
                .pinned
                .iter()
                .filter(|p| p.cloud == cloud && p.column == column)
                .collect()
        };
        let (left, right) = (of(Column::Rotated), of(Column::Revoked));
        for i in 0..left.len().max(right.len()) {
            let label = if i == 0 { cloud.as_str() } else { "" };
            rows.push(
                Row::new([
                    Cell::from(label),
                    cell(left.get(i).copied(), now),
                    cell(right.get(i).copied(), now),
                ])
                .height(2),
            );
        }
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ],
    )
    .header(header(&[
        "cloud",
        "rotated (or untouched) key",
        "revoked key",
    ]))
    .block(bordered(" The same object under each key ", false));
    frame.render_widget(table, area);
}

fn timeline(
    model: &Model,
    info: &ScenarioInfo,
    now: OffsetDateTime,
    frame: &mut Frame,
    area: Rect,
) {
    let since = |t: OffsetDateTime| (t - info.start).max(time::Duration::ZERO);
    let now_at = since(now);
    let mut marks: Vec<(time::Duration, String, char, Color)> = Vec::new();
    for (i, step) in model.played.iter().enumerate() {
        if info.key_events.get(i).copied().unwrap_or(false) {
            let at = time::Duration::try_from(step.at).unwrap_or_default();
            let action = info.steps.get(i).cloned().unwrap_or_default();
            marks.push((at, action, '┃', Color::Yellow));
        }
    }
    let mut expiries: Vec<OffsetDateTime> =
        model.pinned.iter().filter_map(|p| p.cached_until).collect();
    expiries.sort();
    expiries.dedup();
    for until in expiries {
        let count = model
            .pinned
            .iter()
            .filter(|p| p.cached_until == Some(until))
            .count();
        marks.push((
            since(until),
            format!("{count} cached DEK(s) expire"),
            '✕',
            Color::Red,
        ));
    }
    marks.sort_by_key(|m| m.0);
    let width = usize::from(area.width.saturating_sub(2)).max(10);
    let horizon: time::Duration = marks
        .iter()
        .map(|m| m.0)
        .chain([now_at])
        .max()
        .unwrap_or_default()
        .max(time::Duration::minutes(10))
        * 1.1_f64;
    let column = |at: time::Duration| {
        let fraction = (at.as_seconds_f64() / horizon.as_seconds_f64()).clamp(0.0, 1.0);
        ((fraction * (width - 1) as f64).round() as usize).min(width - 1)
    };
    let mut axis: Vec<(char, Style)> = vec![('─', Style::new().fg(Color::DarkGray)); width];
    for (at, _, mark, colour) in &marks {
        axis[column(*at)] = (*mark, Style::new().fg(*colour).bold());
    }
    axis[column(now_at)] = ('●', Style::new().fg(Color::Cyan).bold());
    let axis = Line::from(
        axis.into_iter()
            .map(|(c, style)| Span::styled(c.to_string(), style))
            .collect::<Vec<_>>(),
    );
    let mut legend = vec![Span::styled(
        format!("● now +{}", short_duration(now_at)),
        Style::new().fg(Color::Cyan),
    )];
    let mut grouped: Vec<(time::Duration, char, Color, Vec<String>)> = Vec::new();
    for (at, what, mark, colour) in marks {
        match grouped.last_mut() {
            Some(last) if last.0 == at && last.1 == mark => last.3.push(what),
            _ => grouped.push((at, mark, colour, vec![what])),
        }
    }
    for (at, mark, colour, what) in grouped {
        legend.push(Span::raw("  "));
        legend.push(Span::styled(
            format!("{mark} +{} {}", short_duration(at), what.join(", ")),
            Style::new().fg(colour),
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![axis, Line::from(legend)])
            .block(bordered(" Timeline: lab time since the start ", false)),
        area,
    );
}
