//! Where debugpy runs and how to reach it: a bare address, or a container.
//!
//! The session asks this module for a connected byte stream to debugpy
//! (`start`) and, at the end, to put things back (`Target::end`). While a
//! target runs it reports what the user should see (program output, progress,
//! the program exiting) as `TargetEvent`s through an `EventSender`.
//!
//! This module does not speak DAP: it never reads or writes a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Request, SessionConfig};
use crate::container::DebugContainer;
use crate::error::Error;
use crate::transport::{self, BoxRead, BoxWrite};

/// Something the user should see, reported by a running target.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetEvent {
    /// Program output (`category` is a DAP output category: `stdout`, `stderr`, `console`).
    Output {
        /// DAP output category.
        category: &'static str,
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

/// Sends target events to the session without ever blocking the target:
/// when the session falls behind, output is dropped and counted, and the next
/// output that gets through says how much was lost.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<TargetEvent>,
    dropped: Arc<AtomicU64>,
}

impl EventSender {
    /// A sender and its receiver; `capacity` events may wait.
    pub fn channel(capacity: usize) -> (EventSender, mpsc::Receiver<TargetEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        (EventSender { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    /// Sends program output, dropping it if the session is behind.
    pub fn output(&self, category: &'static str, text: String) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = TargetEvent::Output {
                category: "console",
                text: format!(
                    "[dockdap] {dropped} lines of program output were dropped: the editor could not keep up\n"
                ),
            };
            if self.tx.try_send(note).is_err() {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        if self.tx.try_send(TargetEvent::Output { category, text }).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends an event that must not be lost (progress, exit); waits for room.
    pub async fn send(&self, event: TargetEvent) {
        // The session is gone if this fails, and then nobody is listening.
        let _ = self.tx.send(event).await;
    }

    /// How many outputs were dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A connected debugpy and the target it runs in.
pub struct Connected {
    /// Reads from debugpy.
    pub reader: BoxRead,
    /// Writes to debugpy.
    pub writer: BoxWrite,
    /// What to put back at the end.
    pub target: Target,
}

/// What a session is attached to.
#[derive(Debug)]
pub enum Target {
    /// A debugpy at an address; nothing to clean up.
    Address(String),
    /// A container, started by dockdap or joined.
    Container(Box<DebugContainer>),
}

impl Target {
    /// Says, in a line for the debug console, what the session is attached to.
    pub fn describe(&self) -> String {
        match self {
            Target::Address(addr) => format!("debugpy at {addr}"),
            Target::Container(c) => format!("debugpy in container {} (via {})", c.name, c.debug_addr),
        }
    }

    /// The container, if the target is one.
    pub fn container(&self) -> Option<&DebugContainer> {
        match self {
            Target::Container(c) => Some(c),
            Target::Address(_) => None,
        }
    }

    /// A handle on the container's files and snapshots, if the target is a container.
    pub fn container_ref(&self) -> Option<crate::container::ContainerRef> {
        self.container().map(DebugContainer::reference)
    }

    /// The program's exit code, if it is known to have exited.
    pub fn exit_code(&self) -> Option<i64> {
        self.container().and_then(|c| c.exit_code())
    }

    /// Puts back what the session changed (stops and removes a container it started).
    pub async fn end(self) {
        match self {
            Target::Address(_) => {}
            Target::Container(c) => c.end().await,
        }
    }
}

/// A short random id for a session, used in labels and container names.
pub fn new_session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}

/// Brings the target up and connects to its debugpy. Cancelling `cancel`
/// aborts the start and removes whatever was created.
pub async fn start(config: &SessionConfig, events: EventSender, cancel: CancellationToken) -> Result<Connected, Error> {
    let deadline = Instant::now() + Duration::from_secs_f64(config.timeout().max(0.0));
    let target = match &config.request {
        Request::Attach(attach) => match (&attach.connect, &attach.container) {
            (Some(connect), _) => Target::Address(format!("{}:{}", connect.host, connect.port)),
            (None, Some(name)) => {
                events.send(TargetEvent::Progress(format!("joining container {name}"))).await;
                Target::Container(Box::new(
                    DebugContainer::join(name, attach.debug_port, attach.timeout, &events).await?,
                ))
            }
            (None, None) => return Err(Error::Unsupported("nothing to attach to".into())),
        },
        Request::Launch(launch) => {
            let session_id = new_session_id();
            Target::Container(Box::new(DebugContainer::launch(launch, &session_id, &events, &cancel).await?))
        }
    };
    let addr = match &target {
        Target::Address(addr) => addr.clone(),
        Target::Container(c) => c.debug_addr.clone(),
    };
    events.send(TargetEvent::Progress(format!("connecting to debugpy at {addr}"))).await;
    let connected = tokio::select! {
        r = transport::connect_with_retry(&addr, deadline.max(Instant::now() + Duration::from_secs(5))) => r,
        () = cancel.cancelled() => {
            target.end().await;
            return Err(Error::Cancelled);
        }
    };
    match connected {
        Ok(stream) => {
            let (reader, writer) = transport::split_tcp(stream);
            Ok(Connected { reader, writer, target })
        }
        Err(source) => {
            target.end().await;
            Err(Error::Connect { addr, secs: config.timeout(), source })
        }
    }
}
