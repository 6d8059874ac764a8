//! The help overlay, drawn from the key table ([`crate::keymap::BINDINGS`]): two columns on
//! wide screens, one on narrow ones. A long entry wraps under its own text, so the keys keep
//! their column; when the bindings do not fit (an 80×24 terminal), the overlay scrolls
//! (j/k, ↑/↓, PgUp/PgDn) and its bottom border says which lines are shown.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::keymap::{Section, help_entries};
use crate::model::{Mode, Model};

/// Width of the keys column: ` q Ctrl-c ` and the like.
const KEYS_WIDTH: usize = 10;

/// The inner width from which the bindings are shown in two columns.
const TWO_COLUMNS: u16 = 90;

/// The overlay for one screen: where it goes and its lines, per column.
pub(super) struct Help {
    popup: Rect,
    inner: Rect,
    columns: Vec<(Rect, Vec<Line<'static>>)>,
}

impl Help {
    /// Lays out the help for the mode it was opened from on a screen of `area`: story keys in
    /// story mode; key, fault and time keys otherwise.
    pub(super) fn new(model: &Model, area: Rect) -> Self {
        let (first, second): (&[Section], &[Section]) = if model.help_return == Mode::Story {
            (&[Section::General, Section::Story], &[Section::Log])
        } else {
            (
                &[Section::General, Section::Key],
                &[Section::Faults, Section::Time, Section::Log],
            )
        };
        let width = area.width.saturating_sub(4).min(100);
        let inner_width = width.saturating_sub(2);
        let widths: Vec<(u16, Vec<Section>)> = if inner_width >= TWO_COLUMNS {
            let half = inner_width / 2;
            vec![
                (half, first.to_vec()),
                (inner_width - half, second.to_vec()),
            ]
        } else {
            vec![(inner_width, [first, second].concat())]
        };
        let texts: Vec<(u16, Vec<Line<'static>>)> = widths
            .into_iter()
            .map(|(w, sections)| (w, lines(&sections, usize::from(w))))
            .collect();
        let tallest = texts.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        let wanted = u16::try_from(tallest).unwrap_or(u16::MAX).saturating_add(2);
        let height = wanted.min(area.height.saturating_sub(2));
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        let inner = Block::bordered().inner(popup);
        let mut x = inner.x;
        let columns = texts
            .into_iter()
            .map(|(w, lines)| {
                let column = Rect {
                    x,
                    width: w,
                    ..inner
                };
                x += w;
                (column, lines)
            })
            .collect();
        Self {
            popup,
            inner,
            columns,
        }
    }

    /// Lines one page shows.
    pub(super) fn rows(&self) -> usize {
        usize::from(self.inner.height).max(1)
    }

    fn total(&self) -> usize {
        self.columns.iter().map(|(_, l)| l.len()).max().unwrap_or(0)
    }

    /// How far down the overlay scrolls: 0 when everything fits.
    pub(super) fn max_scroll(&self) -> usize {
        self.total().saturating_sub(self.rows())
    }

    /// Draws the overlay scrolled down `scroll` lines (kept within [`Help::max_scroll`]).
    fn draw(self, scroll: usize, frame: &mut Frame) {
        let scroll = scroll.min(self.max_scroll());
        let mut block = Block::bordered()
            .title(" Key bindings (? or Esc to close) ")
            .border_style(Style::new().fg(Color::Cyan));
        if self.max_scroll() > 0 {
            let last = (scroll + self.rows()).min(self.total());
            block = block.title_bottom(format!(
                " lines {}–{last} of {} · j/k PgUp/PgDn scroll ",
                scroll + 1,
                self.total()
            ));
        }
        frame.render_widget(Clear, self.popup);
        frame.render_widget(block, self.popup);
        let offset = u16::try_from(scroll).unwrap_or(u16::MAX);
        for (area, lines) in self.columns {
            frame.render_widget(Paragraph::new(lines).scroll((offset, 0)), area);
        }
    }
}

/// Draws the help for the mode it was opened from, scrolled as the model says.
pub(super) fn overlay(model: &Model, frame: &mut Frame) {
    Help::new(model, frame.area()).draw(model.help_scroll, frame);
}

/// The lines of `sections` in a column `width` wide: each section's title, then its bindings,
/// their text wrapped under itself.
fn lines(sections: &[Section], width: usize) -> Vec<Line<'static>> {
    let entries = help_entries();
    let text_width = width.saturating_sub(KEYS_WIDTH).max(8);
    let mut lines = Vec::new();
    for section in sections {
        lines.push(Line::styled(
            section.title(),
            Style::new().bold().fg(Color::Yellow),
        ));
        for (_, keys, help) in entries.iter().filter(|(s, _, _)| s == section) {
            for (i, text) in wrap(help, text_width).into_iter().enumerate() {
                let lead = if i == 0 {
                    Span::styled(
                        format!(" {keys:<w$}", w = KEYS_WIDTH - 1),
                        Style::new().fg(Color::Cyan),
                    )
                } else {
                    Span::raw(" ".repeat(KEYS_WIDTH))
                };
                lines.push(Line::from(vec![lead, Span::raw(text)]));
            }
        }
    }
    lines
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word is a line
/// of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_long_words_keep_a_line() {
        assert_eq!(
            wrap("rotate (new version, old data readable)", 16),
            ["rotate (new", "version, old", "data readable)"]
        );
        assert_eq!(
            wrap("supercalifragilistic x", 5),
            ["supercalifragilistic", "x"]
        );
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn the_help_scrolls_on_a_small_screen_and_fits_on_a_large_one() {
        let model = Model::new(10, Some(60.0));
        let small = Help::new(&model, Rect::new(0, 0, 80, 24));
        assert_eq!(small.columns.len(), 1);
        assert!(
            small.max_scroll() > 0,
            "80×24 cannot show every binding at once"
        );
        assert_eq!(small.rows() + small.max_scroll(), small.total());
        let large = Help::new(&model, Rect::new(0, 0, 160, 45));
        assert_eq!(large.columns.len(), 2);
        assert_eq!(large.max_scroll(), 0);
        for (area, _) in small.columns.iter().chain(&large.columns) {
            assert!(area.right() <= 160 && area.bottom() <= 45);
        }
    }
}
