//! The processes a benchmark runs: dockdap itself (`--listen`, one session
//! per connection, so its memory can be read from `/proc`), and debugpy on
//! this machine running `benches/workload.py`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak so far.
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of a process.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| l.strip_prefix(name)?.trim().strip_suffix("kB")?.trim().parse().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss_kib), Some(peak_kib)) => Ok(Memory { rss_kib, peak_kib }),
        _ => bail!("no VmRSS/VmHWM in /proc/{pid}/status"),
    }
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc/PID/stat")?;
    Ok(cpu_ticks(&stat))
}

/// The CPU time (user + system) in the text of a `/proc/PID/stat`.
pub fn cpu_ticks(stat: &str) -> Duration {
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports these in USER_HZ, which is 100 on every Linux ABI.
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// `dockdap --listen 127.0.0.1:0`, as an editor that speaks TCP would run it.
pub struct Listener {
    child: Option<Child>,
    pub pid: u32,
    pub addr: String,
    /// The last lines dockdap wrote on stderr (warnings, a panic), for errors.
    tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl Listener {
    pub async fn spawn(bin: &Path, cwd: &Path) -> anyhow::Result<Listener> {
        Listener::spawn_with_env(bin, cwd, &[]).await
    }

    /// `spawn` with variables set (an empty value removes the variable):
    /// `DOCKER_HOST` and friends for another engine.
    pub async fn spawn_with_env(bin: &Path, cwd: &Path, env: &[(String, String)]) -> anyhow::Result<Listener> {
        // The prefetch's counts at each session's end (`steps` prints them).
        let log =
            std::env::var("DOCKDAP_LOG").unwrap_or_else(|_| "dockdap=warn,dockdap::session::prefetch=info".into());
        let mut command = Command::new(bin);
        let (removed, set): (Vec<_>, Vec<_>) = env.iter().partition(|(_, value)| value.is_empty());
        removed.iter().for_each(|(key, _)| {
            command.env_remove(key);
        });
        // DOCKDAP_BENCH_LOG_FILE: dockdap's log (with DOCKDAP_LOG) goes there
        // instead of stderr, whole, to see where a part's time goes.
        if let Some(path) = std::env::var_os("DOCKDAP_BENCH_LOG_FILE") {
            command.arg("--log-file").arg(path);
        }
        let mut child = command
            .envs(set.into_iter().map(|(key, value)| (key, value)))
            .args(["--listen", "127.0.0.1:0"])
            .env("DOCKDAP_LOG", log)
            .env("NO_COLOR", "1")
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("dockdap exited at once")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("dockdap: listening on ") {
                    return Ok(addr.to_owned());
                }
            }
            bail!("dockdap exited without listening")
        })
        .await
        .context("dockdap did not say where it listens")??;
        // Keep draining its stderr (warnings), so it never blocks on a full
        // pipe, and keep the last lines for error messages.
        let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let keep = tail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut tail) = keep.lock() {
                    if tail.len() >= 40 {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        });
        Ok(Listener { child: Some(child), pid, addr, tail })
    }

    /// What dockdap said last on stderr.
    pub fn log(&self) -> String {
        let lines: Vec<String> = self.tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
        if lines.is_empty() {
            "dockdap said nothing on stderr".into()
        } else {
            format!("dockdap's stderr:\n{}", lines.join("\n"))
        }
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid)
    }

    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid)
    }

    /// SIGTERM (dockdap ends its sessions and removes their containers),
    /// then waits for it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
            if tokio::time::timeout(Duration::from_secs(45), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // An early return (an error) must not leave containers behind: the
        // same graceful stop as `stop`, synchronously.
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(45);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.start_kill();
        }
    }
}

/// `python3 -m debugpy --listen 127.0.0.1:PORT --wait-for-client workload.py`
/// in a folder of its own (the "container" side of the path mapping).
pub struct Debugpy {
    _child: Child,
    pub port: u16,
    /// The folder the workload runs from.
    pub app_root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Debugpy {
    /// Starts debugpy on the workload; `tune` puts dockdap's bootstrap
    /// (`sitecustomize.py`, TCP_NODELAY on debugpy's sockets) on its `PYTHONPATH`.
    pub fn start(python: &str, workload: &Path, tune: bool) -> anyhow::Result<Debugpy> {
        Debugpy::start_with(python, workload, tune, &[])
    }

    /// `start`, with arguments for the workload (`--steps`).
    pub fn start_with(python: &str, workload: &Path, tune: bool, args: &[&str]) -> anyhow::Result<Debugpy> {
        let dir = tempfile::tempdir()?;
        let app_root = dir.path().join("app");
        std::fs::create_dir_all(&app_root)?;
        std::fs::copy(workload, app_root.join("workload.py"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new(python);
        cmd.args(["-m", "debugpy", "--listen", &format!("127.0.0.1:{port}"), "--wait-for-client", "workload.py"])
            .args(args)
            .current_dir(&app_root)
            .env_remove("PYTHONPATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log"))?)
            .kill_on_drop(true);
        if tune {
            let tune_dir = dir.path().join("tune");
            std::fs::create_dir_all(&tune_dir)?;
            std::fs::write(tune_dir.join("sitecustomize.py"), dockdap::runtime::tune::SITECUSTOMIZE)?;
            cmd.env("PYTHONPATH", &tune_dir);
        }
        let child = cmd.spawn().with_context(|| format!("starting {python} -m debugpy"))?;
        Ok(Debugpy { _child: child, port, app_root, _dir: dir })
    }

    /// What debugpy said on stderr so far (for error messages).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("stderr.log")).unwrap_or_default();
        if text.trim().is_empty() {
            "debugpy said nothing on stderr".into()
        } else {
            format!("debugpy's stderr: {text}")
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
