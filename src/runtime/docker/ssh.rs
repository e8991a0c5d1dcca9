//! An engine reached over SSH with one SSH connection per dockdap process.
//!
//! bollard's SSH connector starts a new SSH master connection (a full login)
//! for every HTTP connection it opens, and a session opens many: the event
//! and exit watches, the output, every `docker exec` (each hijacks its own
//! connection), sync's archive calls. Here one master (`ssh -M`, in the
//! foreground as dockdap's child) logs in once, and each HTTP connection is
//! `ssh -S SOCKET ... docker system dial-stdio` over it, as the Docker CLI
//! runs it; hyper's client (the one bollard uses) pools and upgrades them as
//! it does bollard's own streams. The master is killed when the engine's
//! last handle is dropped, so a session leaves no `ssh` behind.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long the master may take to log in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The master connection: its control socket and process.
struct Master {
    /// `-l USER -p PORT -- HOST`.
    target: Vec<String>,
    socket: PathBuf,
    child: std::sync::Mutex<Option<Child>>,
    /// The control socket's folder (private to this user), removed at the end.
    dir: PathBuf,
}

impl Master {
    /// `ssh` with the control socket and the options every call shares.
    fn command(&self) -> Command {
        let mut command = Command::new("ssh");
        command.arg("-S").arg(&self.socket).args(["-o", "BatchMode=yes"]);
        command
    }
}

impl Drop for Master {
    /// Kills the master (its sessions end with it) and removes the socket's
    /// folder; nothing here waits, so it also runs within the short grace
    /// dockdap's runtime gives its tasks at exit.
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(mut child) = child.take()
        {
            let _ = child.start_kill();
            let _ = child.try_wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh folder for a control socket: short (a socket path is limited to
/// about 100 bytes) and readable by this user only.
fn socket_dir() -> io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dockdap-ssh-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    Ok(dir)
}

/// A bollard client for `ssh://[USER@]HOST[:PORT]` over one master
/// connection. Fails only when `ssh` cannot be started; a login that fails
/// shows as the first request failing (and `reach::diagnose_ssh` says why).
pub(super) async fn connect(url: &str, target: Vec<String>, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    let dir = socket_dir()?;
    let socket = dir.join("master");
    let mut command = Command::new("ssh");
    command
        .arg("-M")
        .arg("-S")
        .arg(&socket)
        .args(["-N", "-T", "-o", "BatchMode=yes", "-o", "ControlPersist=no", "-o", "ConnectTimeout=15"])
        // What bollard's connector (the openssh crate) does by default.
        .args(["-o", "StrictHostKeyChecking=accept-new"])
        .args(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
    };
    let master = Arc::new(Master { target, socket, child: std::sync::Mutex::new(Some(child)), dir });
    wait_for_login(&master).await;
    let connector = Connector { master: master.clone() };
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let transport = move |request: bollard::BollardRequest| {
        let client = client.clone();
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    let host = url.to_owned();
    Docker::connect_with_custom_transport(transport, Some(host), timeout, API_DEFAULT_VERSION)
}

/// Waits until the master is logged in (`-O check`), or has given up.
async fn wait_for_login(master: &Master) {
    let deadline = tokio::time::Instant::now() + LOGIN_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        let exited =
            master.child.lock().ok().and_then(|mut c| c.as_mut().map(|c| c.try_wait())).map(|r| r.ok().flatten());
        if matches!(exited, Some(Some(_))) {
            return;
        }
        let mut check = master.command();
        check
            .args(["-O", "check"])
            .args(&master.target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if check.status().await.is_ok_and(|s| s.success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens HTTP connections as `docker system dial-stdio` sessions over the master.
#[derive(Clone)]
struct Connector {
    master: Arc<Master>,
}

impl tower_service::Service<hyper::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let master = self.master.clone();
        Box::pin(async move {
            let mut command = master.command();
            command
                .args(["-o", "ControlMaster=no", "-T"])
                .args(&master.target)
                .args(["docker", "system", "dial-stdio"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            let mut child = command.spawn()?;
            let stdin = child.stdin.take().ok_or_else(|| io::Error::other("ssh has no stdin"))?;
            let stdout = child.stdout.take().ok_or_else(|| io::Error::other("ssh has no stdout"))?;
            Ok(TokioIo::new(Stream { stdin: Some(stdin), stdout, _child: child, _master: master }))
        })
    }
}

/// One HTTP connection: an `ssh` session's stdin and stdout.
pub(super) struct Stream {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Killed when the connection is dropped.
    _child: Child,
    /// Keeps the master while a connection uses it.
    _master: Arc<Master>,
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// A half-close: `dial-stdio` passes the end of its input on to the engine.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(stdin) = self.stdin.as_mut() {
            std::task::ready!(Pin::new(stdin).poll_shutdown(cx))?;
        }
        self.stdin = None;
        Poll::Ready(Ok(()))
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
