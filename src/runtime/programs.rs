//! The small Python programs dockdap runs inside a container, whatever the
//! runtime: the relay that carries DAP between a process's stdio and a port
//! in the container, the waiter that tells when debugpy listens, and sync's
//! watcher (`python/watcher.py`, read by `sync::watch`).
//!
//! They use nothing but the standard library and run on any Python 3 the
//! image has. They never connect to debugpy to find out whether it is
//! there: debugpy serves one client, and the first connection is the
//! session's.

/// Copies between stdin/stdout and a TCP port inside the container.
/// `os.read`/`os.write` avoid Python's buffering; TCP_NODELAY keeps
/// request round trips from waiting on Nagle's algorithm. When its stdin
/// ends (dockdap is done, or gone), the relay half-closes the connection,
/// lets debugpy's last words through for a moment, and exits: debugpy then
/// sees its client gone and serves the next one, instead of answering it
/// "already being debugged" while a forgotten relay holds the connection.
pub const RELAY: &str = r#"
import os, socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def to_port():
    while True:
        b = os.read(0, 65536)
        if not b:
            s.shutdown(socket.SHUT_WR)
            time.sleep(2)
            os._exit(0)
        s.sendall(b)
threading.Thread(target=to_port, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    os.write(1, b)
"#;

/// Many TCP connections to ports inside the container over one stdin and
/// stdout (`docker::mux`), so that a forwarded connection needs no Engine
/// API call of its own. Frames both ways: a 9-byte header (connection id
/// u32, kind u8, payload length u32, big-endian) and the payload. Kinds:
/// 1 open (payload: the port, in ASCII), 2 data, 3 end of data from that
/// side (a half-close), 4 close (from dockdap: forget it; from here: the
/// connection was refused, the payload says why). A connection's bytes
/// towards the port are written by the main loop (a slow port holds up the
/// others, as TCP would); each port's replies are read by a thread of its
/// own. When stdin ends (dockdap is done, or gone), it exits.
pub const MUX: &str = r#"
import os, socket, struct, threading
OPEN, DATA, SHUT, CLOSE = 1, 2, 3, 4
lock = threading.Lock()
conns = {}
def put(cid, kind, data=b""):
    view = memoryview(struct.pack(">IBI", cid, kind, len(data)) + data)
    with lock:
        while view:
            view = view[os.write(1, view):]
def take(n):
    buf = b""
    while len(buf) < n:
        b = os.read(0, n - len(buf))
        if not b:
            os._exit(0)
        buf += b
    return buf
def pump(cid, s):
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            put(cid, DATA, b)
    except OSError:
        pass
    put(cid, SHUT)
while True:
    cid, kind, n = struct.unpack(">IBI", take(9))
    data = take(n) if n else b""
    s = conns.get(cid)
    if kind == OPEN:
        try:
            s = socket.create_connection(("127.0.0.1", int(data)))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, ValueError) as e:
            put(cid, CLOSE, str(e).encode())
            continue
        conns[cid] = s
        threading.Thread(target=pump, args=(cid, s), daemon=True).start()
    elif s is None:
        continue
    elif kind == DATA:
        try:
            s.sendall(data)
        except OSError:
            pass
    elif kind == SHUT:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    elif kind == CLOSE:
        del conns[cid]
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
"#;

/// Waits until something listens on a TCP port inside the container (read
/// from the container's own `/proc/net/tcp` and `/proc/net/tcp6`, as
/// `ready::listening` reads them), then prints `listening` and exits 0.
/// Arguments: the port, how many seconds to wait (then it exits 2), and
/// optionally the socket tables to read (for tests). It
/// also ends when its stdin closes: dockdap stopped waiting. One process for
/// the whole wait, rather than one `cat` every 100 ms, keeps the moments a
/// `docker pause` can catch a process half-started (runc#2753) to one.
pub const WAITER: &str = r#"
import os, sys, threading, time
want = ":%04X" % int(sys.argv[1])
deadline = time.time() + float(sys.argv[2])
tables = sys.argv[3:] or ["/proc/net/tcp", "/proc/net/tcp6"]
def listening():
    for name in tables:
        try:
            with open(name) as table:
                for line in table:
                    cols = line.split()
                    if len(cols) > 3 and cols[3] == "0A" and cols[1].upper().endswith(want):
                        return True
        except OSError:
            pass
    return False
def watch_stdin():
    while os.read(0, 4096):
        pass
    os._exit(3)
threading.Thread(target=watch_stdin, daemon=True).start()
while not listening():
    if time.time() >= deadline:
        sys.exit(2)
    time.sleep(0.1)
os.write(1, b"listening\n")
"#;

/// Reports changes under a folder as JSON lines for as long as its stdin
/// is open: inotify through ctypes, else a stat walk; see the program's
/// header for its protocol and `sync::watch` for how it is read.
pub const WATCHER: &str = include_str!("python/watcher.py");

#[cfg(test)]
mod tests {
    use super::*;

    /// The waiter's reading of a socket table, run by this machine's Python
    /// on `ready`'s sample tables.
    #[test]
    fn the_waiter_reads_tables_as_ready_does() {
        let Ok(python) = which_python() else {
            eprintln!("SKIPPED: no python3 on this machine");
            return;
        };
        let check = |table: &str, port: u16| -> bool {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tcp");
            std::fs::write(&path, table).unwrap();
            let mut child = std::process::Command::new(&python)
                .args(["-c", WAITER, &port.to_string(), "0", &path.display().to_string()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Its stdin stays open while it looks, as in the container.
            let _stdin = child.stdin.take();
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            child.wait().unwrap();
            out == "listening\n"
        };
        for (table, port, expected) in crate::runtime::ready::SAMPLES {
            assert_eq!(check(table, *port), *expected, "port {port}");
        }
    }

    fn which_python() -> Result<String, std::io::Error> {
        std::process::Command::new("python3").arg("-c").arg("pass").status().map(|_| "python3".to_owned())
    }
}
