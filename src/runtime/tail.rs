//! The last lines a program printed, kept for the diagnosis when it dies and
//! for `dockdap/logs`. Runtimes push what they stream to the session into
//! it; this module keeps text and nothing else.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many lines the tail keeps.
const TAIL_LINES: usize = 200;
/// How many bytes the tail keeps at most.
const TAIL_BYTES: usize = 64 * 1024;

/// The last lines a container printed, shared between the pump and readers.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    inner: Arc<Mutex<TailInner>>,
}

#[derive(Debug, Default)]
struct TailInner {
    lines: VecDeque<String>,
    bytes: usize,
    /// A line not yet ended by a newline.
    partial: String,
}

impl LogTail {
    /// Adds output (which may end mid-line).
    pub fn push(&self, text: &str) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let mut text = std::mem::take(&mut inner.partial) + text;
        while let Some(i) = text.find('\n') {
            let line: String = text.drain(..=i).collect();
            inner.bytes += line.len();
            inner.lines.push_back(line.trim_end_matches(['\n', '\r']).to_owned());
            while inner.lines.len() > TAIL_LINES || inner.bytes > TAIL_BYTES {
                match inner.lines.pop_front() {
                    Some(old) => inner.bytes = inner.bytes.saturating_sub(old.len() + 1),
                    None => break,
                }
            }
        }
        inner.partial = text;
    }

    /// The last `n` lines (the unfinished one included), joined.
    pub fn last(&self, n: usize) -> String {
        let Ok(inner) = self.inner.lock() else { return String::new() };
        let mut lines: Vec<&str> = inner.lines.iter().map(String::as_str).collect();
        if !inner.partial.is_empty() {
            lines.push(&inner.partial);
        }
        let start = lines.len().saturating_sub(n);
        lines[start..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_across_chunks() {
        let tail = LogTail::default();
        tail.push("a\nb");
        tail.push("c\nd\n");
        tail.push("e");
        assert_eq!(tail.last(2), "d\ne");
        assert_eq!(tail.last(10), "a\nbc\nd\ne");
        for i in 0..1000 {
            tail.push(&format!("line {i}\n"));
        }
        // The unfinished "e" became the start of the next line.
        assert_eq!(tail.last(2), "line 998\nline 999");
        assert!(!tail.last(TAIL_LINES + 5).contains("eline 0"), "the oldest lines are dropped");
        let inner = tail.inner.lock().unwrap();
        assert!(inner.lines.len() <= TAIL_LINES);
    }
}
