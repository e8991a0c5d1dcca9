//! `launch` with `kubernetes`: a debug copy of a Deployment's (or a pod's)
//! pod (`copy`), held by its init container until dockdap has looked
//! inside the image, chosen the debugger mode as for Docker (`inject`),
//! copied the bootstrap and debugpy in by exec (tar over stdin) and written
//! the settings; then the program starts under the debugger, so `init()`
//! stops at its breakpoints. The copy is deleted at the end, and by the
//! next session or `dockdap reap` if its owner died.
//!
//! A copy that never gets scheduled, whose image cannot be pulled, or whose
//! program dies is diagnosed from its status, its events and its last logs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod, PodSpec};
use kube::Api;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use tokio::time::Instant;

use super::cluster::Cluster;
use super::copy::{self, CopyPlan};
use super::debug_pod::DebugPod;
use super::exec::PodRef;
use super::{forward, pod, reap, watch};
use crate::config::{DebuggerMode, KubernetesTarget, LaunchArguments, PodChoice};
use crate::runtime::tail::LogTail;
use crate::runtime::{ContainerError, ContainerFacts, Context, Failed, Runtime, diagnose, inject, labels, offload};

/// How often the copy's status is read while it starts.
const POLL: Duration = Duration::from_millis(250);

/// Starts a debug copy and waits until its debugpy can be reached.
pub(crate) async fn launch(
    target: &KubernetesTarget,
    args: &LaunchArguments,
    cx: &Context,
) -> Result<Arc<dyn Runtime>, Failed> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout.max(0.0));
    let cluster = Cluster::connect(target).await?;
    reap::reap_in(&cluster, &cx.events).await;
    let (kind, source, spec) = template(&cluster, &target.choice()).await?;
    let as_pod = Pod { spec: Some(spec.clone()), ..Default::default() };
    let container = pod::container(&as_pod, target.container.as_deref())?;
    let session_id = labels::new_session_id();
    let plan = CopyPlan {
        source_kind: kind,
        source_name: &source,
        session_id: &session_id,
        container: &container,
        env: &args.env,
        keep: args.keep_container,
    };
    let copy = copy::debug_copy(&spec, &cluster.namespace, &plan);
    let name = copy.metadata.name.clone().unwrap_or_default();
    cx.events.progress(format!("creating pod {name}, a debug copy of {kind} {source}")).await;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let created = pods
        .create(&PostParams::default(), &copy)
        .await
        .map_err(|e| cluster.error(e, &format!("pod {name:?}"), "create pods"))?;
    let main = PodRef::new(cluster.clone(), name.clone(), container.clone());
    let mut runtime = new_runtime(main, created.metadata.uid.unwrap_or_default(), args, cx);
    let stop = cx.tasks.stop_token().clone();
    let started = tokio::select! {
        started = start(&mut runtime, &spec, args, deadline, cx) => started,
        () = stop.cancelled() => Err(ContainerError::Cancelled),
    };
    match started {
        Ok(()) => Ok(Arc::new(runtime)),
        Err(error) => Err(Failed { error, leftover: Some(Arc::new(runtime)) }),
    }
}

/// The pod template to copy: a Deployment's, or a pod's own spec.
async fn template(cluster: &Cluster, choice: &PodChoice) -> Result<(&'static str, String, PodSpec), ContainerError> {
    match choice {
        PodChoice::Deployment(name) => {
            let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
            let found = api
                .get(name)
                .await
                .map_err(|e| cluster.error(e, &format!("deployment {name:?}"), "read the deployment"))?;
            let spec = found
                .spec
                .and_then(|s| s.template.spec)
                .ok_or_else(|| ContainerError::Unusable(format!("deployment {name:?} has no pod template to copy")))?;
            Ok(("deployment", name.clone(), spec))
        }
        other => {
            let found = pod::find(cluster, other).await?;
            let name = found.metadata.name.clone().unwrap_or_default();
            let spec = found.spec.ok_or_else(|| ContainerError::Unusable(format!("pod {name:?} has no spec")))?;
            Ok(("pod", name, spec))
        }
    }
}

fn new_runtime(main: PodRef, uid: String, args: &LaunchArguments, cx: &Context) -> DebugPod {
    let tasks = cx.tasks.child();
    let (_, exit) = tokio::sync::watch::channel(None);
    let name = main.pod.clone();
    let facts = ContainerFacts {
        name: format!("pod/{name}"),
        id: uid,
        debug_address: format!("exec into pod {name} (namespace {})", main.cluster.namespace),
        transport: super::debug_pod::TRANSPORT,
        service_ports: Vec::new(),
    };
    DebugPod {
        pod: main,
        facts,
        mode: DebuggerMode::Inject,
        debug_port: args.debug_port,
        python: "python3".into(),
        pythonpath: None,
        app_root: args.paths.app_root.clone(),
        started: "1970-01-01T00:00:00Z".into(),
        tail: LogTail::default(),
        exit,
        changes: Mutex::new(None),
        owned: true,
        keep: args.keep_container,
        events: cx.events.clone(),
        tasks,
    }
}

/// From a created copy to a program waiting for the debugger.
async fn start(
    runtime: &mut DebugPod,
    spec: &PodSpec,
    args: &LaunchArguments,
    deadline: Instant,
    cx: &Context,
) -> Result<(), ContainerError> {
    let main = runtime.pod.clone();
    let main = &main;
    let hold = PodRef::new(main.cluster.clone(), main.pod.clone(), copy::HOLD.into());
    cx.events.progress(format!("waiting for pod {} to be scheduled and started", main.pod)).await;
    wait_for(main, copy::HOLD, true, deadline).await?;

    // Look inside the image, decide, copy in, and let the program start.
    let probe = probe(&hold).await?;
    let (facts, choice) = decide(spec, &main.container, args, &probe);
    cx.events.console(
        format!("[dockdap] debugger: {:?} ({}); DAP over exec through the API server\n", choice.mode, choice.reason)
            .to_lowercase(),
    );
    cx.events.progress(format!("copying the debugger into pod {}", main.pod)).await;
    let debugpy = copy_in(&hold, args, choice.mode, &facts, &probe).await?;

    // The program starts.
    let started = wait_for(main, &main.container, false, deadline).await?;
    runtime.mode = choice.mode;
    runtime.started = started;
    runtime.pythonpath =
        debugpy.is_some().then(|| format!("{}:{}", crate::runtime::tune::TUNE_DIR, inject::PYTHON_DIR));
    runtime.exit = watch::start_from(main, &runtime.tail, &cx.events, &runtime.tasks, true);
    let mut pairs = Vec::new();
    for pair in &args.ports {
        pairs.push(crate::config::parse_port_pair(pair).map_err(ContainerError::Unusable)?);
    }
    runtime.facts.service_ports = forward::start(main, &pairs, &runtime.tasks).await?;
    runtime.python = super::find_python(main).await?;
    if choice.mode == DebuggerMode::Azureml {
        // Nothing listens until dockdap runs debugpy's adapter; the
        // server's workers wait for it at the bootstrap's gate.
        return Ok(());
    }
    cx.events.progress(format!("waiting for debugpy to listen on port {} in pod {}", args.debug_port, main.pod)).await;
    if runtime.listening(args.debug_port, deadline).await? {
        return Ok(());
    }
    Err(ContainerError::Unusable(format!(
        "debugpy did not listen on port {} in {} within {}s\n{}",
        args.debug_port,
        main.describe(),
        args.timeout,
        diagnose::diagnose(0, &runtime.tail.last(20))
    )))
}

/// What the debug copy's container will do, from its spec and what the
/// hold container saw of the image, and the debugger mode that follows.
fn decide(
    spec: &PodSpec,
    container: &str,
    args: &LaunchArguments,
    probe: &Probe,
) -> (inject::ImageFacts, inject::Choice) {
    let ours = || spec.containers.iter().filter(move |c| c.name == container);
    let exposed = ours().flat_map(|c| c.ports.iter().flatten()).map(|p| format!("{}/tcp", p.container_port)).collect();
    let command = ours().flat_map(|c| c.command.iter().flatten().chain(c.args.iter().flatten())).cloned().collect();
    let facts =
        inject::ImageFacts { command, env: probe.env.clone(), exposed, labels: Vec::new(), files: Default::default() };
    let mut choice = inject::choose(args.debugger, &facts, args.debug_port);
    if args.debugger == DebuggerMode::Auto && choice.mode == DebuggerMode::Inject && probe.azureml {
        choice = inject::Choice {
            mode: DebuggerMode::Azureml,
            reason: "the image has the Azure ML inference server, whose AZUREML_DEBUG_PORT hook connects each worker to the debugger".into(),
        };
    }
    (facts, choice)
}

/// Copies the bootstrap (and debugpy, for `mode`s that run it) into the
/// hold container's volume and writes the settings file whose presence
/// lets the program start. Returns the debugpy copied, if any.
async fn copy_in(
    hold: &PodRef,
    args: &LaunchArguments,
    mode: DebuggerMode,
    facts: &inject::ImageFacts,
    probe: &Probe,
) -> Result<Option<PathBuf>, ContainerError> {
    let debugpy = match mode {
        DebuggerMode::Inject | DebuggerMode::Azureml => Some(
            offload::find_debugpy(args.debugpy_path.clone())
                .await
                .map_err(|e| ContainerError::Unusable(e.to_string()))?,
        ),
        _ => None,
    };
    let archive = offload::archive(debugpy.clone(), "/").await.map_err(|e| ContainerError::Unusable(e.to_string()))?;
    let (code, _, err) = hold
        .run(&["tar", "-C", "/", "-xf", "-", "--no-overwrite-dir", "--no-same-owner"], Some(archive), 1 << 20)
        .await?;
    if code != 0 {
        return Err(ContainerError::Unusable(format!(
            "could not copy dockdap's bootstrap into {} (tar exit code {code}: {}); the image needs GNU tar",
            hold.describe(),
            err.trim()
        )));
    }
    let mut settings = inject::environment(args, mode, facts);
    if !args.tune_debugger {
        settings.push("DOCKDAP_TUNE_DEBUGGER=0".into());
    }
    if let Some(path) = probe.pythonpath.as_deref().filter(|p| !p.is_empty()) {
        settings.push(format!("PYTHONPATH_EXTRA={path}"));
    }
    let write = format!("cat > {} && touch {}", copy::SETTINGS, copy::READY);
    let text = settings.join("\n") + "\n";
    let (code, _, err) = hold.run(&["sh", "-c", &write], Some(text.into()), 1 << 20).await?;
    if code != 0 {
        return Err(ContainerError::Unusable(format!(
            "could not write dockdap's settings in {}: {}",
            hold.describe(),
            err.trim()
        )));
    }
    Ok(debugpy)
}

/// What the image holds, read in the hold container (same image).
struct Probe {
    /// The image's environment, `K=V`.
    env: Vec<String>,
    /// The image's own `PYTHONPATH`.
    pythonpath: Option<String>,
    /// The Azure ML inference server is importable.
    azureml: bool,
}

const PROBE_PY: &str = r#"import importlib.util, os
for k, v in os.environ.items():
    print("ENV " + k + "=" + v.replace("\n", " "))
print("AZUREML %d" % (importlib.util.find_spec("azureml_inference_server_http") is not None))
"#;

async fn probe(hold: &PodRef) -> Result<Probe, ContainerError> {
    for python in ["python3", "python"] {
        let Ok((0, out)) = hold.run_text(&[python, "-c", PROBE_PY]).await else { continue };
        let env: Vec<String> = out.lines().filter_map(|l| l.strip_prefix("ENV ")).map(str::to_owned).collect();
        let pythonpath = env.iter().find_map(|e| e.strip_prefix("PYTHONPATH=")).map(str::to_owned);
        return Ok(Probe { env, pythonpath, azureml: out.lines().any(|l| l == "AZUREML 1") });
    }
    Err(ContainerError::Unusable(format!(
        "there is no python3 or python on the PATH of the image of {}; dockdap debugs Python programs",
        hold.describe()
    )))
}

/// Waits until `container` (an init container if `init`) runs; returns
/// when it started (RFC 3339). A pod that cannot be scheduled, an image
/// that cannot be pulled, a container that exits, or the deadline end the
/// wait with what the status, the events and the logs say.
async fn wait_for(pod: &PodRef, container: &str, init: bool, deadline: Instant) -> Result<String, ContainerError> {
    loop {
        let found = pod
            .api
            .get(&pod.pod)
            .await
            .map_err(|e| pod.cluster.error(e, &format!("pod {:?}", pod.pod), "read the pod"))?;
        let status = container_status(&found, container, init);
        if let Some(running) = status.and_then(|s| s.state.as_ref()?.running.as_ref()) {
            return Ok(running.started_at.as_ref().map(|t| t.0.to_string()).unwrap_or_default());
        }
        if let Some(problem) = problem(&found, status) {
            return Err(ContainerError::Unusable(diagnosis(pod, container, &problem).await));
        }
        if Instant::now() >= deadline {
            let events = warnings(pod).await;
            let phase = found.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            return Err(ContainerError::Unusable(format!(
                "pod {} did not start container {container} in time (phase {phase}; {}); raise `timeout`, or see `kubectl describe pod {} -n {}`{events}",
                pod.pod,
                conditions(&found),
                pod.pod,
                pod.cluster.namespace
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The pod's conditions as `kubectl describe` lists them, each not `True`
/// with its reason and message: `PodScheduled=False (Unschedulable: ...)`.
fn conditions(found: &Pod) -> String {
    let all = found.status.as_ref().and_then(|s| s.conditions.as_ref());
    let listed: Vec<String> = all
        .into_iter()
        .flatten()
        .map(|c| {
            let why = match (c.reason.as_deref(), c.message.as_deref()) {
                (Some(r), Some(m)) => format!(" ({r}: {m})"),
                (Some(r), None) => format!(" ({r})"),
                (None, Some(m)) => format!(" ({m})"),
                (None, None) => String::new(),
            };
            format!("{}={}{why}", c.type_, c.status)
        })
        .collect();
    if listed.is_empty() { "no conditions reported yet".into() } else { format!("conditions {}", listed.join(", ")) }
}

fn container_status<'a>(found: &'a Pod, container: &str, init: bool) -> Option<&'a ContainerStatus> {
    let status = found.status.as_ref()?;
    let list = if init { status.init_container_statuses.as_ref()? } else { status.container_statuses.as_ref()? };
    list.iter().find(|s| s.name == container)
}

/// What keeps the container from running for good, if anything.
fn problem(found: &Pod, status: Option<&ContainerStatus>) -> Option<String> {
    let conditions = found.status.as_ref().and_then(|s| s.conditions.as_ref());
    if let Some(unscheduled) = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    {
        return Some(format!("cannot be scheduled: {}", unscheduled.message.as_deref().unwrap_or("no node fits")));
    }
    let state = status?.state.as_ref()?;
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if [
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
            "CreateContainerConfigError",
            "CreateContainerError",
            "CrashLoopBackOff",
            "RunContainerError",
        ]
        .contains(&reason)
        {
            return Some(format!("{reason}: {}", waiting.message.as_deref().unwrap_or_default()));
        }
    }
    if let Some(done) = &state.terminated {
        return Some(format!("exited with code {}", done.exit_code));
    }
    if found.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
        return Some("failed".into());
    }
    None
}

/// The problem with the container's last log lines read, and the pod's warnings.
async fn diagnosis(pod: &PodRef, container: &str, problem: &str) -> String {
    if problem.starts_with("cannot be scheduled") {
        return format!("the debug copy {} {problem}{}", pod.pod, warnings(pod).await);
    }
    let params = LogParams { container: Some(container.to_owned()), tail_lines: Some(40), ..Default::default() };
    let logs = pod.api.logs(&pod.pod, &params).await.unwrap_or_default();
    let code = problem.strip_prefix("exited with code ").and_then(|c| c.parse().ok()).unwrap_or(1);
    let reading = if logs.trim().is_empty() { String::new() } else { format!("\n{}", diagnose::diagnose(code, &logs)) };
    format!("container {container} of the debug copy {} {problem}{}{reading}", pod.pod, warnings(pod).await)
}

/// Why a pod's container cannot be joined (`why`, from `pod::not_running`),
/// with what a crash loop leaves to read: the last attempt's log lines
/// (read as a container crash is) and the pod's warning events.
pub(super) async fn not_running_report(pod: &PodRef, found: &Pod, why: &str) -> String {
    let status = pod::status(found, &pod.container);
    let restarts = status.map_or(0, |s| s.restart_count);
    let last = status.and_then(|s| s.last_state.as_ref()?.terminated.as_ref());
    let mut report = why.to_owned();
    if let Some(last) = last {
        report.push_str(&format!(
            "; it has restarted {restarts} time(s), the last attempt exited with code {} ({})",
            last.exit_code,
            last.reason.as_deref().unwrap_or("Error")
        ));
    }
    report.push_str(&warnings(pod).await);
    // In a back-off the last attempt is still the container's current log;
    // once a new attempt exists, the crashed one is the previous.
    let mut params = LogParams { container: Some(pod.container.clone()), tail_lines: Some(40), ..Default::default() };
    let mut logs = pod.api.logs(&pod.pod, &params).await.unwrap_or_default();
    if logs.trim().is_empty() && restarts > 0 {
        params.previous = true;
        logs = pod.api.logs(&pod.pod, &params).await.unwrap_or_default();
    }
    if !logs.trim().is_empty() {
        let code = last.map_or(1, |t| i64::from(t.exit_code));
        report.push_str(&format!("\n{}", diagnose::diagnose(code, &logs)));
    }
    report
}

/// The pod's warning events, one per line, or nothing.
async fn warnings(pod: &PodRef) -> String {
    let events: Api<Event> = Api::namespaced(pod.cluster.client.clone(), &pod.cluster.namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={}", pod.pod));
    let Ok(list) = events.list(&params).await else { return String::new() };
    let lines: Vec<String> = list
        .items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| format!("  {}: {}", e.reason.as_deref().unwrap_or_default(), e.message.as_deref().unwrap_or_default()))
        .collect();
    if lines.is_empty() { String::new() } else { format!("\nevents:\n{}", lines.join("\n")) }
}

/// Deletes the copy at once (no grace period: a debuggee at a breakpoint
/// would use all of it).
pub(crate) async fn delete(pod: &PodRef) -> Result<(), String> {
    match pod.api.delete(&pod.pod, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await {
        Ok(_) => {
            tracing::info!(pod = %pod.pod, "deleted the debug copy");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!(
            "could not delete the debug copy {} ({e}); `dockdap reap` deletes it once the cluster answers, or `kubectl delete pod {} -n {}`",
            pod.pod, pod.pod, pod.cluster.namespace
        )),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};

    use super::*;

    fn condition(type_: &str, status: &str, reason: Option<&str>, message: Option<&str>) -> PodCondition {
        PodCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.map(Into::into),
            message: message.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn the_timeout_names_the_pods_conditions() {
        let pending = Pod {
            status: Some(PodStatus {
                conditions: Some(vec![
                    condition("PodScheduled", "True", None, None),
                    condition("Initialized", "False", Some("ContainersNotInitialized"), None),
                    condition("Ready", "False", None, Some("containers with unready status: [score]")),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            conditions(&pending),
            "conditions PodScheduled=True, Initialized=False (ContainersNotInitialized), Ready=False (containers with unready status: [score])"
        );
        assert_eq!(conditions(&Pod::default()), "no conditions reported yet");
    }

    #[test]
    fn an_unschedulable_pod_is_a_problem_at_once() {
        let why = "0/3 nodes are available: 3 Insufficient memory.";
        let pod = Pod {
            status: Some(PodStatus {
                conditions: Some(vec![condition("PodScheduled", "False", Some("Unschedulable"), Some(why))]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(problem(&pod, None), Some(format!("cannot be scheduled: {why}")));
        assert_eq!(problem(&Pod::default(), None), None);
    }
}
