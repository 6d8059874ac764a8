//! [`view`]: draws the whole screen from the [`Model`] and the lab time. Pure — no I/O, no
//! clock reads — so the same model and time always give the same frame ([`TestBackend`]
//! snapshots rely on it). Only visible rows are built, so a 10 000-call log costs no more
//! than a short one.
//!
//! [`TestBackend`]: ratatui::backend::TestBackend

//!
//! # Layout
//!
//! One file per pane — [`keys`], [`timers`], [`cache`], [`objects`], [`scenario`], [`log`],
//! [`sparks`], [`status`], [`help`], the story screen [`story`] — and [`text`], how lab facts are written on screen
//! (durations, speeds, key ids, error classes), shared with the reducer's notices.

mod cache;
mod help;
mod keys;
mod log;
mod objects;
mod scenario;
mod sparks;
mod status;
mod story;
pub mod text;
mod timers;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row};
use time::OffsetDateTime;

use crate::model::{Mode, Model};

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

/// How many calls one page of the call log shows on the model's screen.
pub fn log_rows(model: &Model) -> usize {
    let area = match model.story() {
        Some(_) => story::log_area(model, model.screen).unwrap_or_default(),
        None => layout(model.screen).log,
    };
    usize::from(area.height.saturating_sub(3)).max(1)
}

/// How many lines one page of the help overlay shows on the model's screen.
pub fn help_rows(model: &Model) -> usize {
    help::Help::new(model, model.screen).rows()
}

/// How far down the help overlay scrolls on the model's screen.
pub fn help_max_scroll(model: &Model) -> usize {
    help::Help::new(model, model.screen).max_scroll()
}

/// Draws the console for lab time `now`.
pub fn view(model: &Model, now: OffsetDateTime, frame: &mut Frame) {
    if let Some(info) = model.story() {
        story::draw(model, info, now, frame);
        if model.mode == Mode::Help {
            help::overlay(model, frame);
        }
        return;
    }
    let areas = layout(frame.area());
    keys::pane(model, frame, areas.keys);
    timers::pane(model, now, frame, areas.timers);
    cache::pane(model, now, frame, areas.cache);
    match model.lab.as_ref().and_then(|lab| lab.scenario.as_ref()) {
        Some(scenario) => scenario::pane(model, scenario, frame, areas.objects),
        None => objects::pane(model, frame, areas.objects),
    }
    log::pane(model, frame, areas.log);
    sparks::pane(model, now, frame, areas.sparks);
    status::bar(model, now, frame, areas.status);
    if model.mode == Mode::Help {
        help::overlay(model, frame);
    }
}

/// A pane's bordered block, cyan when focused.
fn bordered(title: impl Into<Line<'static>>, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block.border_style(Style::new().fg(Color::DarkGray))
    }
}

/// A bold table header row.
fn header(cells: &[&'static str]) -> Row<'static> {
    Row::new(cells.iter().copied()).style(Style::new().add_modifier(Modifier::BOLD))
}

/// What an empty pane says before the lab is up.
fn placeholder(model: &Model) -> &'static str {
    if model.start_error.is_some() {
        "the lab did not start"
    } else if model.lab.is_none() {
        "starting the lab…"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_fits_small_screens() {
        for (w, h) in [(80, 24), (100, 30), (200, 60)] {
            let areas = layout(Rect::new(0, 0, w, h));
            assert_eq!(areas.status.y, h - 1);
            assert!(areas.log.height >= 6, "{w}x{h}: {areas:?}");
        }
    }
}
