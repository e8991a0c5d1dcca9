"""dockdap's bootstrap, loaded by every Python process in this container.

dockdap copies this file into containers it starts and puts its folder first
on PYTHONPATH. It does up to three things, each only when dockdap asked for it
through an environment variable, and nothing else:

1. Tuning (DOCKDAP_TUNE_DEBUGGER, on unless "0"): it sets TCP_NODELAY on the
   TCP sockets that debugpy itself connects or accepts. pydevd writes each message as two sendall() calls (header, then body);
without TCP_NODELAY, Nagle's algorithm holds the body until the peer's delayed
ACK, about 40 ms on Linux, on every request that reaches the debuggee.

   Sockets opened by any other code are left exactly as they are: the option
   is set only when the code calling connect()/accept() lives in debugpy or
   pydevd.
2. Starting debugpy (DOCKDAP_LISTEN=HOST:PORT, debugger "inject"): the first
   Python process of the container (DOCKDAP_LISTEN_AT=start) or the first
   process it forks (=fork, for pre-forking servers such as gunicorn, whose
   workers run the app) calls debugpy.listen() and, with DOCKDAP_WAIT=1,
   waits for the debugger before the app goes on.
3. A gate (DOCKDAP_GATE=PORT, debugger "azureml"): the process waits until
   debugpy's adapter, which dockdap runs in the container, listens on that
   port, so the inference server's own debugpy.connect() finds it.

Where the settings can only be decided after the container was created (a
Kubernetes debug pod, whose spec is fixed before dockdap can look inside its
image), DOCKDAP_SETTINGS names a file of KEY=VALUE lines that dockdap writes
before the program starts; they are read into the environment first
(PYTHONPATH_EXTRA: folders appended to sys.path and PYTHONPATH: the image's
own PYTHONPATH, which the pod's spec replaced).

Processes dockdap runs itself (DOCKDAP_ROLE set: the adapter, the relay) only
get the tuning. Afterwards the image's own sitecustomize (if any) runs, so
nothing of the image's behaviour changes. Failures are reported on stderr and
never stop a program from starting.
"""

import os
import sys

DOCKDAP_TUNED = False


def _is_debugger_code(depth):
    try:
        filename = sys._getframe(depth).f_code.co_filename
    except Exception:
        return False
    return "debugpy" in filename or "pydevd" in filename


def _nodelay(sock):
    try:
        import socket

        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:
        pass


def _tune():
    global DOCKDAP_TUNED
    import socket

    original_connect = socket.socket.connect
    original_accept = socket.socket.accept

    def connect(self, address):
        result = original_connect(self, address)
        if _is_debugger_code(2):
            _nodelay(self)
        return result

    def accept(self):
        conn, address = original_accept(self)
        if _is_debugger_code(2):
            _nodelay(conn)
        return conn, address

    socket.socket.connect = connect
    socket.socket.accept = accept
    DOCKDAP_TUNED = True


def _chain_to_the_image_sitecustomize():
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or not spec.origin:
        return
    if os.path.abspath(spec.origin) == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    globals()["DOCKDAP_CHAINED"] = spec.origin
    for name, value in vars(module).items():
        if not name.startswith("__"):
            globals().setdefault(name, value)


def _port_listening(port):
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if len(cols) > 3 and cols[3] == "0A" and cols[1].upper().endswith(want):
                        return True
        except OSError:
            pass
    return False


def _gate(port, timeout):
    import time

    deadline = time.monotonic() + timeout
    while not _port_listening(port):
        if time.monotonic() > deadline:
            print(f"dockdap: debugpy's adapter did not listen on port {port} within {timeout:.0f}s; going on without it", file=sys.stderr)
            return
        time.sleep(0.05)


def _start_debugpy(address, wait):
    host, _, port = address.rpartition(":")
    # Children (debugpy's own adapter among them) inherit this and stay out.
    os.environ["DOCKDAP_LISTENING"] = str(os.getpid())
    import debugpy

    debugpy.listen((host or "0.0.0.0", int(port)))
    print(f"dockdap: debugpy {debugpy.__version__} listening on {address} in pid {os.getpid()}", flush=True)
    if wait:
        print("dockdap: waiting for the debugger to attach", flush=True)
        debugpy.wait_for_client()
        print("dockdap: debugger attached", flush=True)


def _debugger():
    if os.environ.get("DOCKDAP_ROLE"):
        return
    gate = os.environ.get("DOCKDAP_GATE")
    if gate:
        _gate(int(gate), float(os.environ.get("DOCKDAP_GATE_TIMEOUT", "60")))
    address = os.environ.get("DOCKDAP_LISTEN")
    if not address or os.environ.get("DOCKDAP_LISTENING"):
        return
    wait = os.environ.get("DOCKDAP_WAIT", "1") == "1"
    if os.environ.get("DOCKDAP_LISTEN_AT") == "fork":
        os.environ["DOCKDAP_LISTENING"] = "pending"
        started = []

        def in_child():
            if started:
                return
            started.append(True)
            try:
                _start_debugpy(address, wait)
            except Exception as error:
                print(f"dockdap: could not start debugpy in pid {os.getpid()}: {error}", file=sys.stderr, flush=True)

        os.register_at_fork(after_in_child=in_child)
    else:
        _start_debugpy(address, wait)


def _load_settings():
    path = os.environ.get("DOCKDAP_SETTINGS")
    if not path or os.environ.get("DOCKDAP_SETTINGS_LOADED"):
        return
    os.environ["DOCKDAP_SETTINGS_LOADED"] = "1"
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key:
            continue
        if key == "PYTHONPATH_EXTRA":
            extra = [p for p in value.split(":") if p and p not in sys.path]
            sys.path.extend(extra)
            if extra:
                os.environ["PYTHONPATH"] = ":".join([os.environ.get("PYTHONPATH", "")] + extra).lstrip(":")
        else:
            os.environ[key] = value


try:
    _load_settings()
except Exception as error:
    print(f"dockdap: could not read dockdap's settings: {error}", file=sys.stderr, flush=True)
if os.environ.get("DOCKDAP_TUNE_DEBUGGER", "1") != "0":
    try:
        _tune()
    except Exception:
        pass
try:
    _debugger()
except Exception as error:
    print(f"dockdap: could not start debugpy: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
try:
    _chain_to_the_image_sitecustomize()
except Exception as error:  # the image's own sitecustomize failed: say so, as Python would
    print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(error).__name__}: {error}", file=sys.stderr)
