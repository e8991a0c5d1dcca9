//! Where debugpy runs and how to reach it: a bare address, or a container.
//!
//! The session asks this module for a connected byte stream to debugpy
//! (`start`) and, at the end, to put things back (`Target::end`). While a
//! target runs it reports what the user should see (program output, progress,
//! the program exiting) as `TargetEvent`s through an `EventSender`.
//!
//! This module does not speak DAP: it never reads or writes a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// How many bytes of program output may wait for the session at once. A
/// program that prints faster than the editor reads loses output beyond this
/// (and is told how much), instead of growing dockdap's memory.
pub const OUTPUT_BUDGET: usize = 4 * 1024 * 1024;

/// Sends target events to the session without ever blocking the target:
/// when the session falls behind (more than `OUTPUT_BUDGET` bytes or the
/// channel's capacity waiting), output is dropped and counted, and the next
/// output that gets through says how many lines were lost.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<TargetEvent>,
    dropped_lines: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicUsize>,
}

impl EventSender {
    /// A sender and its receiver; `capacity` events may wait.
    pub fn channel(capacity: usize) -> (EventSender, mpsc::Receiver<TargetEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            EventSender { tx, dropped_lines: Arc::new(AtomicU64::new(0)), queued_bytes: Arc::new(AtomicUsize::new(0)) },
            rx,
        )
    }

    /// Sends program output, dropping it if the session is behind.
    pub fn output(&self, category: &'static str, text: String) {
        let dropped = self.dropped_lines.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note =
                format!("[dockdap] {dropped} lines of program output were dropped: the editor could not keep up\n");
            if !self.try_output("console", note) {
                self.dropped_lines.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        let lines = text.matches('\n').count().max(1) as u64;
        if !self.try_output(category, text) {
            self.dropped_lines.fetch_add(lines, Ordering::Relaxed);
        }
    }

    fn try_output(&self, category: &'static str, text: String) -> bool {
        let len = text.len();
        if self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > OUTPUT_BUDGET {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        if self.tx.try_send(TargetEvent::Output { category, text }).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The session took `len` bytes of output off the channel.
    pub fn delivered(&self, len: usize) {
        self.queued_bytes.fetch_sub(len.min(self.queued_bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
    }

    /// Sends an event that must not be lost (progress, exit); waits for room.
    pub async fn send(&self, event: TargetEvent) {
        // The session is gone if this fails, and then nobody is listening.
        let _ = self.tx.send(event).await;
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
            events.output("stdout", chunk.clone());
        }
        assert_eq!(events.dropped(), 10, "{fits} chunks fit the budget");
        let mut got = 0;
        while let Ok(TargetEvent::Output { text, .. }) = rx.try_recv() {
            events.delivered(text.len());
            got += 1;
        }
        assert_eq!(got, fits);
        events.output("stdout", "after\n".into());
        let Ok(TargetEvent::Output { text, .. }) = rx.try_recv() else { panic!() };
        assert_eq!(text, "[dockdap] 10 lines of program output were dropped: the editor could not keep up\n");
        let Ok(TargetEvent::Output { text, .. }) = rx.try_recv() else { panic!() };
        assert_eq!(text, "after\n");
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
    /// Arguments debugpy's `attach` needs for this connection (e.g. `listen`
    /// for an adapter dockdap runs in the container).
    pub attach: serde_json::Map<String, serde_json::Value>,
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

    /// Opens another stream to a debugpy at `host:port` as the target sees
    /// it (a subprocess's adapter port inside the container).
    pub async fn connect_child(&self, host: &str, port: u16) -> Result<(BoxRead, BoxWrite), String> {
        match self {
            Target::Address(_) => {
                let addr = format!("{host}:{port}");
                let deadline = Instant::now() + Duration::from_secs(10);
                let stream = transport::connect_with_retry(&addr, deadline)
                    .await
                    .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                Ok(transport::split_tcp(stream))
            }
            Target::Container(c) => c.connect_port(port).await.map_err(|e| e.to_string()),
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

    /// Puts back what the session changed (stops and removes a container it
    /// started); the error is for the user.
    pub async fn end(self) -> Result<(), String> {
        match self {
            Target::Address(_) => Ok(()),
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
                    DebugContainer::join(name, attach.debug_port, attach.transport, attach.timeout, &events).await?,
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
    events.send(TargetEvent::Progress(format!("connecting to debugpy ({addr})"))).await;
    let deadline = deadline.max(Instant::now() + Duration::from_secs(5));
    let connected = tokio::select! {
        r = connect(&target, &addr, deadline, config.timeout()) => r,
        () = cancel.cancelled() => {
            let _ = target.end().await;
            return Err(Error::Cancelled);
        }
    };
    match connected {
        Ok((reader, writer, attach)) => Ok(Connected { reader, writer, target, attach }),
        Err(e) => {
            let _ = target.end().await;
            Err(e)
        }
    }
}

type Stream = (BoxRead, BoxWrite, serde_json::Map<String, serde_json::Value>);

/// Opens the stream to debugpy for a target.
async fn connect(target: &Target, addr: &str, deadline: Instant, secs: f64) -> Result<Stream, Error> {
    match target {
        Target::Address(_) => {
            let stream = transport::connect_with_retry(addr, deadline).await.map_err(|source| Error::Connect {
                addr: addr.to_owned(),
                secs,
                source,
            })?;
            let (reader, writer) = transport::split_tcp(stream);
            Ok((reader, writer, serde_json::Map::new()))
        }
        Target::Container(c) => {
            let stream = c.connect(deadline).await?;
            Ok((stream.reader, stream.writer, stream.attach))
        }
    }
}
