//! kube-sim: a Kubernetes API server simulation backed by the Docker
//! Engine, to test Kubernetes clients (dockdap's Kubernetes runtime,
//! kubectl, the Python client) on a machine without a cluster.
//!
//! `cargo run --release --example kube-sim -- --kubeconfig FILE` listens on
//! 127.0.0.1, writes a kubeconfig whose current context points at it, and
//! serves in the foreground until SIGINT/SIGTERM (or, with
//! `--exit-with-stdin`, until its stdin closes: what tests use, so the
//! simulation ends with the test process). A pod is a set of Docker
//! containers; see `examples/kube-sim/README.md` for what is simulated and
//! what is not. It is a test tool: plain HTTP, one token, no RBAC objects.

mod admission;
mod authz;
mod controllers;
mod discovery;
mod errors;
mod events;
mod http;
mod ids;
mod kinds;
mod kubeconfig;
mod kubelet;
mod logs;
mod patch;
mod portforward;
mod proto;
mod rest;
mod router;
mod selectors;
mod sim;
mod store;
mod streams;
mod tables;
mod watch;
mod ws;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bollard::Docker;
use clap::Parser;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::kinds::Kind;
use crate::sim::{Config, Sim};

/// A Kubernetes API server simulation backed by the Docker Engine.
#[derive(Parser)]
#[command(name = "kube-sim")]
struct Args {
    /// Where to write the kubeconfig pointing at the simulation (removed on exit).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Port on 127.0.0.1 (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Replace a kubeconfig that kube-sim did not write (kept as FILE.kube-sim-backup).
    #[arg(long)]
    force: bool,
    /// Deny a verb on a resource everywhere, e.g. "create pods/exec" (repeatable).
    #[arg(long = "deny", value_name = "VERB RESOURCE")]
    deny: Vec<String>,
    /// The node's name (and the kubeconfig context's).
    #[arg(long, default_value = "kube-sim")]
    node_name: String,
    /// The first CrashLoopBackOff and image pull back-off delay, in seconds (Kubernetes: 10).
    #[arg(long, default_value_t = 10)]
    backoff_seconds: u64,
    /// Exit when standard input closes (for a parent process that may die without a signal).
    #[arg(long)]
    exit_with_stdin: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBE_SIM_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(args))
}

async fn bridge_gateway(docker: &Docker) -> String {
    let network = docker.inspect_network("bridge", None::<bollard::query_parameters::InspectNetworkOptions>).await.ok();
    network
        .and_then(|n| n.ipam)
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway))
        .unwrap_or_else(|| "172.17.0.1".into())
}

/// The namespaces and the node a fresh cluster has.
fn seed(sim: &Sim) -> anyhow::Result<()> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        rest::create_object(sim, Kind::Namespace, "", json!({"metadata": {"name": ns}}))
            .map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let node = &sim.config.node;
    let info = json!({
        "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "Docker Engine",
        "containerRuntimeVersion": "docker://", "kubeletVersion": discovery::GIT_VERSION, "kubeProxyVersion": "",
        "operatingSystem": "linux", "architecture": "amd64",
    });
    let object = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": sim.config.host_ip}, {"type": "Hostname", "address": node}],
            "nodeInfo": info,
        },
    });
    sim.store.create(Kind::Node, "", object).map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(())
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let docker =
        Docker::connect_with_defaults().context("connecting to the Docker Engine (DOCKER_HOST or the local socket)")?;
    docker.ping().await.context("the Docker Engine does not answer; start it, or set DOCKER_HOST")?;
    kubelet::cleanup_leftovers(&docker).await;
    let mut deny = Vec::new();
    for rule in &args.deny {
        deny.push(authz::Rule::parse(rule).with_context(|| {
            format!("--deny {rule:?}: expected \"VERB RESOURCE[/SUBRESOURCE]\", e.g. \"create pods/exec\"")
        })?);
    }
    let config = Config {
        token: format!("kube-sim-{}", ids::suffix(24)),
        node: args.node_name.clone(),
        host_ip: bridge_gateway(&docker).await,
        deny,
        instance: ids::uuid(),
        backoff: Duration::from_secs(args.backoff_seconds.max(1)),
    };
    let sim = Arc::new(Sim {
        store: store::Store::new(),
        docker,
        config,
        kubelet: kubelet::Kubelet::default(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    seed(&sim)?;
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{}", args.port))?;
    let server = format!("http://{}", listener.local_addr()?);
    let text = kubeconfig::render(&server, &sim.config.token, &args.node_name);
    kubeconfig::write(&args.kubeconfig, &text, args.force)?;
    tracing::info!("kube-sim: serving the Kubernetes API on {server}; kubeconfig {}", args.kubeconfig.display());

    let background = TaskTracker::new();
    background.spawn(kubelet::Kubelet::run(sim.clone()));
    background.spawn(controllers::run(sim.clone()));
    let stop = stop_signal(args.exit_with_stdin);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            why = &mut stop => {
                tracing::info!("kube-sim: {why}; removing the pods' containers");
                break;
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let sim = sim.clone();
                sim.tasks.clone().spawn(async move {
                    let service = service_fn(move |req| {
                        let sim = sim.clone();
                        async move { Ok::<_, std::convert::Infallible>(router::handle(sim, req).await) }
                    });
                    if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await {
                        tracing::debug!(error = %e, "connection");
                    }
                });
            }
        }
    }
    sim.shutdown.cancel();
    background.close();
    background.wait().await;
    sim.kubelet.drain(Duration::from_secs(10)).await;
    kubelet::cleanup_instance(&sim.docker, &sim.config.instance).await;
    kubeconfig::remove(&args.kubeconfig);
    Ok(())
}

/// Resolves with the reason to stop: a signal, or stdin closing.
async fn stop_signal(with_stdin: bool) -> &'static str {
    let stdin_closed = async {
        if !with_stdin {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 256];
        while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = terminate => "terminated",
        _ = stdin_closed => "standard input closed",
    }
}
