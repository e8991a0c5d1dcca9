//! The Kubernetes runtime: debug a pod's container through the API server
//! (kube-rs and k8s-openapi), with the kubeconfig, contexts, namespaces and
//! in-cluster configuration as `kubectl` reads them.
//!
//! - `cluster`: the client and API errors in the user's terms.
//! - `pod`: finding the pod (name, selector, Deployment) and its container,
//!   and why it is not running.
//! - `exec`: processes in the container over exec (WebSocket).
//! - `files`: the container's files for sync, `find` and `tar` over exec.
//! - `forward`: the program's ports on 127.0.0.1 through port-forward.
//! - `copy` and `launch`: a debug copy of a Deployment's or a pod's pod,
//!   held until the debugger is in; `reap`: copies whose owner died.
//! - `watch`: the container's log and its end.
//! - `debug_pod`: `DebugPod`, the session's `Runtime`.
//!
//! **Architecture Invariant:** only this module names `kube` and
//! `k8s_openapi`; `runtime::start` is the only code that calls it.

mod cluster;
mod copy;
mod debug_pod;
mod doctor;
mod exec;
mod files;
mod forward;
mod launch;
mod pod;
mod reap;
mod watch;

pub(super) use doctor::check;
pub(super) use launch::launch;
pub use reap::reap;

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use self::cluster::Cluster;
use self::debug_pod::DebugPod;
use self::exec::PodRef;
use crate::config::{AttachArguments, DebuggerMode, KubernetesTarget};
use crate::runtime::tail::LogTail;
use crate::runtime::{ContainerError, ContainerFacts, Context, Runtime};

/// Joins a running pod's container (`request: "attach"` with `kubernetes`):
/// its debugpy must listen on the debug port inside it. A running process
/// without debugpy cannot be joined, and the error says so.
pub(super) async fn attach(
    target: &KubernetesTarget,
    args: &AttachArguments,
    cx: &Context,
) -> Result<Arc<dyn Runtime>, ContainerError> {
    let deadline = Instant::now() + std::time::Duration::from_secs_f64(args.timeout.max(0.0));
    let cluster = Cluster::connect(target).await?;
    cx.events.progress(format!("looking for the pod in namespace {}", cluster.namespace)).await;
    let found = pod::find(&cluster, &target.choice()).await?;
    let name = found.metadata.name.clone().unwrap_or_default();
    let container = pod::container(&found, target.container.as_deref())?;
    if let Some(why) = pod::not_running(&found, &container) {
        let namespace = cluster.namespace.clone();
        let report = launch::not_running_report(&PodRef::new(cluster, name.clone(), container), &found, &why).await;
        return Err(ContainerError::Unusable(format!(
            "{report}\ndockdap joins a running container; to stop in init() before it crashes, start a debug copy with a `launch` configuration (\"kubernetes\": {{\"pod\": \"{name}\"}}); `kubectl describe pod {name} -n {namespace}` says more"
        )));
    }
    let started = pod::status(&found, &container)
        .and_then(|s| s.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let declared: Vec<u16> = found
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.name == container)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect();
    let uid = found.metadata.uid.clone().unwrap_or_default();
    let pod = PodRef::new(cluster, name.clone(), container);
    cx.events.progress(format!("joining {}", pod.describe())).await;

    let tasks = cx.tasks.child();
    let tail = LogTail::default();
    let exit = watch::start(&pod, &tail, &cx.events, &tasks);
    let debug_port = args.debug_port;
    let pairs: Vec<(u16, u16)> = declared.iter().filter(|p| **p != debug_port).map(|p| (0, *p)).collect();
    let service_ports = forward::start(&pod, &pairs, &tasks).await?;
    let facts = ContainerFacts {
        name: format!("pod/{name}"),
        id: uid,
        debug_address: format!("exec into pod {name} (namespace {})", pod.cluster.namespace),
        transport: debug_pod::TRANSPORT,
        service_ports,
    };
    let mut runtime = DebugPod {
        pod,
        facts,
        mode: DebuggerMode::Image,
        debug_port,
        python: "python3".into(),
        pythonpath: None,
        app_root: args.paths.app_root.clone(),
        started,
        tail,
        exit,
        changes: Mutex::new(None),
        owned: false,
        keep: true,
        events: cx.events.clone(),
        tasks,
    };
    let joined = join(&mut runtime, deadline, args.timeout).await;
    if let Err(e) = joined {
        runtime.end().await.ok();
        return Err(e);
    }
    Ok(Arc::new(runtime))
}

/// Finds the container's Python and waits until debugpy listens; says
/// plainly when the process cannot be joined.
async fn join(runtime: &mut DebugPod, deadline: Instant, timeout: f64) -> Result<(), ContainerError> {
    runtime.python = find_python(&runtime.pod).await?;
    let port = runtime.debug_port;
    if runtime.listening(port, Instant::now()).await? {
        return Ok(());
    }
    let (code, _) =
        runtime.pod.run_text(&["env", "DOCKDAP_ROLE=probe", &runtime.python, "-c", "import debugpy"]).await?;
    if code != 0 {
        return Err(ContainerError::Unusable(format!(
            "cannot join {}: nothing listens on debugPort {port} there and its image has no debugpy. A running Python process can only be joined if it already listens (the image starts debugpy, e.g. `debugpy.listen((\"0.0.0.0\", {port}))`); start a debug copy with a `launch` configuration instead, or rebuild the image with debugpy",
            runtime.pod.describe()
        )));
    }
    runtime
        .events
        .progress(format!("waiting for debugpy to listen on port {port} in {}", runtime.pod.describe()))
        .await;
    if runtime.listening(port, deadline).await? {
        return Ok(());
    }
    Err(ContainerError::Unusable(format!(
        "debugpy did not listen on port {port} in {} within {timeout}s; does the program start debugpy (`debugpy.listen((\"0.0.0.0\", {port}))`)? Otherwise raise `timeout` or check `debugPort`\n{}",
        runtime.pod.describe(),
        runtime.tail.last(20)
    )))
}

/// `python3`, else `python`.
pub(super) async fn find_python(pod: &PodRef) -> Result<String, ContainerError> {
    for python in ["python3", "python"] {
        // DOCKDAP_ROLE: the bootstrap leaves dockdap's own processes alone
        // (a debug copy's gate would hold this one).
        match pod.run_text(&["env", "DOCKDAP_ROLE=probe", python, "-c", "pass"]).await {
            Ok((0, _)) => return Ok(python.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Err(ContainerError::Unusable(format!(
        "there is no python3 or python on the PATH of {}; dockdap runs its relay with the image's Python",
        pod.describe()
    )))
}
