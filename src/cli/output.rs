//! How the command-line helpers talk: colours, progress, and `--json`.
//!
//! - Colours only on a terminal, and never when `NO_COLOR` is set to
//!   anything (<https://no-color.org>).
//! - Progress goes to stderr: a spinner on a terminal, plain lines when
//!   stderr is a file or a pipe (CI logs, editors), so stdout carries only
//!   the report (or, with `--json`, exactly one JSON document).
//!
//! Nothing here knows about Docker or DAP.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether colour escapes may be written to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

/// Whether `NO_COLOR` asks for no colour (set and not empty).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Style {
    /// For writing to stdout.
    pub fn stdout() -> Style {
        Style { color: !no_color() && std::io::stdout().is_terminal() }
    }

    /// For writing to stderr.
    pub fn stderr() -> Style {
        Style { color: !no_color() && std::io::stderr().is_terminal() }
    }

    /// No colours at all.
    pub fn plain() -> Style {
        Style { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// Green.
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    /// Yellow.
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }
    /// Red.
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }
    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    /// Dim.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// Writes one JSON document (pretty, newline-terminated) on stdout.
pub fn print_json(value: &serde_json::Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// Writes a line on stdout.
pub fn out(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
}

/// Writes a line on stderr (never fails: there is nowhere to report it).
pub fn err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct SpinState {
    message: String,
    started: Instant,
    frame: usize,
    /// Whether a spinner line is on screen (and must be cleared before other output).
    drawn: bool,
    done: bool,
}

/// Progress of one long step on stderr: a spinner with the elapsed time on
/// a terminal, a line per new message otherwise. Dropping it clears the line.
#[derive(Debug)]
pub struct Progress {
    state: Option<Arc<Mutex<SpinState>>>,
    ticker: Option<std::thread::JoinHandle<()>>,
    last_plain: String,
    style: Style,
}

impl Progress {
    /// Starts showing `message`; a spinner only if stderr is a terminal.
    pub fn start(message: &str) -> Progress {
        Progress::new(message, std::io::stderr().is_terminal())
    }

    /// Starts showing `message`, as a spinner or as plain lines.
    pub fn new(message: &str, spinner: bool) -> Progress {
        let style = Style::stderr();
        if !spinner {
            err(&format!("{message} ..."));
            return Progress { state: None, ticker: None, last_plain: message.to_owned(), style };
        }
        let state = Arc::new(Mutex::new(SpinState {
            message: message.to_owned(),
            started: Instant::now(),
            frame: 0,
            drawn: false,
            done: false,
        }));
        let shared = Arc::clone(&state);
        // A thread, not a task: the spinner must turn while the runtime's
        // threads are busy, and it must not keep the runtime alive.
        let ticker = std::thread::Builder::new()
            .name("dockdap-progress".into())
            .spawn(move || {
                loop {
                    {
                        let Ok(mut s) = shared.lock() else { return };
                        if s.done {
                            return;
                        }
                        draw(&mut s, style);
                    }
                    std::thread::sleep(TICK);
                }
            })
            .ok();
        Progress { state: Some(state), ticker, last_plain: String::new(), style }
    }

    /// Changes the message.
    pub fn set(&mut self, message: &str) {
        match &self.state {
            Some(state) => {
                if let Ok(mut s) = state.lock() {
                    message.clone_into(&mut s.message);
                }
            }
            None => {
                if message != self.last_plain {
                    err(&format!("{message} ..."));
                    message.clone_into(&mut self.last_plain);
                }
            }
        }
    }

    /// Prints a line on stderr above the spinner.
    pub fn println(&self, line: &str) {
        self.above(|| err(line));
    }

    /// Runs `write` (which prints on stdout or stderr) with the spinner's
    /// line cleared; the spinner comes back on its next turn.
    pub fn above(&self, write: impl FnOnce()) {
        match &self.state {
            Some(state) => match state.lock() {
                Ok(mut s) => {
                    clear(&mut s);
                    write();
                }
                Err(_) => write(),
            },
            None => write(),
        }
    }

    /// Stops, and leaves `line` (if any) in the spinner's place.
    pub fn finish(mut self, line: Option<&str>) {
        self.stop();
        if let Some(line) = line {
            err(line);
        }
    }

    /// The style for stderr (what `println` lines may use).
    pub fn style(&self) -> Style {
        self.style
    }

    fn stop(&mut self) {
        if let Some(state) = &self.state
            && let Ok(mut s) = state.lock()
        {
            s.done = true;
            clear(&mut s);
        }
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.state = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn draw(s: &mut SpinState, style: Style) {
    let frame = FRAMES[s.frame % FRAMES.len()];
    s.frame += 1;
    let elapsed = s.started.elapsed().as_secs();
    let width = terminal_width().saturating_sub(12).max(20);
    let mut message = s.message.clone();
    if message.chars().count() > width {
        message = message.chars().take(width.saturating_sub(1)).collect::<String>() + "…";
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K{} {message} {}", style.green(frame), style.dim(&format!("{elapsed}s")));
    let _ = stderr.flush();
    s.drawn = true;
}

fn clear(s: &mut SpinState) {
    if s.drawn {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
        s.drawn = false;
    }
}

/// The terminal's width from `COLUMNS`, else 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&c| c > 0).unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_writes_no_escapes() {
        assert_eq!(Style::plain().red("x"), "x");
        assert_eq!(Style { color: true }.red("x"), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn progress_without_a_terminal_is_lines() {
        let mut p = Progress::new("starting", false);
        p.set("starting");
        p.set("waiting");
        assert_eq!(p.last_plain, "waiting");
        p.finish(None);
    }
}
