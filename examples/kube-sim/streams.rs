//! `pods/exec` and `pods/attach` over WebSocket, with the
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` subprotocols: channel 0
//! stdin, 1 stdout, 2 stderr, 3 the error channel (a v1 `Status`: Success,
//! or Failure with reason NonZeroExitCode and the exit code as a cause),
//! 4 resize (applied to an exec's TTY), and in v5 channel 255, the client's
//! "close stream" signal (`[255, 0]` closes stdin).
//!
//! The process runs through `docker exec` (attach: `docker attach`) in the
//! pod container's current Docker container. The older protocols
//! (`channel.k8s.io`, v2, v3), the base64 variants and SPDY are not served.

use std::sync::Arc;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::{AttachContainerOptions, InspectContainerOptions, ResizeExecOptions};
use futures_util::{SinkExt, Stream, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::errors::ApiError;
use crate::http::{Query, Reply};
use crate::kinds::Kind;
use crate::router::Target;
use crate::sim::Sim;
use crate::ws::{self, Socket};

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

type Output = std::pin::Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = std::pin::Pin<Box<dyn AsyncWrite + Send>>;

/// The container a request means: the named one, or the only one.
pub fn pick_container(pod: &Value, wanted: Option<&str>) -> Result<String, ApiError> {
    let name = crate::store::name_of(pod);
    let names: Vec<String> = ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array).cloned())
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let apps = pod.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) if names.iter().any(|n| n == w) => Ok(w.to_owned()),
        Some(w) => Err(ApiError::bad_request(format!("container {w} is not valid for pod {name}"))),
        None if apps == 1 => Ok(names[0].clone()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names[..apps].join(" ")
        ))),
    }
}

struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

/// What runs behind the socket.
enum Process {
    Exec { id: String, command: Vec<String> },
    Attach { container: String },
}

pub async fn serve(sim: Arc<Sim>, target: Target, query: Query, mut req: Request<Incoming>) -> Result<Reply, ApiError> {
    let (ns, name) = (target.ns().to_owned(), target.name.clone().unwrap_or_default());
    let pod = sim.store.get(Kind::Pod, &ns, &name).ok_or_else(|| ApiError::not_found(Kind::Pod, &name))?;
    let container = pick_container(&pod, query.get("container"))?;
    let streams = Streams {
        stdin: query.flag("stdin"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        tty: query.flag("tty"),
    };
    if !streams.stdin && !streams.stdout && !streams.stderr {
        return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
    }
    let docker_id = sim.kubelet.container_id(&sim, &ns, &name, &container, false)?;
    let running = sim
        .docker
        .inspect_container(&docker_id, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|i| i.state)
        .and_then(|s| s.running)
        .unwrap_or(false);
    if !running {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let offered = ws::offered(&req);
    let protocol = offered.iter().find(|p| *p == V5 || *p == V4).cloned().ok_or_else(|| {
        ApiError::bad_request(format!("kube-sim serves {V5} and {V4}; the client offered [{}]", offered.join(", ")))
    })?;
    let process = if target.subresource.as_deref() == Some("exec") {
        let command: Vec<String> = query.all("command").into_iter().map(str::to_owned).collect();
        if command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least one command for the container"));
        }
        let options = CreateExecOptions {
            cmd: Some(command.clone()),
            attach_stdin: Some(streams.stdin),
            attach_stdout: Some(streams.stdout),
            attach_stderr: Some(streams.stderr && !streams.tty),
            tty: Some(streams.tty),
            ..Default::default()
        };
        let exec = sim
            .docker
            .create_exec(&docker_id, options)
            .await
            .map_err(|e| ApiError::internal(format!("error executing command in container: {e}")))?;
        Process::Exec { id: exec.id, command }
    } else {
        Process::Attach { container: docker_id }
    };
    let (reply, socket) = ws::accept(&mut req, Some(&protocol))?;
    let v5 = protocol == V5;
    let tasks = sim.tasks.clone();
    tasks.spawn(async move {
        if let Some(socket) = socket.await
            && let Err(e) = run(&sim, socket, process, streams, v5).await
        {
            tracing::debug!(error = %e, "exec/attach stream ended with an error");
        }
    });
    Ok(reply)
}

async fn open(sim: &Sim, process: &Process, streams: &Streams) -> Result<(Output, Option<Input>), String> {
    match process {
        Process::Exec { id, .. } => {
            let options = StartExecOptions { detach: false, tty: streams.tty, output_capacity: None };
            match sim.docker.start_exec(id, Some(options)).await.map_err(|e| e.to_string())? {
                StartExecResults::Attached { output, input } => Ok((output, Some(input))),
                StartExecResults::Detached => Err("docker exec did not attach".into()),
            }
        }
        Process::Attach { container } => {
            let options = AttachContainerOptions {
                stream: true,
                stdin: streams.stdin,
                stdout: streams.stdout,
                stderr: streams.stderr,
                logs: false,
                ..Default::default()
            };
            let attached = sim.docker.attach_container(container, Some(options)).await.map_err(|e| e.to_string())?;
            Ok((attached.output, Some(attached.input)))
        }
    }
}

/// The error channel's last word: how the process ended.
async fn final_status(sim: &Sim, process: &Process) -> Value {
    let code = match process {
        Process::Exec { id, .. } => sim.docker.inspect_exec(id).await.ok().and_then(|i| i.exit_code).unwrap_or(0),
        Process::Attach { .. } => 0,
    };
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    let command = match process {
        Process::Exec { command, .. } => command.join(" "),
        Process::Attach { .. } => String::new(),
    };
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{command}], exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

async fn run(sim: &Sim, socket: Socket, process: Process, streams: Streams, v5: bool) -> Result<(), String> {
    let (mut sink, mut source) = socket.split();
    let (mut output, input) = match open(sim, &process, &streams).await {
        Ok(opened) => opened,
        Err(e) => {
            let status =
                json!({"metadata": {}, "status": "Failure", "message": e, "reason": "InternalError", "code": 500});
            ws::send(&mut sink, ERROR, status.to_string().as_bytes()).await;
            let _ = sink.close().await;
            return Err(e);
        }
    };
    // The server's first message: an empty one on the lowest writable channel.
    let first = if streams.stdout {
        STDOUT
    } else if streams.stderr {
        STDERR
    } else {
        ERROR
    };
    ws::send(&mut sink, first, &[]).await;

    let exec_id = match &process {
        Process::Exec { id, .. } => Some(id.clone()),
        Process::Attach { .. } => None,
    };
    let read_client = read_client(sim, &mut source, input.filter(|_| streams.stdin), exec_id.as_deref(), v5);
    let forward = async {
        while let Some(chunk) = output.next().await {
            let (channel, bytes) = match chunk {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => (STDOUT, message),
                Ok(LogOutput::StdErr { message }) => (STDERR, message),
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(_) => break,
            };
            if !ws::send(&mut sink, channel, &bytes).await {
                return false;
            }
        }
        true
    };
    tokio::pin!(read_client);
    let client_there = tokio::select! {
        there = forward => there,
        _ = &mut read_client => false,
    };
    if client_there {
        let status = final_status(sim, &process).await;
        ws::send(&mut sink, ERROR, status.to_string().as_bytes()).await;
        let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = sink.send(Message::Close(Some(close))).await;
        // Let the client answer the close (bounded).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), read_client).await;
    }
    Ok(())
}

async fn resize(sim: &Sim, exec: Option<&str>, data: &[u8]) {
    let (Some(exec), Ok(size)) = (exec, serde_json::from_slice::<Value>(data)) else { return };
    let dim = |k: &str| size.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
    let options = ResizeExecOptions { h: dim("Height"), w: dim("Width") };
    if options.h > 0 && options.w > 0 {
        let _ = sim.docker.resize_exec(exec, options).await;
    }
}

/// Reads the client's messages until it closes: stdin data (binary or text
/// frames: the Python client sends `str` input as text, and the API server
/// reads both), v5's close signal for stdin, and resize requests.
async fn read_client(
    sim: &Sim,
    source: &mut futures_util::stream::SplitStream<Socket>,
    mut input: Option<Input>,
    exec_id: Option<&str>,
    v5: bool,
) {
    while let Some(message) = source.next().await {
        let data = match message {
            Ok(Message::Binary(data)) => data,
            Ok(Message::Text(text)) => bytes::Bytes::from(text.as_str().as_bytes().to_vec()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        match (data.first().copied(), input.as_mut()) {
            (Some(STDIN), Some(writer)) => {
                let written = writer.write_all(&data[1..]).await.is_ok() && writer.flush().await.is_ok();
                if !written {
                    input = None;
                }
            }
            (Some(CLOSE), Some(writer)) if v5 && data.get(1) == Some(&STDIN) => {
                let _ = writer.shutdown().await;
                input = None;
            }
            (Some(RESIZE), _) => resize(sim, exec_id, &data[1..]).await,
            _ => {}
        }
    }
}
