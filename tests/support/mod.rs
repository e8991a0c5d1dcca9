//! Shared helpers for the integration tests: finding a Python with debugpy,
//! starting real processes, and driving dockdap over its real transports.
//!
//! Tests that need something from the machine (debugpy, a Docker Engine)
//! fail loudly under `CI=true` when it is missing, and say so on stderr and
//! skip elsewhere.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

pub mod edit;
pub mod engines;
#[allow(clippy::duplicate_mod)] // benches/suite/kube.rs includes it too
pub mod kube_sim_bin;
pub mod score;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dockdap::client::DapClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Per-wait timeout for test conversations.
pub const WAIT: Duration = Duration::from_secs(30);

/// Whether we run under CI, where missing prerequisites are failures.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns `true` if the test should go on; fails under CI, skips loudly elsewhere.
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if under_ci() {
        panic!("{what} is required under CI=true but is missing; .ci/run installs it");
    }
    eprintln!("SKIPPED: {what} is missing on this machine (under CI=true this test fails instead)");
    false
}

/// The Python interpreter the tests use (`DOCKDAP_TEST_PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("DOCKDAP_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether `python()` can import debugpy.
pub fn have_debugpy() -> bool {
    std::process::Command::new(python())
        .args(["-c", "import debugpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The fixture app's folder.
pub fn fixture_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app")
}

/// The 1-based line of `marker` in `file`.
pub fn line_of(file: &Path, marker: &str) -> i64 {
    let text = std::fs::read_to_string(file).unwrap();
    let index = text.lines().position(|l| l.contains(marker)).unwrap_or_else(|| panic!("{marker} not in {file:?}"));
    index as i64 + 1
}

/// Two copies of the fixture app: one that debugpy runs (standing in for
/// `/var/azureml-app`) and one the editor sees (the workspace).
pub struct TwoTrees {
    pub _dir: tempfile::TempDir,
    pub app_root: PathBuf,
    pub workspace: PathBuf,
}

pub fn two_trees() -> TwoTrees {
    let dir = tempfile::tempdir().unwrap();
    let app_root = dir.path().join("var/azureml-app");
    let workspace = dir.path().join("home/user/project");
    for root in [&app_root, &workspace] {
        std::fs::create_dir_all(root).unwrap();
        std::fs::copy(fixture_app().join("app.py"), root.join("app.py")).unwrap();
    }
    TwoTrees { _dir: dir, app_root, workspace }
}

/// A real `python -m debugpy --listen 127.0.0.1:PORT --wait-for-client app.py`.
pub struct Debugpy {
    pub child: Child,
    pub port: u16,
}

pub async fn start_debugpy(app_root: &Path) -> Debugpy {
    let port = free_port();
    let child = Command::new(python())
        .args(["-m", "debugpy", "--listen", &format!("127.0.0.1:{port}"), "--wait-for-client", "app.py"])
        .current_dir(app_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Debugpy { child, port }
}

/// The dockdap binary under test.
pub fn dockdap_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dockdap"))
}

/// dockdap in stdio mode, with a client on its stdin/stdout. Logs at trace
/// level go to stderr, so a stray log line on stdout would break the framing.
pub fn spawn_stdio(cwd: &Path) -> (Child, DapClient) {
    spawn_stdio_with(cwd, &[])
}

/// `spawn_stdio` with more environment variables for dockdap.
pub fn spawn_stdio_env(cwd: &Path, env: &[(&str, &std::ffi::OsStr)]) -> (Child, DapClient) {
    let env: Vec<(String, String)> =
        env.iter().map(|(key, value)| ((*key).to_owned(), value.to_string_lossy().into_owned())).collect();
    spawn_stdio_with(cwd, &env)
}

/// `spawn_stdio` with these environment variables set (an empty value
/// removes the variable).
pub fn spawn_stdio_with(cwd: &Path, env: &[(String, String)]) -> (Child, DapClient) {
    let (child, client, _) = spawn_stdio_keeping(cwd, env, false);
    (child, client)
}

/// Log lines of a dockdap process, as they come.
pub type Logs = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// `spawn_stdio_with`, and dockdap's log lines (`dockdap=trace`) as they come.
pub fn spawn_stdio_logged(cwd: &Path, env: &[(String, String)]) -> (Child, DapClient, Logs) {
    spawn_stdio_keeping(cwd, env, true)
}

fn spawn_stdio_keeping(cwd: &Path, env: &[(String, String)], keep: bool) -> (Child, DapClient, Logs) {
    spawn_stdio_command(Command::new(dockdap_bin()), cwd, env, keep)
}

/// `spawn_stdio_logged` for a dockdap started by `command` (another build
/// of it, or the same under a wrapper such as Wine).
pub fn spawn_stdio_command(
    mut command: Command,
    cwd: &Path,
    env: &[(String, String)],
    keep: bool,
) -> (Child, DapClient, Logs) {
    let logs = Logs::default();
    for (key, value) in env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    let mut child = command
        .current_dir(cwd)
        .env("DOCKDAP_LOG", "dockdap=trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let kept = logs.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var("DOCKDAP_TEST_SHOW_LOGS").is_ok() {
                eprintln!("[dockdap] {line}");
            }
            if keep {
                kept.lock().unwrap().push(line);
            }
        }
    });
    (child, DapClient::new(Box::new(stdout), Box::new(stdin), WAIT), logs)
}

/// dockdap in `--listen 127.0.0.1:0` mode; returns the child and the address it printed.
pub async fn spawn_listener(cwd: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(dockdap_bin())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(extra)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("dockdap: listening on ") {
                return addr.to_owned();
            }
        }
        panic!("dockdap exited without listening");
    })
    .await
    .expect("dockdap did not say where it listens");
    let show = std::env::var("DOCKDAP_TEST_SHOW_LOGS").is_ok();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if show {
                eprintln!("[dockdap] {line}");
            }
        }
    });
    (child, addr)
}

/// A client connected to a TCP address.
pub async fn connect_client(addr: &str) -> DapClient {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (r, w) = stream.into_split();
    DapClient::new(Box::new(r), Box::new(w), WAIT)
}

/// The example deployment (the workspace in Docker tests).
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/azureml-score")
}

/// The example's debug image.
pub const DEBUG_IMAGE: &str = "dockdap/azureml-score:debug";

/// Whether a Docker Engine answers.
pub fn have_docker() -> bool {
    std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the engine has this image.
pub fn have_image(image: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Docker tests go on only with an engine and the example image; under CI both must be there.
pub fn require_docker() -> bool {
    require("a Docker Engine", have_docker())
        && require(&format!("the image {DEBUG_IMAGE} (built by images/build-images.sh)"), have_image(DEBUG_IMAGE))
}

/// `docker inspect` of a container, or None if it does not exist.
pub fn inspect_container(name: &str) -> Option<serde_json::Value> {
    let out = std::process::Command::new("docker").args(["container", "inspect", name]).output().unwrap();
    if !out.status.success() {
        return None;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.get(0).cloned()
}

/// Waits (polling every 20 ms) until `ok` holds; how long it took, or `None` after `within`.
pub async fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> Option<Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if ok() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Waits until a container no longer exists.
pub async fn wait_gone(name: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if inspect_container(name).is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The example's image without debugpy.
pub const STOCK_IMAGE: &str = "dockdap/azureml-score:stock";

/// Removes a container the test created itself, even if the test panics.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Sends `command` (`launch` or `attach`) with `args`; once debugpy says
/// `initialized`, sets breakpoints at `lines` of `source` and sends
/// `configurationDone`; returns the response's `dockdap` body (container,
/// ports). Panics with dockdap's message when the request fails.
pub async fn start_with_breakpoints(
    client: &mut DapClient,
    command: &str,
    args: serde_json::Value,
    source: &Path,
    lines: &[i64],
) -> serde_json::Value {
    let request = client.send_request(command, args).await.unwrap();
    let first = client
        .wait_for("initialized", |m| m.is_event("initialized") || m.request_seq() == Some(request))
        .await
        .unwrap();
    assert!(first.is_event("initialized"), "{command} failed: {:?}", first.field::<String>("message"));
    let breakpoints: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::json!({"line": l})).collect();
    client
        .request("setBreakpoints", serde_json::json!({"source": {"path": source}, "breakpoints": breakpoints}))
        .await
        .unwrap();
    client.request("configurationDone", serde_json::json!({})).await.unwrap();
    let answer = client.wait_response(request).await.unwrap();
    let body: serde_json::Value = answer.field("body").unwrap().unwrap_or_default();
    body["dockdap"].clone()
}

/// After `initialized`: sets one breakpoint on the example's line marked
/// `marker`, sends `configurationDone`, waits for the answer to the
/// launch/attach request `request`, and waits until the debuggee stops.
/// Returns the stopped thread's id.
pub async fn break_at_marker_and_stop(client: &mut DapClient, request: i64, marker: &str) -> i64 {
    let score = example_dir().join("score.py");
    let line = line_of(&score, marker);
    client
        .request("setBreakpoints", serde_json::json!({"source": {"path": score}, "breakpoints": [{"line": line}]}))
        .await
        .unwrap();
    client.request("configurationDone", serde_json::json!({})).await.unwrap();
    client.wait_response(request).await.unwrap();
    let stopped = client.wait_event("stopped").await.unwrap();
    let body: serde_json::Value = stopped.field("body").unwrap().unwrap_or_default();
    body["threadId"].as_i64().unwrap()
}

/// The Kubernetes API simulation (`examples/kube-sim`): one process per
/// test binary, shared by its tests (each in a namespace of its own), and
/// ended when the test binary exits (its stdin closes).
pub struct KubeSim {
    /// The kubeconfig whose current context is the simulation.
    pub kubeconfig: PathBuf,
    /// The simulation's log (stderr).
    pub log: PathBuf,
    _stdin: std::sync::Mutex<std::process::ChildStdin>,
    _child: std::sync::Mutex<std::process::Child>,
}

/// The image test pods run (it has python3, sh, tar and sleep).
pub const KUBE_SIM_IMAGE: &str = "dockdap/python:3.11-bookworm";

/// Whether kubectl runs (any version; the validation tests are written against 1.32).
pub fn have_kubectl() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Tests of the simulation go on only with a Docker Engine and the image test pods use.
pub fn require_kube_sim() -> bool {
    require("a Docker Engine", have_docker())
        && require(&format!("the image {KUBE_SIM_IMAGE} (built by images/build-images.sh)"), have_image(KUBE_SIM_IMAGE))
}

/// The simulation's binary (`kube_sim_bin`): built only when missing or
/// older than its sources.
fn kube_sim_binary() -> PathBuf {
    kube_sim_bin::kube_sim_binary(!cfg!(debug_assertions)).unwrap_or_else(|e| panic!("{e}"))
}

static KUBE_SIM: std::sync::OnceLock<KubeSim> = std::sync::OnceLock::new();

/// The simulation, started on first use (call `require_kube_sim` first).
pub fn kube_sim() -> &'static KubeSim {
    KUBE_SIM.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kube-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let log = dir.join("kube-sim.log");
        let mut child = std::process::Command::new(kube_sim_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !kubeconfig.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "kube-sim exited ({status}) before serving:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(std::time::Instant::now() < deadline, "kube-sim did not write its kubeconfig within 30s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let stdin = child.stdin.take().unwrap();
        KubeSim { kubeconfig, log, _stdin: std::sync::Mutex::new(stdin), _child: std::sync::Mutex::new(child) }
    })
}

impl KubeSim {
    /// `kubectl --kubeconfig KUBECONFIG`.
    pub fn kubectl(&self) -> std::process::Command {
        let mut command = std::process::Command::new("kubectl");
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// A fresh namespace for one test, deleted (with its pods) on drop.
    pub fn namespace(&'static self, test: &str) -> KubeNamespace {
        let name = format!("{}-{}", test.replace('_', "-"), std::process::id() % 100_000);
        let name: String = name.chars().take(50).collect::<String>().trim_end_matches('-').to_owned();
        let out = self.kubectl().args(["create", "namespace", &name]).output().unwrap();
        assert!(out.status.success(), "kubectl create namespace {name}: {}", String::from_utf8_lossy(&out.stderr));
        KubeNamespace { sim: self, name }
    }
}

/// A namespace of the simulation that a test owns.
pub struct KubeNamespace {
    pub sim: &'static KubeSim,
    pub name: String,
}

impl KubeNamespace {
    /// `kubectl --kubeconfig KUBECONFIG -n NAMESPACE`.
    pub fn kubectl(&self) -> std::process::Command {
        let mut command = self.sim.kubectl();
        command.args(["-n", &self.name]);
        command
    }
}

impl Drop for KubeNamespace {
    fn drop(&mut self) {
        let _ = self.sim.kubectl().args(["delete", "namespace", &self.name, "--wait=false"]).output();
    }
}

/// dockdap in `--listen 127.0.0.1:0` mode with debug logs; returns the
/// child, the address, and its log lines as they come.
pub async fn spawn_logged_listener(cwd: &Path) -> (Child, String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let mut child = Command::new(dockdap_bin())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .current_dir(cwd)
        .env("DOCKDAP_LOG", "dockdap=debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var("DOCKDAP_TEST_SHOW_LOGS").is_ok() {
                eprintln!("[dockdap] {line}");
            }
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let addr = tokio::time::timeout(WAIT, async {
        while let Some(line) = rx.recv().await {
            if let Some(addr) = line.strip_prefix("dockdap: listening on ") {
                return addr.to_owned();
            }
        }
        panic!("dockdap exited without listening");
    })
    .await
    .expect("dockdap did not say where it listens");
    (child, addr, rx)
}

/// The id of a container, from `docker ps` (which answers even when Docker
/// hangs on the container itself).
fn container_id(name: &str) -> Option<String> {
    let filter = format!("name=^{name}$");
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--filter", &filter, "--format", "{{.ID}}"])
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!id.is_empty()).then_some(id)
}

/// A `docker exec` that a `docker pause` caught half-started leaves its
/// `runc init` frozen, and Docker then hangs on every call for that
/// container (runc#2753; ARCHITECTURE.md). This finds such a process in
/// the container's cgroup and thaws the container's freezer (cgroup v1 or
/// v2), so that the container can be removed. Returns whether one was
/// frozen; needs root (as the test machines run).
pub fn thaw_frozen_exec(name: &str) -> bool {
    let Some(id) = container_id(name) else { return false };
    let frozen_init = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let dir = entry.path();
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("");
        cmdline.starts_with(b"runc\0init") && cgroup.contains(&id) && state == "D"
    });
    if !frozen_init {
        return false;
    }
    eprintln!("a pause froze a docker exec half-started in {name} (runc#2753); thawing its freezer cgroup");
    let v1 = format!("/sys/fs/cgroup/freezer/docker/{id}/freezer.state");
    let v2 = format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/cgroup.freeze");
    let thawed = std::fs::write(&v1, "THAWED").is_ok() || std::fs::write(&v2, "0").is_ok();
    assert!(thawed, "cannot thaw {name}: neither {v1} nor {v2} could be written");
    true
}

/// Whether `docker ps` and `docker inspect NAME` both answer within 20 s.
pub async fn docker_answers(name: &str) -> bool {
    for args in [vec!["ps", "-q"], vec!["inspect", "--format", "{{.State.Status}}", name]] {
        let run = tokio::process::Command::new("docker")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status();
        if tokio::time::timeout(Duration::from_secs(20), run).await.is_err() {
            eprintln!("`docker {}` hangs", args.join(" "));
            return false;
        }
    }
    true
}

/// The text of the `output` events among `messages` (what a debug console shows).
pub fn output_lines(messages: &[dockdap::dap::Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.is_event("output"))
        .filter_map(|m| {
            let body: serde_json::Value = m.field("body").ok().flatten()?;
            body["output"].as_str().map(str::to_owned)
        })
        .collect()
}
