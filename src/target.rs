//! Where debugpy runs and how to reach it: a bare address, or a container.
//!
//! The session asks this module for a connected byte stream to debugpy
//! (`start`) and, at the end, to put things back (`Target::end`). While a
//! target runs it reports what the user should see (program output, progress,
//! the program exiting) as `TargetEvent`s through an `EventSender`.
//!
//! This module does not speak DAP: it never reads or writes a message.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Request, SessionConfig};
use crate::console::{Event, EventSender};
use crate::container::DebugContainer;
use crate::error::Error;
use crate::transport::{self, BoxRead, BoxWrite};

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

/// Brings the target up and connects to its debugpy. Cancelling `cancel`
/// aborts the start and removes whatever was created.
pub async fn start(config: &SessionConfig, events: EventSender, cancel: CancellationToken) -> Result<Connected, Error> {
    let deadline = Instant::now() + Duration::from_secs_f64(config.timeout().max(0.0));
    let target = match &config.request {
        Request::Attach(attach) => match (&attach.connect, &attach.container) {
            (Some(connect), _) => Target::Address(format!("{}:{}", connect.host, connect.port)),
            (None, Some(name)) => {
                events.send(Event::Progress(format!("joining container {name}"))).await;
                Target::Container(Box::new(
                    DebugContainer::join(name, attach.debug_port, attach.transport, attach.timeout, &events).await?,
                ))
            }
            (None, None) => return Err(Error::Unsupported("nothing to attach to".into())),
        },
        Request::Launch(launch) => {
            let session_id = crate::container::reap::new_session_id();
            Target::Container(Box::new(DebugContainer::launch(launch, &session_id, &events, &cancel).await?))
        }
    };
    let addr = match &target {
        Target::Address(addr) => addr.clone(),
        Target::Container(c) => c.debug_addr.clone(),
    };
    events.send(Event::Progress(format!("connecting to debugpy ({addr})"))).await;
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
