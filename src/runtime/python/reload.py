"""dockdap's reloader: finds the server that forks the app's workers and
reloads them in place, read from /proc (no `ps` needed).

    reload.py find [PORT]
        Prints one JSON line: {"server", "master", "workers", "adapters",
        "ours"} for the pre-forking server (gunicorn, which the Azure ML
        inference server runs), or {"error", "processes"} and exits 3 when
        there is none. `adapters` are the debugpy adapters that
        `debugpy.listen()` started in the workers: they end with their
        worker. `ours` are the debugpy adapters dockdap runs in the
        container (DOCKDAP_ROLE=adapter); with PORT, only those listening on
        it (the one the old worker connected to: the next one, which dockdap
        starts meanwhile, listens there only once attached).
    reload.py serve PORT
        `find PORT`, then waits for one line on stdin, `reload MASTER WAIT
        ENDS PID...`, and does what that command does (an empty stdin: it
        exits). dockdap runs it while the debugger is still attached, so
        the reload itself needs no process started once it has detached.
    reload.py reload MASTER WAIT ENDS PID...
        Ends the debugpy adapters dockdap ran in the container (ENDS: their
        pids, comma-separated, or "-"; debugger "azureml": one would keep
        the debug port open, and the new worker would connect to it instead
        of the next one), sends SIGHUP
        to MASTER (gunicorn's graceful reload: new workers are forked and
        import the app again, the old ones finish their request and exit),
        with WAIT 1 waits until every PID (the old workers and their own
        debugpy adapters) is gone, at most 30 s, and prints {"workers": [new PIDs], "waited":
        seconds, "left": [PIDs still there]}.

Processes dockdap runs itself (DOCKDAP_ROLE in their environment) are never
taken for the app. Nothing but the standard library.
"""

import json
import os
import signal
import sys
import time

SERVERS = (
    ("azureml_inference_server_http", "azmlinfsrv"),
    ("azmlinfsrv", "azmlinfsrv"),
    ("gunicorn", "gunicorn"),
)


def processes(role=None):
    """pid -> (ppid, command line) of the app's processes, or of dockdap's
    own processes of `role`."""
    me = os.getpid()
    mark = None if role is None else f"DOCKDAP_ROLE={role}".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = [w.decode("utf-8", "replace") for w in f.read().split(b"\0") if w]
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            environ = []
        ours = any(e.startswith(b"DOCKDAP_ROLE=") for e in environ)
        if words and (ours and mark in environ if role else not ours):
            found[pid] = (ppid, " ".join(words))
    return found


def server_of(command):
    if "debugpy/adapter" in command or "debugpy.adapter" in command:
        return None
    for needle, name in SERVERS:
        if needle in command:
            return name
    return None


def listening_sockets(port):
    """The inodes of the sockets listening on `port` (any address)."""
    want = ":%04X" % port
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if len(cols) > 9 and cols[3] == "0A" and cols[1].upper().endswith(want):
                        inodes.add(f"socket:[{cols[9]}]")
        except OSError:
            pass
    return inodes


def holds(pid, sockets):
    """Whether `pid` holds one of `sockets` (True when its descriptors
    cannot be read: ending one adapter too many is the old behaviour)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                return True
        except OSError:
            continue
    return False


def find(port=None):
    procs = processes()
    for pid in sorted(procs):
        ppid, command = procs[pid]
        server = server_of(command)
        if server is None or server_of(procs.get(ppid, (0, ""))[1]):
            continue
        workers = sorted(p for p, (pp, c) in procs.items() if pp == pid and server_of(c))
        if not workers:
            continue
        adapters = sorted(
            p for p, (_, c) in procs.items() if "--for-server" in c and ("debugpy/adapter" in c or "debugpy.adapter" in c)
        )
        ours = sorted(p for p, (_, c) in processes("adapter").items() if "debugpy" in c)
        if port is not None:
            sockets = listening_sockets(port)
            ours = [p for p in ours if holds(p, sockets)]
        return {"server": server, "master": pid, "workers": workers, "adapters": adapters, "ours": ours}
    return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def end_adapters(adapters):
    """Ends these debugpy adapters of dockdap's, and waits until they are
    gone (SIGKILL after 2 s)."""
    adapters = [p for p in adapters if alive(p)]
    for pid in adapters:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 2
    while any(alive(p) for p in adapters):
        if time.monotonic() > deadline:
            for pid in adapters:
                if alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            deadline += 5
        time.sleep(0.01)


def new_workers(master, old):
    return sorted(p for p, (pp, c) in processes().items() if pp == master and server_of(c) and p not in old)


def reload(master, wait, ends, old):
    start = time.monotonic()
    end_adapters(ends)
    os.kill(master, signal.SIGHUP)
    left = list(old) if wait else []
    workers = []
    while time.monotonic() - start < 30:
        left = [p for p in left if alive(p)]
        workers = workers or new_workers(master, old)
        if workers and not left:
            break
        time.sleep(0.01)
    return {"workers": workers, "waited": round(time.monotonic() - start, 3), "left": left}


def print_found(port):
    target = find(port)
    if target is None:
        tops = sorted({c for p, (pp, c) in processes().items() if pp in (0, 1) or p == 1})
        print(json.dumps({"error": "no pre-forking server", "processes": tops[:8]}), flush=True)
        sys.exit(3)
    print(json.dumps(target), flush=True)


def reload_command(words):
    """`MASTER WAIT ENDS PID...` -> what `reload` did."""
    ends = [int(p) for p in words[2].split(",") if p.isdigit()]
    numbers = [int(a) for a in words[0:2] + words[3:]]
    return reload(numbers[0], numbers[1] == 1, ends, numbers[2:])


def main():
    port = int(sys.argv[2]) if sys.argv[2:3] and sys.argv[2].isdigit() else None
    if sys.argv[1:2] == ["find"]:
        print_found(port)
    elif sys.argv[1:2] == ["serve"]:
        print_found(port)
        words = sys.stdin.readline().split()
        if words[:1] == ["reload"] and len(words) > 3:
            print(json.dumps(reload_command(words[1:])), flush=True)
    elif sys.argv[1:2] == ["reload"] and len(sys.argv) > 4:
        print(json.dumps(reload_command(sys.argv[2:])))
    else:
        print(json.dumps({"error": "usage: reload.py find [PORT] | serve PORT | reload MASTER WAIT ENDS PID..."}))
        sys.exit(2)


main()
