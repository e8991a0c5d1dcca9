//! What the user sees while a session runs: program output, dockdap's own
//! console lines, progress steps, and the program's exit, as `Event`s sent
//! to the session through an `EventSender`.
//!
//! This is a leaf: the runtimes, sync, the session and the commands all
//! report through it, and it imports nothing of theirs. It does not speak
//! DAP (the session turns events into `output` and `progress*` events) and
//! does not decide wording beyond the note about dropped output.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// A DAP output category: where the editor shows a line, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// dockdap's own notes (`console`).
    Console,
    /// Something the user must not miss, such as a conflict (`important`).
    Important,
    /// The program's standard output (`stdout`).
    Stdout,
    /// The program's standard error, and dockdap's errors (`stderr`).
    Stderr,
}

impl Category {
    /// The category as DAP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Console => "console",
            Category::Important => "important",
            Category::Stdout => "stdout",
            Category::Stderr => "stderr",
        }
    }
}

/// Something the user should see.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Output for the debug console.
    Output {
        /// Where it goes.
        category: Category,
        /// The text, newlines included.
        text: String,
    },
    /// A step of a long operation (creating, starting, waiting).
    Progress(String),
    /// The program ended.
    Exited {
        /// Its exit code.
        code: i64,
        /// What it said last, for the diagnosis.
        diagnosis: String,
    },
}

/// How many bytes of program output may wait for the session at once. A
/// program that prints faster than the editor reads loses output beyond this
/// (and is told how much), instead of growing dockdap's memory.
pub const OUTPUT_BUDGET: usize = 4 * 1024 * 1024;

/// Sends events to the session without ever blocking the sender on output:
/// when the session falls behind (more than `OUTPUT_BUDGET` bytes or the
/// channel's capacity waiting), output is dropped and counted, and the next
/// output that gets through says how many lines were lost.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
    dropped_lines: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicUsize>,
    /// Output was dropped and the session has not yet worked off half the
    /// budget: output keeps being dropped until it has.
    behind: Arc<AtomicBool>,
}

impl EventSender {
    /// A sender and its receiver; `capacity` events may wait.
    pub fn channel(capacity: usize) -> (EventSender, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            EventSender {
                tx,
                dropped_lines: Arc::new(AtomicU64::new(0)),
                queued_bytes: Arc::new(AtomicUsize::new(0)),
                behind: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// Sends output, dropping it if the session is behind.
    ///
    /// Once output is dropped, it keeps being dropped until the session has
    /// worked off half the budget; then one notice says how many lines were
    /// lost. Without that slack, every chunk that happened to fit would
    /// carry a notice of its own, and the notices would crowd out the output.
    pub fn output(&self, category: Category, text: String) {
        let lines = u64::try_from(text.matches('\n').count().max(1)).unwrap_or(u64::MAX);
        if self.behind.load(Ordering::Relaxed) {
            if self.queued_bytes.load(Ordering::Relaxed) > OUTPUT_BUDGET / 2 {
                self.dropped_lines.fetch_add(lines, Ordering::Relaxed);
                return;
            }
            let dropped = self.dropped_lines.swap(0, Ordering::Relaxed);
            let note =
                format!("[dockdap] {dropped} lines of program output were dropped: the editor could not keep up\n");
            if !self.try_output(Category::Console, note) {
                self.dropped_lines.fetch_add(dropped.saturating_add(lines), Ordering::Relaxed);
                return;
            }
            self.behind.store(false, Ordering::Relaxed);
        }
        if !self.try_output(category, text) {
            self.dropped_lines.fetch_add(lines, Ordering::Relaxed);
            self.behind.store(true, Ordering::Relaxed);
        }
    }

    /// A line of dockdap's own in the debug console (a newline is added).
    pub fn console(&self, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        self.output(Category::Console, text);
    }

    fn try_output(&self, category: Category, text: String) -> bool {
        let len = text.len();
        if self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > OUTPUT_BUDGET {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        if self.tx.try_send(Event::Output { category, text }).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The session took `len` bytes of output off the channel.
    pub fn delivered(&self, len: usize) {
        self.queued_bytes.fetch_sub(len.min(self.queued_bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
    }

    /// Sends an event that must not be lost (progress, exit, a line the
    /// user must see); waits for room.
    pub async fn send(&self, event: Event) {
        // The session is gone if this fails, and then nobody is listening.
        let _ = self.tx.send(event).await;
    }

    /// Sends a progress step.
    pub async fn progress(&self, step: impl Into<String>) {
        self.send(Event::Progress(step.into())).await;
    }

    /// Sends a line that must not be lost (a newline is added).
    pub async fn line(&self, category: Category, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        self.send(Event::Output { category, text }).await;
    }

    /// How many lines were dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped_lines.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_beyond_the_budget_is_dropped_and_reported() {
        let (events, mut rx) = EventSender::channel(8192);
        let chunk = "x".repeat(1023) + "\n";
        let fits = OUTPUT_BUDGET / chunk.len();
        for _ in 0..fits + 10 {
            events.output(Category::Stdout, chunk.clone());
        }
        assert_eq!(events.dropped(), 10, "{fits} chunks fit the budget");
        let mut got = 0;
        while let Ok(Event::Output { text, .. }) = rx.try_recv() {
            events.delivered(text.len());
            got += 1;
        }
        assert_eq!(got, fits);
        events.output(Category::Stdout, "after\n".into());
        let Ok(Event::Output { text, category }) = rx.try_recv() else { panic!() };
        assert_eq!(category, Category::Console);
        assert_eq!(text, "[dockdap] 10 lines of program output were dropped: the editor could not keep up\n");
        let Ok(Event::Output { text, .. }) = rx.try_recv() else { panic!() };
        assert_eq!(text, "after\n");
    }

    #[tokio::test]
    async fn one_notice_per_time_the_editor_falls_behind() {
        let (events, mut rx) = EventSender::channel(8192);
        let chunk = "x".repeat(1023) + "\n";
        let fits = OUTPUT_BUDGET / chunk.len();
        for _ in 0..fits + 10 {
            events.output(Category::Stdout, chunk.clone());
        }
        // The editor takes a few chunks: room for more, but still behind.
        for _ in 0..100 {
            let Ok(Event::Output { text, .. }) = rx.try_recv() else { panic!() };
            events.delivered(text.len());
        }
        for _ in 0..50 {
            events.output(Category::Stdout, chunk.clone());
        }
        assert_eq!(events.dropped(), 60, "dropped until half the budget is worked off");
        let mut notices = 0;
        while let Ok(Event::Output { text, .. }) = rx.try_recv() {
            events.delivered(text.len());
            notices += usize::from(text.contains("were dropped"));
        }
        assert_eq!(notices, 0);
        events.output(Category::Stdout, "after\n".into());
        let Ok(Event::Output { text, .. }) = rx.try_recv() else { panic!() };
        assert_eq!(text, "[dockdap] 60 lines of program output were dropped: the editor could not keep up\n");
    }
}
