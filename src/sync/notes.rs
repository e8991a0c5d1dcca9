//! What a sync round tells the user besides the files it copied: refusals,
//! deletions, problems, and conflicts, each with how loudly to say it.
//!
//! The worker picks the debug console category from `Note::kind`, never
//! from the wording.

use std::ops::Index;

use crate::console::Category;

/// How a note is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// An ordinary line in the debug console.
    Info,
    /// Both sides changed a file: the user must act.
    Conflict,
}

/// One line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// How loudly.
    pub kind: NoteKind,
    /// The text, without dockdap's prefix.
    pub text: String,
}

impl Note {
    /// A conflict: shown as `important`.
    pub fn conflict(text: String) -> Note {
        Note { kind: NoteKind::Conflict, text }
    }

    /// The debug console category for it.
    pub fn category(&self) -> Category {
        match self.kind {
            NoteKind::Info => Category::Console,
            NoteKind::Conflict => Category::Important,
        }
    }
}

impl From<String> for Note {
    fn from(text: String) -> Note {
        Note { kind: NoteKind::Info, text }
    }
}

/// The notes of a round, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes(Vec<Note>);

impl Notes {
    /// Adds a note (a `String` is an ordinary one).
    pub fn push(&mut self, note: impl Into<Note>) {
        self.0.push(note.into());
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The texts.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|n| n.text.as_str())
    }

    /// The notes with their kinds.
    pub fn entries(&self) -> &[Note] {
        &self.0
    }
}

impl Index<usize> for Notes {
    type Output = str;

    fn index(&self, index: usize) -> &str {
        &self.0[index].text
    }
}

impl<T: Into<Note>> Extend<T> for Notes {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(Into::into));
    }
}

impl IntoIterator for Notes {
    type Item = Note;
    type IntoIter = std::vec::IntoIter<Note>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
