//! [`view`]: draws the whole screen from the [`Model`] and the lab time. Pure — no I/O, no
//! clock reads — so the same model and time always give the same frame ([`TestBackend`]
//! snapshots rely on it). Only visible rows are built, so a 10 000-call log costs no more
//! than a short one.
//!
//! [`TestBackend`]: ratatui::backend::TestBackend

use std::time::Duration;

use ekm_engine::events::CachePath;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table};
use time::OffsetDateTime;

use crate::keymap::{Section, help_entries};
use crate::model::{CacheRow, CallRow, Mode, Model, Readability, ScenarioInfo, unix_minute};
use crate::update::speed_label;

/// Where each pane is drawn; shared with mouse handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Keys pane.
    pub keys: Rect,
    /// Timers pane.
    pub timers: Rect,
    /// DEK cache pane.
    pub cache: Rect,
    /// Objects pane.
    pub objects: Rect,
    /// KMS call log.
    pub log: Rect,
    /// Sparklines.
    pub sparks: Rect,
    /// Status bar.
    pub status: Rect,
}

/// Splits the screen into panes. Taller screens give the extra rows to the call log.
pub fn layout(area: Rect) -> Areas {
    let top = if area.height >= 28 { 8 } else { 7 };
    let rest = area.height.saturating_sub(top + 1);
    let middle = (rest * 9 / 20).max(5);
    let [top_area, middle_area, bottom_area, status] = Layout::vertical([
        Constraint::Length(top),
        Constraint::Length(middle),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let [keys, timers] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
            .areas(top_area);
    let [cache, objects] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
            .areas(middle_area);
    let spark_width = if area.width >= 120 { 36 } else { 24 };
    let [log, sparks] = Layout::horizontal([Constraint::Min(40), Constraint::Length(spark_width)])
        .areas(bottom_area);
    Areas {
        keys,
        timers,
        cache,
        objects,
        log,
        sparks,
        status,
    }
}

/// Draws the console for lab time `now`.
pub fn view(model: &Model, now: OffsetDateTime, frame: &mut Frame) {
    let areas = layout(frame.area());
    keys_pane(model, frame, areas.keys);
    timers_pane(model, now, frame, areas.timers);
    cache_pane(model, now, frame, areas.cache);
    match model.lab.as_ref().and_then(|lab| lab.scenario.as_ref()) {
        Some(scenario) => scenario_pane(model, scenario, frame, areas.objects),
        None => objects_pane(model, frame, areas.objects),
    }
    log_pane(model, frame, areas.log);
    sparks_pane(model, now, frame, areas.sparks);
    status_bar(model, now, frame, areas.status);
    if model.mode == Mode::Help {
        help_overlay(frame);
    }
}

fn pane(title: impl Into<Line<'static>>, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block.border_style(Style::new().fg(Color::DarkGray))
    }
}

fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD))
}

fn placeholder(model: &Model) -> &'static str {
    if model.start_error.is_some() {
        "the lab did not start"
    } else if model.lab.is_none() {
        "starting the lab…"
    } else {
        ""
    }
}

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

fn keys_pane(model: &Model, frame: &mut Frame, area: Rect) {
    let block = pane(" Keys ", model.mode == Mode::Keys);
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

/// `23h59m`, `59m12s`, `12s`; zero for negative spans.
pub fn short_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h >= 100 {
        format!("{}d{:02}h", h / 24, h % 24)
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A text bar `width` cells wide, full when `left == total`.
fn bar(left: time::Duration, total: Duration, width: usize) -> String {
    let total = total.as_secs_f64();
    let fraction = if total > 0.0 {
        (left.as_seconds_f64() / total).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((fraction * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

fn timers_pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let block = pane(" Timers: next rotation · re-validation ", false);
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

fn cache_pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let s = model.stats;
    let title = format!(
        " DEK cache {} · hits {} · misses {} ",
        model.cache.len(),
        s.hits,
        s.misses
    );
    let block = pane(title, false);
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
        frame.render_widget(Paragraph::new(text).block(pane(" DEK cache ", false)), area);
    } else {
        frame.render_widget(table, area);
    }
}

fn objects_pane(model: &Model, frame: &mut Frame, area: Rect) {
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
    .block(pane(title, false));
    frame.render_widget(table, area);
}

fn scenario_pane(model: &Model, scenario: &ScenarioInfo, frame: &mut Frame, area: Rect) {
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
    frame.render_widget(Paragraph::new(lines).block(pane(title, true)), area);
}

fn outcome_style(outcome: &str) -> Style {
    match outcome {
        "ok" => Style::new().fg(Color::Green),
        o if o.contains("hrottl") || o.contains("EXHAUSTED") || o == "429" => {
            Style::new().fg(Color::Yellow)
        }
        _ => Style::new().fg(Color::Red).bold(),
    }
}

fn log_pane(model: &Model, frame: &mut Frame, area: Rect) {
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
    .block(pane(title, model.mode == Mode::Log));
    frame.render_widget(table, area);
}

fn lab_time(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

fn sparks_pane(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
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
        let block = pane(format!(" {title} {current} · peak {peak} "), false);
        frame.render_widget(
            Sparkline::default()
                .block(block)
                .data(&data)
                .style(Style::new().fg(colour)),
            area,
        );
    }
}

fn status_bar(model: &Model, now: OffsetDateTime, frame: &mut Frame, area: Rect) {
    let speed = match model.clock.speed {
        _ if model.clock.paused => "PAUSED".to_owned(),
        Some(speed) => speed_label(speed),
        None => "manual".to_owned(),
    };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", now.format(TIME_FORMAT).unwrap_or_default()),
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::styled(
            format!(" {speed} "),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ),
        Span::styled(
            format!(" {} ", model.mode),
            Style::new().fg(Color::Black).bg(Color::Gray),
        ),
        Span::raw(" "),
    ];
    if let Some(error) = &model.start_error {
        spans.push(Span::styled(
            error.clone(),
            Style::new().fg(Color::Red).bold(),
        ));
    } else if let Some(notice) = &model.notice {
        let style = if notice.error {
            Style::new().fg(Color::Red).bold()
        } else {
            Style::new().fg(Color::Green)
        };
        spans.push(Span::styled(notice.text.clone(), style));
    } else {
        if let Some(first) = model.first_frame {
            spans.push(Span::raw(format!("up in {:.2} s · ", first.as_secs_f64())));
        }
        spans.push(Span::styled(
            "? help  q quit  r rotate  a revoke  J +1h  Tab log",
            Style::new().fg(Color::DarkGray),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

fn help_overlay(frame: &mut Frame) {
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
        Paragraph::new(lines)
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(column(&[Section::General, Section::Key]), left);
    frame.render_widget(
        column(&[Section::Faults, Section::Time, Section::Log]),
        right,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(time::Duration::seconds(-5)), "0s");
        assert_eq!(short_duration(time::Duration::seconds(42)), "42s");
        assert_eq!(short_duration(time::Duration::seconds(3599)), "59m59s");
        assert_eq!(short_duration(time::Duration::hours(24)), "24h00m");
        assert_eq!(short_duration(time::Duration::hours(200)), "8d08h");
    }

    #[test]
    fn bars_fill_with_the_time_left() {
        let hour = Duration::from_secs(3600);
        assert_eq!(bar(time::Duration::minutes(30), hour, 4), "██░░");
        assert_eq!(bar(time::Duration::minutes(-1), hour, 3), "░░░");
        assert_eq!(bar(time::Duration::hours(2), hour, 2), "██");
    }

    #[test]
    fn the_layout_fits_small_screens() {
        for (w, h) in [(80, 24), (100, 30), (200, 60)] {
            let areas = layout(Rect::new(0, 0, w, h));
            assert_eq!(areas.status.y, h - 1);
            assert!(areas.log.height >= 6, "{w}x{h}: {areas:?}");
        }
    }
}
