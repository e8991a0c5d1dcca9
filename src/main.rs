//! The `dockdap` command: a DAP adapter on stdio (what editors spawn), on a
//! loopback TCP port, or one of the command-line helpers.
//!
//! **Architecture Invariant:** in adapter mode nothing but the DAP encoder
//! writes to stdout. Logs go to stderr or `--log-file`, filtered by
//! `DOCKDAP_LOG` (e.g. `DOCKDAP_LOG=dockdap=debug`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

use dockdap::cli;
use dockdap::session::{self, SessionOptions};
use dockdap::transport;

/// A Debug Adapter Protocol bridge for debugging Python services inside
/// Docker containers.
///
/// Without a command, dockdap speaks DAP on stdin/stdout: point your editor's
/// debug adapter at this binary.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Serve DAP over TCP on this address, one session per connection
    /// (e.g. 127.0.0.1:4711; port 0 picks a free port and prints it on stderr).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Allow --listen on a non-loopback address. Anyone who can reach it can
    /// run code in the debugged program.
    #[arg(long)]
    allow_remote: bool,
    /// Write logs to this file instead of stderr.
    #[arg(long, value_name = "PATH", global = true)]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Debug the example Azure ML deployment end to end: build its image if
    /// missing, start it, stop at a breakpoint in run() after a real scoring
    /// request, print what an editor would show, clean up.
    ///
    /// Example: cargo run -- demo
    Demo,
    /// Remove containers left behind by dead dockdap processes (only ones
    /// carrying dockdap's labels).
    ///
    /// Example: dockdap reap
    Reap,
    /// Work with images.
    ///
    /// Example: dockdap image debug dockdap/azureml-score:stock
    #[command(subcommand)]
    Image(cli::image::ImageCommand),
    /// Print the JSON schema of the launch and attach configurations.
    ///
    /// Example: dockdap schema > dockdap.schema.json
    Schema,
    /// Snapshot a container (`docker commit`) into the next version of its
    /// image (`debug:1` -> `debug:2`), labelled, without pausing it.
    ///
    /// Example: dockdap commit dockdap-debug-1-ab12cd34
    Commit(cli::commit::CommitArgs),
    /// Check the Docker Engine, an image (Python, debugpy, appRoot, the entry
    /// script's init() and run(), the model directory) and dry-run init();
    /// print findings with fixes.
    Doctor(cli::doctor::DoctorArgs),
    /// Send a scoring request (default: the sample to
    /// http://127.0.0.1:8000/score) and print the reply.
    Score(cli::score::ScoreArgs),
    /// Print a container's output (its stdout and stderr).
    Logs(cli::logs::LogsArgs),
    /// Start a debug container from a launch configuration file without an
    /// editor, and print how to attach to it.
    Up(cli::up::UpArgs),
    /// Stop and remove a container dockdap started.
    Down(cli::down::DownArgs),
    /// Print shell completions (bash, zsh, fish).
    Completions(cli::completions::CompletionsArgs),
    /// Internal: removes CONTAINER when the dockdap process OWNER dies.
    #[command(hide = true)]
    Watchdog {
        /// The pid of the owning dockdap.
        #[arg(long)]
        owner: u32,
        /// The container to remove.
        #[arg(long)]
        container: String,
        /// The owner is gone when stdin ends (systems without /proc).
        #[arg(long)]
        pipe: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli) {
        let _ = writeln!(std::io::stderr(), "dockdap: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dockdap: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli));
    // Reading stdin blocks a thread that only a new line would wake; do not
    // wait for it once the session is over.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dockdap: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    // Quiet by default: editors show adapter stderr, and the commands print their own report.
    let filter = EnvFilter::try_from_env("DOCKDAP_LOG").unwrap_or_else(|_| EnvFilter::new("dockdap=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &cli.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the log file {}", path.display()))?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let workspace = std::env::current_dir().context("cannot read the current directory")?;
    let options = SessionOptions { workspace, shutdown };
    match cli.command {
        None => match cli.listen {
            None => serve_stdio(options).await,
            Some(addr) => serve_tcp(addr, cli.allow_remote, options).await,
        },
        Some(Command::Demo) => Ok(cli::demo::run().await?),
        Some(Command::Reap) => Ok(cli::reap::run().await?),
        Some(Command::Commit(args)) => Ok(cli::commit::run(args).await?),
        Some(Command::Image(command)) => Ok(cli::image::run(command).await?),
        Some(Command::Schema) => Ok(cli::schema::run()?),
        Some(Command::Doctor(args)) => Ok(cli::doctor::run(args, options.shutdown.clone()).await?),
        Some(Command::Score(args)) => Ok(cli::score::run(args).await?),
        Some(Command::Logs(args)) => Ok(cli::logs::run(args, options.shutdown.clone()).await?),
        Some(Command::Up(args)) => Ok(cli::up::run(args, options.shutdown.clone()).await?),
        Some(Command::Down(args)) => Ok(cli::down::run(args).await?),
        Some(Command::Completions(args)) => Ok(cli::completions::run(args, <Cli as clap::CommandFactory>::command())?),
        Some(Command::Watchdog { owner, container, pipe }) => {
            dockdap::runtime::docker::watchdog::run(owner, &container, pipe).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// One session on stdin/stdout.
async fn serve_stdio(options: SessionOptions) -> anyhow::Result<std::process::ExitCode> {
    tracing::info!("serving DAP on stdio");
    let span = tracing::info_span!("session", transport = "stdio");
    session::run(tokio::io::stdin(), tokio::io::stdout(), options).instrument(span).await?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// One session per TCP connection, until a signal.
async fn serve_tcp(
    addr: SocketAddr,
    allow_remote: bool,
    options: SessionOptions,
) -> anyhow::Result<std::process::ExitCode> {
    transport::check_listen_addr(addr, allow_remote)?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Editors that start dockdap with port 0 read the port from this line.
    tracing::info!(%local, "listening");
    let _ = writeln!(std::io::stderr(), "dockdap: listening on {local}");
    let sessions = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = options.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        if !peer.ip().is_loopback() && !allow_remote {
            tracing::warn!(%peer, "refusing a connection from a non-loopback address");
            continue;
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let options = options.clone();
        let span = tracing::info_span!("session", %peer);
        sessions.spawn(
            async move {
                let (reader, writer) = stream.into_split();
                if let Err(e) = session::run(reader, writer, options).await {
                    tracing::warn!(error = %e, "session failed");
                }
                // What a session leaves behind shows here (tests/faults.rs measures it).
                let alive = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                tracing::debug!(alive_tasks = alive, "session over");
            }
            .instrument(span),
        );
    }
    sessions.close();
    if tokio::time::timeout(Duration::from_secs(40), sessions.wait()).await.is_err() {
        tracing::error!("sessions did not end within 40 s of the signal");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The signals that end the sessions cleanly (containers are removed); a
/// second one is not needed and not waited for.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        match shutdown_signal().await {
            Ok(which) => tracing::info!("{which}: shutting down"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot install signal handlers");
                return;
            }
        }
        shutdown.cancel();
    });
}

/// Unix: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed).
#[cfg(unix)]
async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term, mut hup) =
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?, signal(SignalKind::hangup())?);
    Ok(tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    })
}

/// Windows: Ctrl-C, Ctrl-Break, the console window closed, logoff and
/// shutdown (the last three leave a few seconds before Windows ends the
/// process).
#[cfg(windows)]
async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::windows;
    let (mut c, mut brk, mut close) = (windows::ctrl_c()?, windows::ctrl_break()?, windows::ctrl_close()?);
    let (mut logoff, mut down) = (windows::ctrl_logoff()?, windows::ctrl_shutdown()?);
    Ok(tokio::select! {
        _ = c.recv() => "Ctrl-C",
        _ = brk.recv() => "Ctrl-Break",
        _ = close.recv() => "the console closing",
        _ = logoff.recv() => "logoff",
        _ = down.recv() => "system shutdown",
    })
}

/// Elsewhere: Ctrl-C.
#[cfg(not(any(unix, windows)))]
async fn shutdown_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
}
