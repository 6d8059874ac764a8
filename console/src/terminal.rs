//! The terminal: raw mode, the alternate screen and mouse capture on the way in, and always
//! the reverse on the way out — on a normal exit ([`TerminalGuard`]'s `Drop`), on an error, and
//! on a panic anywhere in the process (the hook restores the terminal, prints the panic and
//! exits, so a panicking background task cannot leave a broken screen behind).

use std::io::{self, Stdout, stdout};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// The console's terminal.
pub(crate) type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
#[derive(Debug)]
pub(crate) struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Nothing sensible is left to do if restoring fails while leaving.
        let _ = restore();
    }
}

/// Enters raw mode, the alternate screen and mouse capture, and installs the panic hook.
pub(crate) fn init() -> io::Result<(Tui, TerminalGuard)> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        previous(info);
        std::process::exit(101);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    Ok((terminal, guard))
}

/// Leaves the alternate screen and raw mode, stops mouse capture and shows the cursor.
pub(crate) fn restore() -> io::Result<()> {
    let screen = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen, Show);
    disable_raw_mode()?;
    screen
}
