//! How this machine reaches an engine: whether the engine shares this
//! machine's loopback (so a port it publishes on 127.0.0.1 is ours), and what
//! a failed SSH connection was about.
//!
//! Local or remote is decided by what the engine is, never by its name: a
//! Unix socket is local unless the process serving it lives in another
//! network namespace (a rootless Docker's namespace is bridged back by
//! RootlessKit, so that one counts as local); a TCP or SSH engine is local
//! when the address it is reached at belongs to this machine (loopback, or an
//! address this machine can bind). `ssh://localhost` and `tcp://127.0.0.1`
//! are local, `ssh://root@10.0.0.2` is remote unless 10.0.0.2 is ours.
//!
//! Does not forward ports or refuse transports: the session does that with
//! the answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bollard::Docker;

use super::discover::Address;

/// Whether the engine shares this machine's loopback interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locality {
    /// Ports it publishes on 127.0.0.1 are reachable here.
    Local,
    /// Its 127.0.0.1 is not this machine's.
    Remote {
        /// Why dockdap thinks so, for messages ("... is not an address of this machine").
        why: String,
    },
}

impl Locality {
    /// Whether the engine is elsewhere.
    pub fn is_remote(&self) -> bool {
        matches!(self, Locality::Remote { .. })
    }
}

/// Works out where the engine is; anything unknown counts as local, which
/// is what dockdap assumed before it asked.
pub async fn locality(address: &Address, docker: &Docker) -> Locality {
    match address {
        Address::Unix(path) => socket_locality(path, docker).await,
        // A pipe is served on this machine (Docker Desktop's VM forwards published ports to it).
        Address::NamedPipe(_) => Locality::Local,
        Address::Tcp { host, port, .. } => host_locality(host, *port, &address.url()).await,
        Address::Ssh { user, host, port } => {
            let name = ssh_hostname(user.as_deref(), host, *port).await.unwrap_or_else(|| host.clone());
            host_locality(&name, port.unwrap_or(22), &address.url()).await
        }
    }
}

/// A socket is local unless its server runs in another network namespace.
async fn socket_locality(path: &Path, docker: &Docker) -> Locality {
    let Some(pid) = socket_peer(path).await else {
        return Locality::Local;
    };
    let ours = std::fs::read_link("/proc/self/ns/net");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net"));
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) if ours != theirs => {
            if is_rootless(docker).await {
                return Locality::Local;
            }
            Locality::Remote {
                why: format!(
                    "the engine behind unix://{} (process {pid}) runs in another network namespace, so its 127.0.0.1 is not this machine's",
                    path.display()
                ),
            }
        }
        _ => Locality::Local,
    }
}

/// The process serving a Unix socket, when the kernel tells.
#[cfg(unix)]
async fn socket_peer(path: &Path) -> Option<i32> {
    let stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::UnixStream::connect(path)).await.ok()?.ok()?;
    stream.peer_cred().ok()?.pid().filter(|pid| *pid > 0)
}

/// No Unix sockets to ask on Windows.
#[cfg(not(unix))]
async fn socket_peer(_path: &Path) -> Option<i32> {
    None
}

/// Rootless Docker says so in its security options.
async fn is_rootless(docker: &Docker) -> bool {
    let Ok(info) = docker.info().await else {
        return false;
    };
    info.security_options.unwrap_or_default().iter().any(|o| o.contains("name=rootless"))
}

/// An engine reached at `host` is local when that host is this machine.
async fn host_locality(host: &str, port: u16, url: &str) -> Locality {
    let addresses: Vec<IpAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(found) => found.map(|a| a.ip()).collect(),
        Err(e) => {
            tracing::debug!(%host, error = %e, "cannot resolve the engine's host; taking it as local");
            return Locality::Local;
        }
    };
    if addresses.iter().any(|ip| is_this_machine(*ip)) {
        return Locality::Local;
    }
    let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    let resolved =
        if shown.len() == 1 && shown[0] == host { String::new() } else { format!(" ({})", shown.join(", ")) };
    Locality::Remote { why: format!("{url}: {host}{resolved} is not an address of this machine") }
}

/// Loopback, unspecified, or an address this machine can bind and sends
/// from when it talks to that address: one of ours. Binding alone is no
/// proof where any address binds (Linux with `ip_nonlocal_bind`, Wine).
fn is_this_machine(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || (std::net::UdpSocket::bind((ip, 0)).is_ok() && sends_from_itself(ip))
}

/// Whether a datagram to `ip` would leave from `ip` itself: the route to
/// one of this machine's own addresses does, to any other one does not.
/// Nothing is sent: connecting a UDP socket only picks the route.
fn sends_from_itself(ip: IpAddr) -> bool {
    let any: IpAddr = if ip.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let Ok(socket) = std::net::UdpSocket::bind((any, 0)) else { return false };
    socket.connect((ip, 9)).is_ok() && socket.local_addr().is_ok_and(|local| local.ip() == ip)
}

/// The host name `ssh` will really connect to (`ssh -G` applies
/// `~/.ssh/config`, where `Host` aliases live).
async fn ssh_hostname(user: Option<&str>, host: &str, port: Option<u16>) -> Option<String> {
    let mut command = tokio::process::Command::new("ssh");
    command.arg("-G").args(ssh_target(user, host, port));
    command.stdin(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(5), command.output()).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("hostname ")).map(str::to_owned)
}

/// `-l USER -p PORT -- HOST`, as the Docker CLI passes them.
pub(super) fn ssh_target(user: Option<&str>, host: &str, port: Option<u16>) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(user) = user {
        args.extend(["-l".to_owned(), user.to_owned()]);
    }
    if let Some(port) = port {
        args.extend(["-p".to_owned(), port.to_string()]);
    }
    args.extend(["--".to_owned(), host.to_owned()]);
    args
}

/// What went wrong over SSH, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTrouble {
    /// What `ssh` or the far side said.
    pub said: String,
    /// The fix.
    pub advice: String,
}

/// Runs what bollard ran (`ssh ... docker system dial-stdio`) once more, with
/// nothing on its input, to hear what `ssh` and the far side say; bollard's
/// connection only sees the stream close. `None` when that works.
pub async fn diagnose_ssh(user: Option<&str>, host: &str, port: Option<u16>) -> Option<SshTrouble> {
    let mut command = tokio::process::Command::new("ssh");
    command
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=15", "-T"])
        .args(ssh_target(user, host, port))
        .args(["docker", "system", "dial-stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(30), command.output()).await {
        Err(_) => return Some(SshTrouble { said: "ssh did not finish within 30s".into(), advice: UNREACHABLE.into() }),
        Ok(Err(e)) => {
            return Some(SshTrouble {
                said: format!("cannot run ssh: {e}"),
                advice: "install the OpenSSH client (`ssh`); dockdap uses it as the docker command does".into(),
            });
        }
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return None;
    }
    let said = summarize(&String::from_utf8_lossy(&out.stderr));
    let said = if said.is_empty() { format!("ssh exited with {}", out.status) } else { said };
    let target = match user {
        Some(user) => format!("{user}@{host}"),
        None => host.to_owned(),
    };
    Some(SshTrouble { advice: ssh_advice(&said, &target, host), said })
}

/// Phrases of `ssh` and of shells that name a cause.
const CAUSES: [&str; 10] = [
    "Permission denied",
    "Too many authentication failures",
    "Host key",
    "host key",
    "command not found",
    "not found",
    "Could not resolve",
    "Connection refused",
    "timed out",
    "Cannot connect to the Docker daemon",
];

/// `ssh`'s stderr on one line: the lines that name a cause (once each), else
/// the last three; banners (`@@@`) and "Permanently added" notes left out.
fn summarize(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@') && !l.starts_with("Warning: Permanently added"))
        .collect();
    let mut causes: Vec<&str> = Vec::new();
    for line in lines.iter().filter(|l| CAUSES.iter().any(|c| l.contains(c))) {
        if !causes.contains(line) {
            causes.push(line);
        }
    }
    let chosen = if causes.is_empty() { &lines[lines.len().saturating_sub(3)..] } else { &causes[..] };
    chosen.join(" / ")
}

const UNREACHABLE: &str = "check the host name and that its SSH server is reachable from here (`ssh HOST true`)";

/// The fix for what `ssh` said; `target` is `user@host`.
fn ssh_advice(said: &str, target: &str, host: &str) -> String {
    let has = |part: &str| said.contains(part);
    if has("Host key verification failed") || has("IDENTIFICATION HAS CHANGED") || has("host key") {
        format!(
            "ssh does not trust {host}'s host key; if the host was reinstalled, remove the old key (`ssh-keygen -R {host}`) and run `ssh {target} true` once to accept the new one"
        )
    } else if has("Permission denied") || has("Too many authentication failures") {
        format!(
            "the login was refused; dockdap runs ssh as the docker command does, without a terminal, so the key must work without a prompt (ssh-agent, or `IdentityFile` in ~/.ssh/config); try `ssh -o BatchMode=yes {target} docker version`"
        )
    } else if has("command not found") || has("docker: not found") {
        format!(
            "there is no `docker` command on {host} for non-interactive SSH sessions; install the Docker CLI there, or put its folder on the PATH that `ssh {target} docker version` sees"
        )
    } else if has("Cannot connect to the Docker daemon") || has("permission denied while trying to connect") {
        format!(
            "ssh works, but the docker command on {host} cannot use its engine; check it there with `ssh {target} docker version`"
        )
    } else if has("Could not resolve") || has("Connection refused") || has("timed out") || has("No route") {
        UNREACHABLE.replace("HOST", target)
    } else {
        format!("try `ssh {target} docker version` to see the same failure")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_get_the_fix_for_their_cause() {
        for (said, want) in [
            ("root@10.0.0.2: Permission denied (publickey).", "the login was refused"),
            ("Host key verification failed.", "ssh-keygen -R 10.0.0.2"),
            ("bash: line 1: docker: command not found", "no `docker` command on 10.0.0.2"),
            ("ssh: Could not resolve hostname nope: Name or service not known", "`ssh root@10.0.0.2 true`"),
            (
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
                "cannot use its engine",
            ),
            ("something new", "try `ssh root@10.0.0.2 docker version`"),
        ] {
            let advice = ssh_advice(said, "root@10.0.0.2", "10.0.0.2");
            assert!(advice.contains(want), "{said} -> {advice}");
        }
    }

    #[test]
    fn ssh_stderr_is_cut_to_its_cause() {
        let changed = "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nHost key for 10.0.0.2 has changed and you have requested strict checking.\nHost key verification failed.\n";
        assert_eq!(
            summarize(changed),
            "Host key for 10.0.0.2 has changed and you have requested strict checking. / Host key verification failed."
        );
        let noise = "/usr/bin/env: 'bash': No such file or directory\nbash: docker: command not found\n/usr/bin/env: 'bash': No such file or directory\n";
        assert_eq!(summarize(noise), "bash: docker: command not found");
        assert_eq!(
            summarize("Warning: Permanently added 'h' (ED25519) to the list of known hosts.\na\nb\nc\nd\n"),
            "b / c / d"
        );
    }

    #[test]
    fn loopback_and_own_addresses_are_this_machine() {
        assert!(is_this_machine("127.0.0.1".parse().unwrap()));
        assert!(is_this_machine("::1".parse().unwrap()));
        assert!(is_this_machine("0.0.0.0".parse().unwrap()));
        // TEST-NET-3 is never assigned to a machine (even where any address
        // can be bound: Wine, where CI runs the Windows build's tests).
        assert!(!is_this_machine("203.0.113.77".parse().unwrap()));
        // The address this machine sends from on its way out is its own.
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        if socket.connect("203.0.113.77:9").is_ok() {
            let own = socket.local_addr().unwrap().ip();
            assert!(own.is_unspecified() || is_this_machine(own), "{own}");
        }
    }

    #[test]
    fn ssh_arguments_are_the_cli_s() {
        assert_eq!(ssh_target(Some("root"), "h", Some(2222)), ["-l", "root", "-p", "2222", "--", "h"]);
        assert_eq!(ssh_target(None, "h", None), ["--", "h"]);
    }
}
