//! Files in step between the workspace and the container, without ever
//! losing an edit.
//!
//! - `guard`: whether the two folders are fit to sync at all (not a file
//!   system root, not the home folder, not far larger than an app).
//! - `names`: relative paths and the rules that refuse hostile names; the
//!   files sync ignores (`__pycache__`, `*.pyc`, `.git`, editor scratch files,
//!   dockdap's own `.container` copies).
//! - `extract`: reading archives from the container (untrusted): regular
//!   files and folders only, capped; never `unpack`.
//! - `write`: atomic writes beneath the workspace root, never through a symlink.
//! - `proof`: what shows that an archive from the container held the file
//!   at its path (one link, no symlinked folder, unchanged while read).
//! - `state`: what both sides last agreed on, and the pull / push / conflict decision.
//! - `engine`: the sync rounds and their decisions; the container is reached
//!   through the `Remote` trait only. `engine/look.rs` reads both sides,
//!   `engine/carry.rs` writes them.
//! - `remote`: the session's `Runtime` as a `Remote`.
//! - `notes`: what a round tells the user, and how loudly.
//! - `watch`: the watcher inside the container (one long-lived exec) and
//!   its output, read as untrusted input.
//! - `worker`: the session's sync task: commands, the workspace watcher, the
//!   container's watcher (or the container poll), console reports.
//!
//! **Architecture Invariant:** no workspace file is overwritten unless the
//! container changed it and the workspace did not since they last agreed
//! (or the user explicitly resolved a conflict for the container's side);
//! no container file is overwritten unless the mirror holds. A conflict
//! keeps both: the container's version goes beside the workspace file as
//! `NAME.container`.
//!
//! **Architecture Invariant:** nothing from a container archive reaches the
//! disk except through `RelPath::parse` and `write::write_beneath`.
//!
//! This module never imports Docker (bollard) nor a runtime's module; it
//! knows the container only as a `Remote`.

mod answer;
pub mod engine;
pub mod extract;
pub mod guard;
pub mod names;
pub mod notes;
pub mod proof;
pub mod remote;
pub mod state;
pub mod watch;
pub mod worker;
mod workspace_watch;
pub mod write;

#[cfg(test)]
mod tests;

pub use engine::{Directions, Remote, Side, SyncEngine, SyncReport};
pub use worker::{SavedCopies, SyncAnswer, SyncHandle, SyncSetup};
