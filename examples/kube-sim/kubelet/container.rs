//! One container of a pod, attempt after attempt: the image (never pulled:
//! a missing image is `ErrImagePull`, then `ImagePullBackOff`, retried with
//! back-off until it appears in the engine), the Docker container (a new
//! one per attempt, as the kubelet does, so `--previous` logs stay
//! readable), its start, its exit, and the restart decision with the
//! kubelet's CrashLoopBackOff (the first restart at once, then 10 s, 20 s,
//! ... up to 5 min; reset after 10 minutes of running).

use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::docker::{self, Placement};
use super::pod::PodCtx;
use super::volumes::field_ref;

const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

fn waiting(reason: &str, message: Option<String>) -> Option<ContainerState> {
    Some(ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message }),
        ..Default::default()
    })
}

/// Go's `time.Duration.String()` for whole seconds (`10s`, `1m20s`, `5m0s`).
fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 { format!("{s}s") } else { format!("{}m{}s", s / 60, s % 60) }
}

fn docker_time(text: Option<&String>) -> Option<Time> {
    let t: Timestamp = text?.parse().ok()?;
    (t.as_second() > 0).then_some(Time(t))
}

/// Waits until the engine has the image, reporting pull failures as the
/// kubelet does. Returns when the image is there.
async fn image_ready(ctx: &PodCtx, c: &Container, init: bool, image: &str) {
    let who = Some((init, c.name.as_str()));
    let mut backoff = ctx.sim.config.backoff;
    loop {
        if ctx.sim.docker.inspect_image(image).await.is_ok() {
            ctx.event(who, "Normal", "Pulled", &format!("Container image \"{image}\" already present on machine"));
            return;
        }
        let message = format!(
            "failed to pull and unpack image \"{image}\": kube-sim never pulls; the image is not in the Docker Engine (build or tag it there)"
        );
        ctx.event(who, "Normal", "Pulling", &format!("Pulling image \"{image}\""));
        ctx.event(who, "Warning", "Failed", &format!("Failed to pull image \"{image}\": {message}"));
        ctx.event(who, "Warning", "Failed", "Error: ErrImagePull");
        ctx.set_container(init, &c.name, |s| s.state = waiting("ErrImagePull", Some(message.clone())));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let back_off = format!("Back-off pulling image \"{image}\"");
        ctx.set_container(init, &c.name, |s| s.state = waiting("ImagePullBackOff", Some(back_off.clone())));
        ctx.event(who, "Normal", "BackOff", &back_off);
        ctx.event(who, "Warning", "Failed", "Error: ImagePullBackOff");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The container's environment, in order, with `$(VAR)` expanded.
fn environment(ctx: &PodCtx, c: &Container) -> Result<Vec<(String, String)>, String> {
    let pod = ctx.current();
    let mut env: Vec<(String, String)> = Vec::new();
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref
            && r.optional != Some(true)
        {
            return Err(format!("configmap \"{}\" not found", r.name));
        }
        if let Some(r) = &from.secret_ref
            && r.optional != Some(true)
        {
            return Err(format!("secret \"{}\" not found", r.name));
        }
    }
    for var in c.env.iter().flatten() {
        let value = if let Some(source) = &var.value_from {
            if let Some(f) = &source.field_ref {
                field_ref(&pod, &f.field_path)
            } else if let Some(r) = &source.config_map_key_ref {
                if r.optional == Some(true) {
                    continue;
                }
                return Err(format!("configmap \"{}\" not found", r.name));
            } else if let Some(r) = &source.secret_key_ref {
                if r.optional == Some(true) {
                    continue;
                }
                return Err(format!("secret \"{}\" not found", r.name));
            } else {
                String::new()
            }
        } else {
            docker::expand(var.value.as_deref().unwrap_or_default(), &env)
        };
        env.push((var.name.clone(), value));
    }
    Ok(env)
}

/// `runAsUser[:runAsGroup]`, the container's over the pod's; checks `runAsNonRoot`.
async fn user(ctx: &PodCtx, c: &Container, image: &str) -> Result<Option<String>, String> {
    let pod_sc = ctx.pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let uid = sc.run_as_user.or(pod_sc.run_as_user);
    let gid = sc.run_as_group.or(pod_sc.run_as_group);
    if sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true) {
        let image_user = ctx
            .sim
            .docker
            .inspect_image(image)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.user)
            .unwrap_or_default();
        let image_user = image_user.split(':').next().unwrap_or_default().to_owned();
        let effective = match uid {
            Some(u) => Some(u),
            None if image_user.is_empty() || image_user == "root" => Some(0),
            None => image_user.parse::<i64>().ok(),
        };
        match effective {
            Some(0) => {
                return Err(format!(
                    "container has runAsNonRoot and image will run as root (pod: \"{}\", container: {})",
                    ctx.display(),
                    c.name
                ));
            }
            None => {
                return Err(format!(
                    "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root (pod: \"{}\", container: {})",
                    ctx.display(),
                    c.name
                ));
            }
            Some(_) => {}
        }
    }
    Ok(match (uid, gid) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        _ => None,
    })
}

/// Creates this attempt's Docker container. `Err((reason, message))`.
async fn create(
    ctx: &PodCtx,
    c: &Container,
    sandbox: Option<&str>,
    attempt: i32,
) -> Result<String, (&'static str, String)> {
    let image = c.image.clone().unwrap_or_default();
    let config_error = |m: String| ("CreateContainerConfigError", m);
    let env = environment(ctx, c).map_err(config_error)?;
    let user = user(ctx, c, &image).await.map_err(config_error)?;
    let mounts = ctx.volumes.get().map(|v| v.mounts(c)).unwrap_or(Ok(Vec::new())).map_err(config_error)?;
    let ids = ctx.ids();
    let body = docker::container_body(&ids, c, Placement { sandbox, env, user, mounts });
    let name = ids.container_name(&format!("{}-{attempt}", c.name));
    let options = CreateContainerOptions { name: Some(name), ..Default::default() };
    let created = ctx
        .sim
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| ("CreateContainerError", e.to_string()))?;
    if let Some(old) = ctx.rt.new_attempt(&c.name, &created.id) {
        let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
        let _ = ctx.sim.docker.remove_container(&old, Some(options)).await;
    }
    Ok(created.id)
}

/// Starts the container and waits for its end; returns how it ended.
async fn start_and_wait(ctx: &PodCtx, c: &Container, init: bool, id: &str) -> ContainerStateTerminated {
    let docker = &ctx.sim.docker;
    let who = Some((init, c.name.as_str()));
    let container_id = Some(format!("docker://{id}"));
    if let Err(e) = docker.start_container(id, None::<StartContainerOptions>).await {
        let message = match &e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ctx.event(who, "Warning", "Failed", &format!("Error: failed to start container \"{}\": {message}", c.name));
        let now = Some(Time(crate::ids::timestamp()));
        return ContainerStateTerminated {
            exit_code: 128,
            reason: Some("StartError".into()),
            message: Some(message),
            started_at: None,
            finished_at: now,
            container_id,
            ..Default::default()
        };
    }
    ctx.event(who, "Normal", "Started", &format!("Started container {}", c.name));
    let inspect = docker.inspect_container(id, None::<InspectContainerOptions>).await.ok();
    let state = inspect.as_ref().and_then(|i| i.state.clone()).unwrap_or_default();
    let started_at = docker_time(state.started_at.as_ref()).or_else(|| Some(Time(crate::ids::timestamp())));
    if ctx.rt.sandbox().is_none() {
        let ip = inspect
            .as_ref()
            .and_then(|i| i.network_settings.as_ref())
            .and_then(|n| {
                n.networks
                    .as_ref()
                    .and_then(|m| m.values().find_map(|e| e.ip_address.clone().filter(|i| !i.is_empty())))
            })
            .unwrap_or_default();
        ctx.adopt_network(id, state.pid.unwrap_or(0), &ip);
    }
    ctx.set_container(init, &c.name, |s| {
        s.state = Some(ContainerState {
            running: Some(ContainerStateRunning { started_at: started_at.clone() }),
            ..Default::default()
        });
        s.ready = !init;
        s.started = Some(true);
        s.container_id = container_id.clone();
        s.image_id =
            inspect.as_ref().and_then(|i| i.image.clone()).map(|i| format!("docker://{i}")).unwrap_or_default();
    });
    let mut wait = docker.wait_container(id, None::<WaitContainerOptions>);
    let _ = wait.next().await;
    let inspect = docker.inspect_container(id, None::<InspectContainerOptions>).await.ok();
    let state = inspect.and_then(|i| i.state).unwrap_or_default();
    let code = state.exit_code.unwrap_or(-1) as i32;
    let reason = if state.oom_killed == Some(true) {
        "OOMKilled"
    } else if code == 0 {
        "Completed"
    } else {
        "Error"
    };
    ContainerStateTerminated {
        exit_code: code,
        reason: Some(reason.into()),
        started_at,
        finished_at: docker_time(state.finished_at.as_ref()).or_else(|| Some(Time(crate::ids::timestamp()))),
        container_id,
        ..Default::default()
    }
}

/// Runs the container until the restart policy says it is done.
pub async fn run(ctx: &PodCtx, c: &Container, init: bool) -> Outcome {
    let image = c.image.clone().unwrap_or_default();
    let who = Some((init, c.name.as_str()));
    let (mut restarts, mut crashes) = (0i32, 0u32);
    loop {
        image_ready(ctx, c, init, &image).await;
        let sandbox = match ctx.ensure_sandbox(&image).await {
            Ok(s) => s,
            Err(message) => {
                ctx.event(
                    None,
                    "Warning",
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {message}"),
                );
                tokio::time::sleep(ctx.sim.config.backoff).await;
                continue;
            }
        };
        let id = match create(ctx, c, sandbox.as_deref(), restarts).await {
            Ok(id) => id,
            Err((reason, message)) => {
                ctx.event(who, "Warning", "Failed", &format!("Error: {message}"));
                ctx.set_container(init, &c.name, |s| s.state = waiting(reason, Some(message.clone())));
                tokio::time::sleep(ctx.sim.config.backoff).await;
                continue;
            }
        };
        ctx.event(who, "Normal", "Created", &format!("Created container: {}", c.name));
        let ended = start_and_wait(ctx, c, init, &id).await;
        let code = ended.exit_code;
        let restart = match ctx.restart_policy() {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => !init || code != 0,
        };
        if !restart {
            ctx.set_container(init, &c.name, |s| {
                s.state = Some(ContainerState { terminated: Some(ended.clone()), ..Default::default() });
                s.ready = init && code == 0;
                s.started = Some(false);
            });
            return if code == 0 { Outcome::Succeeded } else { Outcome::Failed };
        }
        if ended_ran_long(&ended) {
            crashes = 0;
        }
        back_off(ctx, c, init, &ended, crashes).await;
        crashes += 1;
        restarts += 1;
        let last = Some(ContainerState { terminated: Some(ended), ..Default::default() });
        ctx.set_container(init, &c.name, |s| {
            s.restart_count = restarts;
            s.last_state = last.clone();
        });
    }
}

/// Whether the attempt ran long enough (10 minutes) to reset the back-off.
fn ended_ran_long(ended: &ContainerStateTerminated) -> bool {
    match (&ended.started_at, &ended.finished_at) {
        (Some(a), Some(b)) => b.0.as_second() - a.0.as_second() > 600,
        _ => false,
    }
}

/// Before a restart: none after the first crash, then CrashLoopBackOff
/// for 10 s, 20 s, ... (`crashes` is how many came before this one).
async fn back_off(ctx: &PodCtx, c: &Container, init: bool, ended: &ContainerStateTerminated, crashes: u32) {
    let base = ctx.sim.config.backoff;
    let delay = if crashes == 0 { Duration::ZERO } else { (base * 2u32.saturating_pow(crashes - 1)).min(MAX_BACKOFF) };
    let last = Some(ContainerState { terminated: Some(ended.clone()), ..Default::default() });
    if delay.is_zero() {
        ctx.set_container(init, &c.name, |s| {
            s.state = last.clone();
            s.ready = false;
        });
        return;
    }
    let message =
        format!("back-off {} restarting failed container={} pod={}", go_duration(delay), c.name, ctx.display());
    ctx.set_container(init, &c.name, |s| {
        s.state = waiting("CrashLoopBackOff", Some(message.clone()));
        s.last_state = last.clone();
        s.ready = false;
        s.started = Some(false);
    });
    let what = format!("Back-off restarting failed container {} in pod {}", c.name, ctx.display());
    ctx.event(Some((init, c.name.as_str())), "Warning", "BackOff", &what);
    tokio::time::sleep(delay).await;
}
