//! Processes in the pod's container, started through the API server's
//! `exec` (WebSocket, `v5.channel.k8s.io`): the DAP relay, the readiness
//! waiter, the file commands. Kubernetes' exec has no environment, so
//! variables are passed through `env`.
//!
//! kube's `AttachedProcess` runs the WebSocket in a task that is aborted
//! when it is dropped: a `Link`'s reader owns it, so the process lives as
//! long as its output is read. Its stdin is a pipe that only ends with an
//! explicit shutdown, so the `Link`'s writer is a pipe of dockdap's own
//! whose end (drop) is carried over as that shutdown: the relay program
//! sees its stdin close when the session lets go of the link.

use std::pin::Pin;
use std::task::{Context, Poll};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use super::cluster::Cluster;
use crate::runtime::{ContainerError, Link};
use crate::tasks::Tasks;

/// Bytes the WebSocket task may hold per stream before it waits for a reader.
const PIPE: usize = 256 * 1024;

/// Where processes start: one container of one pod.
#[derive(Debug, Clone)]
pub(crate) struct PodRef {
    pub cluster: Cluster,
    pub api: Api<Pod>,
    pub pod: String,
    pub container: String,
}

impl PodRef {
    /// The pod `pod`'s container `container` in the cluster's namespace.
    pub fn new(cluster: Cluster, pod: String, container: String) -> PodRef {
        let api = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        PodRef { cluster, api, pod, container }
    }

    /// `pod/NAME` in `NAMESPACE`, for messages.
    pub fn describe(&self) -> String {
        format!("pod {} (container {}, namespace {})", self.pod, self.container, self.cluster.namespace)
    }

    async fn start(&self, command: Vec<String>, stdin: bool, stderr: bool) -> Result<AttachedProcess, ContainerError> {
        let params = AttachParams {
            container: Some(self.container.clone()),
            stdin,
            stdout: true,
            stderr,
            tty: false,
            max_stdin_buf_size: Some(PIPE),
            max_stdout_buf_size: Some(PIPE),
            max_stderr_buf_size: Some(PIPE),
        };
        tracing::debug!(pod = %self.pod, ?command, "exec");
        self.api
            .exec(&self.pod, command, &params)
            .await
            .map_err(|e| self.cluster.error(e, &format!("pod {:?}", self.pod), "exec into the pod (pods/exec)"))
    }

    /// Starts `command` with `env` (`K=V`) and returns its stdout and stdin.
    /// The task carrying stdin runs on `tasks`.
    pub async fn link(&self, command: Vec<String>, env: Vec<String>, tasks: &Tasks) -> Result<Link, ContainerError> {
        let mut process = self.start(with_env(command, env), true, false).await?;
        let (Some(stdout), Some(mut stdin)) = (process.stdout(), process.stdin()) else {
            return Err(ContainerError::Unusable("the exec stream has no stdin or stdout".into()));
        };
        let (ours, mut theirs) = tokio::io::duplex(PIPE);
        tasks.spawn(async move {
            let _ = tokio::io::copy(&mut theirs, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
        let (_, writer) = tokio::io::split(ours);
        Ok(Link { reader: Box::new(Output { stdout, _process: process }), writer: Box::new(writer) })
    }

    /// Runs `command` to its end with `input` on its stdin, reading at most
    /// `max` bytes of stdout (more is an error); returns the exit code and
    /// stdout, and stderr's start for messages.
    pub async fn run(
        &self,
        command: &[&str],
        input: Option<bytes::Bytes>,
        max: u64,
    ) -> Result<(i64, Vec<u8>, String), ContainerError> {
        let command: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        let mut process = self.start(command.clone(), input.is_some(), true).await?;
        let status = process.take_status();
        let stdout = process.stdout();
        let stderr = process.stderr();
        let stdin = process.stdin();
        let feed = async move {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let read_out = async move {
            let mut out = Vec::new();
            if let Some(stdout) = stdout {
                stdout.take(max.saturating_add(1)).read_to_end(&mut out).await.map(|_| out)
            } else {
                Ok(out)
            }
        };
        let read_err = async move {
            let mut err = Vec::new();
            if let Some(stderr) = stderr {
                let _ = stderr.take(64 * 1024).read_to_end(&mut err).await;
            }
            String::from_utf8_lossy(&err).into_owned()
        };
        let ((), out, err) = tokio::join!(feed, read_out, read_err);
        let out =
            out.map_err(|e| ContainerError::Unusable(format!("reading {:?} in {}: {e}", command, self.describe())))?;
        if u64::try_from(out.len()).unwrap_or(u64::MAX) > max {
            process.abort();
            return Err(ContainerError::Unusable(format!(
                "{:?} in {} printed more than {max} bytes; it is not copied",
                command.join(" "),
                self.describe()
            )));
        }
        let code = match status {
            Some(status) => exit_code(status.await),
            None => 0,
        };
        Ok((code, out, err))
    }

    /// `run` without input, stdout as text.
    pub async fn run_text(&self, command: &[&str]) -> Result<(i64, String), ContainerError> {
        let (code, out, _) = self.run(command, None, 64 * 1024 * 1024).await?;
        Ok((code, String::from_utf8_lossy(&out).into_owned()))
    }
}

/// `env K=V... COMMAND`, or the command alone.
fn with_env(command: Vec<String>, env: Vec<String>) -> Vec<String> {
    if env.is_empty() {
        return command;
    }
    let mut all = vec!["env".to_owned()];
    all.extend(env);
    all.extend(command);
    all
}

/// The exit code a `Status` on the error channel carries: `Success` is 0,
/// `NonZeroExitCode` has it as a cause; anything else (the process could not
/// start: no such file) counts as 126, as a shell says.
fn exit_code(status: Option<Status>) -> i64 {
    let Some(status) = status else { return -1 };
    if status.status.as_deref() == Some("Success") {
        return 0;
    }
    let cause = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter().flatten())
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok());
    match cause {
        Some(code) => code,
        None => {
            tracing::debug!(message = ?status.message, "exec failed");
            126
        }
    }
}

/// A process's stdout that keeps the process (its WebSocket) alive.
struct Output {
    stdout: tokio::io::ReadHalf<tokio::io::SimplexStream>,
    _process: AttachedProcess,
}

impl AsyncRead for Output {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_goes_through_env() {
        let cmd = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(with_env(cmd(&["python3"]), vec![]), cmd(&["python3"]));
        assert_eq!(with_env(cmd(&["python3", "-c", "x"]), cmd(&["A=1"])), cmd(&["env", "A=1", "python3", "-c", "x"]));
    }
}
