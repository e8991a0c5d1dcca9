//! A pod's phase and conditions, derived from its container statuses the
//! way the kubelet derives them (`getPhase`, `GeneratePodReadyCondition`).

use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn terminated_ok(c: &ContainerStatus) -> bool {
    c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code == 0)
}

fn terminated(c: &ContainerStatus) -> Option<i32> {
    c.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code)
}

fn running(c: &ContainerStatus) -> bool {
    c.state.as_ref().is_some_and(|s| s.running.is_some())
}

fn has_run(c: &ContainerStatus) -> bool {
    running(c) || terminated(c).is_some() || c.last_state.as_ref().is_some_and(|s| s.terminated.is_some())
}

/// The pod phase.
fn phase(spec: &PodSpec, status: &PodStatus) -> &'static str {
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let inits = status.init_container_statuses.as_deref().unwrap_or_default();
    if !inits.iter().all(terminated_ok) {
        let failed = inits.iter().any(|c| terminated(c).is_some_and(|code| code != 0));
        return if failed && policy == "Never" { "Failed" } else { "Pending" };
    }
    let apps = status.container_statuses.as_deref().unwrap_or_default();
    if apps.is_empty() || apps.iter().all(|c| !has_run(c)) {
        return "Pending";
    }
    if apps.iter().any(running) {
        return "Running";
    }
    let all_terminated = apps.iter().all(|c| terminated(c).is_some());
    match policy {
        "Always" => "Running",
        _ if !all_terminated => "Running",
        _ if apps.iter().all(terminated_ok) => "Succeeded",
        "OnFailure" => "Running",
        _ => "Failed",
    }
}

fn condition(kind: &str, ok: bool, reason: Option<String>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: if ok { None } else { reason },
        message: if ok { None } else { message },
        last_transition_time: Some(Time(crate::ids::timestamp())),
        ..Default::default()
    }
}

/// Recomputes phase and conditions; a condition keeps its transition time
/// while its status does not change.
pub fn refresh(spec: &PodSpec, status: &mut PodStatus, sandbox_ready: bool) {
    let phase = phase(spec, status);
    status.phase = Some(phase.into());
    let done = matches!(phase, "Succeeded" | "Failed");
    let inits = status.init_container_statuses.as_deref().unwrap_or_default();
    let pending_inits: Vec<&str> = inits.iter().filter(|c| !terminated_ok(c)).map(|c| c.name.as_str()).collect();
    let apps = status.container_statuses.as_deref().unwrap_or_default();
    let unready: Vec<&str> = apps.iter().filter(|c| !c.ready).map(|c| c.name.as_str()).collect();
    let not_ready_reason = if done { "PodCompleted" } else { "ContainersNotReady" };
    let unready_message = format!("containers with unready status: [{}]", unready.join(" "));
    let fresh = vec![
        condition("PodReadyToStartContainers", sandbox_ready && !done, None, None),
        condition(
            "Initialized",
            pending_inits.is_empty(),
            Some("ContainersNotInitialized".into()),
            Some(format!("containers with incomplete status: [{}]", pending_inits.join(" "))),
        ),
        condition("Ready", unready.is_empty() && !done, Some(not_ready_reason.into()), Some(unready_message.clone())),
        condition("ContainersReady", unready.is_empty() && !done, Some(not_ready_reason.into()), Some(unready_message)),
        condition("PodScheduled", true, None, None),
    ];
    let old = status.conditions.take().unwrap_or_default();
    let merged = fresh
        .into_iter()
        .map(|mut c| {
            if let Some(prev) = old.iter().find(|o| o.type_ == c.type_ && o.status == c.status) {
                c.last_transition_time = prev.last_transition_time.clone();
            }
            c
        })
        .collect();
    status.conditions = Some(merged);
}
