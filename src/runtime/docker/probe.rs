//! Throwaway containers: run a short Python program in an image, read what
//! it printed, and remove the container, whatever happens.
//!
//! `dockdap doctor` looks into an image this way (Python's version, debugpy,
//! the app root, the entry script, the model directory) and dry-runs
//! `init()`. The container runs the image's own Python (`python3`, else
//! `python`) as its entrypoint, so an image's entrypoint script does not
//! start the service; it is labelled like every container dockdap creates,
//! so one left behind by a killed dockdap is reaped, and it is never given
//! a published port.
//!
//! This module runs what it is given; what the program does is the caller's.

use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::engine::{ContainerError, Engine, Subject};
use crate::runtime::labels;

/// What to run.
#[derive(Debug, Clone)]
pub struct PythonProgram {
    /// The image.
    pub image: String,
    /// The program text (`python -c TEXT`).
    pub code: String,
    /// Its arguments (`sys.argv[1:]`).
    pub args: Vec<String>,
    /// Environment added to the image's, as `K=V`.
    pub env: Vec<String>,
    /// The working directory (the image's when `None`).
    pub working_dir: Option<String>,
    /// Run it without a network.
    pub no_network: bool,
    /// How long it may run before it is killed.
    pub timeout: Duration,
}

/// How a program ended and what it printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramRun {
    /// The interpreter that ran it (`python3` or `python`).
    pub python: String,
    /// Its exit code; `None` when it was killed for taking too long.
    pub code: Option<i64>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `program` in a new container from its image with the image's
/// Python, and removes the container. `Ok(None)` when the image has no
/// Python on its `PATH`.
pub async fn run_python(
    engine: &Engine,
    program: &PythonProgram,
    cancel: &CancellationToken,
) -> Result<Option<ProgramRun>, ContainerError> {
    for python in ["python3", "python"] {
        match run_once(engine, program, python, cancel).await? {
            Some(run) => return Ok(Some(run)),
            None => continue,
        }
    }
    Ok(None)
}

/// One try with one interpreter name; `Ok(None)` if it is not in the image.
async fn run_once(
    engine: &Engine,
    program: &PythonProgram,
    python: &str,
    cancel: &CancellationToken,
) -> Result<Option<ProgramRun>, ContainerError> {
    let mut cmd = vec!["-c".to_owned(), program.code.clone()];
    cmd.extend(program.args.iter().cloned());
    let mut env = program.env.clone();
    // dockdap's bootstrap, if the image carries it, leaves DOCKDAP_ROLE processes alone.
    env.push("DOCKDAP_ROLE=probe".to_owned());
    let body = ContainerCreateBody {
        image: Some(program.image.clone()),
        entrypoint: Some(vec![python.to_owned()]),
        cmd: Some(cmd),
        env: Some(env),
        working_dir: program.working_dir.clone(),
        labels: Some(labels::labels(&labels::new_session_id(), &program.image)),
        network_disabled: program.no_network.then_some(true),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        host_config: Some(HostConfig {
            privileged: Some(false),
            auto_remove: Some(false),
            network_mode: program.no_network.then(|| "none".to_owned()),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_container(None::<CreateContainerOptions>, body)
        .await
        .map_err(|e| engine.error(e, Subject::Image(&program.image)))?;
    let result = tokio::select! {
        r = start_wait_read(engine, &created.id, program.timeout, python) => r,
        () = cancel.cancelled() => Err(ContainerError::Cancelled),
    };
    let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    if let Err(e) = engine.docker.remove_container(&created.id, Some(remove)).await {
        tracing::warn!(error = %e, id = %created.id, "could not remove a probe container; `dockdap reap` will");
    }
    result
}

async fn start_wait_read(
    engine: &Engine,
    id: &str,
    timeout: Duration,
    python: &str,
) -> Result<Option<ProgramRun>, ContainerError> {
    if let Err(e) = engine.docker.start_container(id, None::<StartContainerOptions>).await {
        let text = e.to_string();
        if text.contains("executable file not found") || text.contains("no such file or directory") {
            return Ok(None);
        }
        return Err(engine.error(e, Subject::Container(id)));
    }
    let wait = async {
        let mut wait = engine.docker.wait_container(id, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(engine.error(e, Subject::Container(id))),
            None => Err(ContainerError::Api("the engine stopped reporting on a probe container".into())),
        }
    };
    let code = match tokio::time::timeout(timeout, wait).await {
        Ok(code) => Some(code?),
        Err(_) => {
            let _ = engine.docker.kill_container(id, None::<bollard::query_parameters::KillContainerOptions>).await;
            None
        }
    };
    let mut run = ProgramRun { python: python.to_owned(), code, ..Default::default() };
    let options = LogsOptions { stdout: true, stderr: true, tail: "all".into(), ..Default::default() };
    let mut logs = engine.docker.logs(id, Some(options));
    while let Some(item) = logs.next().await {
        match item {
            Ok(bollard::container::LogOutput::StdOut { message })
            | Ok(bollard::container::LogOutput::Console { message }) => {
                run.stdout.push_str(&String::from_utf8_lossy(&message));
            }
            Ok(bollard::container::LogOutput::StdErr { message }) => {
                run.stderr.push_str(&String::from_utf8_lossy(&message));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "probe output ended early");
                break;
            }
        }
    }
    Ok(Some(run))
}
