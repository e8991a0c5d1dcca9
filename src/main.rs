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
    Image(ImageCommand),
    /// Print the JSON schema of the launch and attach configurations.
    ///
    /// Example: dockdap schema > dockdap.schema.json
    Schema,
    /// Snapshot a container (`docker commit`) into the next version of its
    /// image (`debug:1` -> `debug:2`), labelled, without pausing it.
    ///
    /// Example: dockdap commit dockdap-debug-1-ab12cd34
    Commit {
        /// The container's name or id.
        name: String,
        /// The image to create, as REPOSITORY:TAG (default: the next free version of the container's image).
        #[arg(long, value_name = "REPO:TAG")]
        tag: Option<String>,
        /// Pause the container while committing (a consistent snapshot; a debugged program freezes meanwhile).
        #[arg(long)]
        pause: bool,
        /// The app's folder in the container, whose changed files the image's comment lists.
        #[arg(long, value_name = "PATH", default_value = dockdap::config::DEFAULT_APP_ROOT)]
        app_root: String,
    },
    /// Check the Docker Engine, an image (Python, debugpy, appRoot, the entry
    /// script's init() and run(), the model directory) and dry-run init();
    /// print findings with fixes.
    Doctor(dockdap::cli::doctor::DoctorArgs),
    /// Send a scoring request (default: the sample to
    /// http://127.0.0.1:8000/score) and print the reply.
    Score(dockdap::cli::score::ScoreArgs),
    /// Print a container's output (its stdout and stderr).
    Logs(dockdap::cli::logs::LogsArgs),
    /// Start a debug container from a launch configuration file without an
    /// editor, and print how to attach to it.
    Up(dockdap::cli::up::UpArgs),
    /// Stop and remove a container dockdap started.
    Down(dockdap::cli::up::DownArgs),
    /// Print shell completions (bash, zsh, fish).
    Completions(dockdap::cli::completions::CompletionsArgs),
    /// Internal: removes CONTAINER when the dockdap process OWNER dies.
    #[command(hide = true)]
    Watchdog {
        /// The pid of the owning dockdap.
        #[arg(long)]
        owner: u32,
        /// The container to remove.
        #[arg(long)]
        container: String,
    },
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Make a debuggable variant of an image (debugpy added, started on port
    /// 5678, waiting for the debugger) without a Dockerfile or a network.
    ///
    /// Example: dockdap image debug debug:1 --tag debug:1-debug
    Debug {
        /// The image to start from.
        image: String,
        /// The new image's tag (default: IMAGE's tag with `-debug` appended).
        #[arg(long)]
        tag: Option<String>,
        /// The debugpy package folder to copy in (default: DOCKDAP_DEBUGPY,
        /// else the one this machine's python3 imports).
        #[arg(long, value_name = "DIR")]
        debugpy: Option<String>,
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
        Some(Command::Demo) => {
            let mut stdout = std::io::stdout();
            dockdap::demo::run(&mut stdout).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Reap) => {
            let engine = dockdap::runtime::docker::Engine::connect().await?;
            let removed = dockdap::runtime::docker::reap::reap(&engine).await?;
            let mut stdout = std::io::stdout().lock();
            if removed.is_empty() {
                writeln!(stdout, "nothing to remove: no container of a dead dockdap session")?;
            }
            for name in removed {
                writeln!(stdout, "removed {name}")?;
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Commit { name, tag, pause, app_root }) => {
            let container = dockdap::runtime::docker::ContainerRef::find(&name).await?;
            let request = dockdap::runtime::docker::commit::CommitRequest { tag, pause, app_root };
            let snapshot = container.commit(&request).await.with_context(|| format!("cannot snapshot {name}"))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", snapshot.image)?;
            if snapshot.changed.is_empty() {
                writeln!(stdout, "  nothing changed under {}", request.app_root)?;
            } else {
                writeln!(stdout, "  changed under {}: {}", request.app_root, snapshot.changed.join(", "))?;
            }
            for warning in &snapshot.warnings {
                writeln!(stdout, "  warning: {warning}")?;
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Image(ImageCommand::Debug { image, tag, debugpy })) => {
            let engine = dockdap::runtime::docker::Engine::connect().await?;
            let made =
                dockdap::runtime::docker::image::make_debug_image(&engine, &image, tag.as_deref(), debugpy.as_deref())
                    .await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "built {} from {image} (debugpy from {})", made.tag, made.debugpy)?;
            writeln!(stdout, "it starts debugpy on port 5678 and waits for the debugger; launch it with")?;
            writeln!(
                stdout,
                "  {{\"type\": \"dockdap\", \"request\": \"launch\", \"image\": \"{}\", \"debugger\": \"image\"}}",
                made.tag
            )?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Doctor(args)) => Ok(dockdap::cli::doctor::run(args, options.shutdown.clone()).await?),
        Some(Command::Score(args)) => Ok(dockdap::cli::score::run(args).await?),
        Some(Command::Logs(args)) => Ok(dockdap::cli::logs::run(args, options.shutdown.clone()).await?),
        Some(Command::Up(args)) => Ok(dockdap::cli::up::run_up(args, options.shutdown.clone()).await?),
        Some(Command::Down(args)) => Ok(dockdap::cli::up::run_down(args).await?),
        Some(Command::Completions(args)) => {
            Ok(dockdap::cli::completions::run(args, <Cli as clap::CommandFactory>::command())?)
        }
        Some(Command::Watchdog { owner, container }) => {
            dockdap::runtime::docker::watchdog::run(owner, &container).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(Command::Schema) => {
            let text = serde_json::to_string_pretty(&dockdap::config::schema())?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{text}")?;
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

/// SIGINT, SIGTERM and SIGHUP all end the sessions cleanly (containers are
/// removed); a second signal is not needed and not waited for.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = hup.recv() => tracing::info!("SIGHUP: shutting down"),
        }
        shutdown.cancel();
    });
}
