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
   port, so the inference server's own debugpy.connect() finds it; so does
   every debugpy.connect() (with DOCKDAP_ABSORB), so a worker forked later
   (a reload, a recycled worker) waits for the adapter dockdap attaches anew.
4. Absorbing the app's own debugger calls (DOCKDAP_ABSORB=1, with "inject"
   and "azureml"): once debugpy runs in a process, a second
   debugpy.listen()/connect() would bind a second port or fail, and a second
   wait_for_client() would wait again. Those calls become no-ops that answer
   for the debugger that runs, and `import ptvsd` (debugpy's predecessor,
   whose own copy of pydevd cannot run beside debugpy's) gives a small module
   that maps ptvsd 4's calls onto debugpy. Each absorbed call is reported on
   stderr, which dockdap shows in the debug console.

5. Warming a pre-forking server (DOCKDAP_WARM=1, with "inject" and
   "azureml" when the image forks workers): before gunicorn's master forks
   its first worker, it imports debugpy's server side (pydevd) and, for the
   Azure ML inference server, the server's third-party dependencies
   (pydantic, flask, opentelemetry, ...), so every worker, the one a reload
   forks among them, inherits them instead of importing them again before
   `init()`. Never the app's own code: nothing from the app root (the working
   directory, AML_APP_ROOT) is imported there, nor the server's modules that
   read its configuration, so an edit is always picked up by the next worker.

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
        # A reloaded worker comes here as the next adapter is being
        # attached: every poll missed is time to the stop in init().
        time.sleep(0.01)


def _gate_before_connect():
    """With the gate (debugger "azureml"), a connect waits until debugpy's
    adapter listens: a worker forked later (a reload, a worker recycled by
    the server) connects to the adapter dockdap attaches anew, not into the
    moment between two adapters."""
    gate = os.environ.get("DOCKDAP_GATE")
    if gate:
        _gate(int(gate), float(os.environ.get("DOCKDAP_GATE_TIMEOUT", "60")))


def _start_debugpy(address, wait):
    host, _, port = address.rpartition(":")
    # Children (debugpy's own adapter among them) inherit this and stay out.
    os.environ["DOCKDAP_LISTENING"] = str(os.getpid())
    import debugpy

    debugpy.listen((host or "0.0.0.0", int(port)))
    print(f"dockdap: debugpy {debugpy.__version__} listening on {address} in pid {os.getpid()}", flush=True)
    _ABSORBED["running"] = f"dockdap started it, listening on {address}"
    if wait:
        print("dockdap: waiting for the debugger to attach", flush=True)
        debugpy.wait_for_client()
        print("dockdap: debugger attached", flush=True)
    # Whether this process waits is dockdap's `waitForDebugger`: the app's own waits return at once.
    _ABSORBED["waited"] = True


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


# ---------------------------------------------------------------------------
# 4. Absorbing the app's own debugger calls (DOCKDAP_ABSORB=1).

_ABSORBED = {"running": None, "endpoint": None, "waited": False}


def _say(text):
    print(f"dockdap: {text}", file=sys.stderr, flush=True)


def _app_caller():
    """`file:line` of the first frame outside this bootstrap."""
    try:
        frame = sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename == __file__ or frame.f_code.co_filename.startswith("<frozen")
        ):
            frame = frame.f_back
        if frame is not None:
            return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
    except Exception:
        pass
    return "the app"


def _endpoint(address):
    if isinstance(address, int):
        return ("127.0.0.1", address)
    try:
        host, port = address
        return (host, int(port))
    except Exception:
        return address


_REAL = {}


def _start(call, real, address, args=(), kwargs=None):
    """The app's `call` (debugpy.listen, ptvsd.enable_attach, ...): real if
    no debugger runs in this process yet, else a no-op answering with the
    endpoint of the one that runs."""
    caller = _app_caller()
    running = _ABSORBED["running"]
    if running:
        _say(
            f"{caller} calls {call}({address!r}), but debugpy already runs in this process "
            f"({running}): the call does nothing, the debugger that runs serves the app"
        )
        return _ABSORBED["endpoint"] or _endpoint(address)
    endpoint = _REAL[real](address, *args, **(kwargs or {}))
    _ABSORBED["running"] = f"started by {caller} with {call}({address!r})"
    _ABSORBED["endpoint"] = endpoint if endpoint is not None else _endpoint(address)
    return endpoint


def _wait(call, real_wait):
    """The app's wait for the debugger: real the first time in a process
    (the Azure ML server's hook), else it returns at once."""
    if _ABSORBED["waited"]:
        _say(
            f"{_app_caller()} calls {call}(), but this process already waited for the debugger "
            f"(or dockdap's `waitForDebugger` is off): the call returns at once"
        )
        return False
    _ABSORBED["waited"] = True
    real_wait()
    return True


def _patch_debugpy(debugpy):
    """Wraps debugpy's listen/connect/wait_for_client: the first start and
    the first wait in a process are real, later ones answer at once."""
    if getattr(debugpy, "_dockdap_absorbs", False):
        return
    _REAL.update(listen=debugpy.listen, connect=debugpy.connect, wait_for_client=debugpy.wait_for_client)

    def listen(address, *args, **kwargs):
        return _start("debugpy.listen", "listen", address, args, kwargs)

    def connect(address, *args, **kwargs):
        if not _ABSORBED["running"]:
            _gate_before_connect()
        return _start("debugpy.connect", "connect", address, args, kwargs)

    def wait_for_client():
        _wait("debugpy.wait_for_client", _REAL["wait_for_client"])

    for name, function in (("listen", listen), ("connect", connect), ("wait_for_client", wait_for_client)):
        function.__doc__ = getattr(debugpy, name).__doc__
        setattr(debugpy, name, function)
    debugpy._dockdap_absorbs = True


def _ptvsd_shim():
    """ptvsd 4's public calls, on top of the debugpy that dockdap runs."""
    import types

    import debugpy

    shim = types.ModuleType("ptvsd", "dockdap's stand-in for ptvsd 4: its calls map onto debugpy")
    shim.__version__ = "4.3.2+dockdap"
    shim.__author__ = "dockdap"
    shim.__file__ = __file__
    shim.__all__ = ["__version__", "__author__", "enable_attach", "wait_for_attach", "break_into_debugger", "is_attached"]

    def enable_attach(address=("0.0.0.0", 5678), redirect_output=None, log_dir=None):
        return _start("ptvsd.enable_attach", "listen", _endpoint(address))

    def attach(address, redirect_output=None, log_dir=None):
        return _start("ptvsd.attach", "connect", _endpoint(address))

    def wait_for_attach(timeout=None):
        if timeout is None or _ABSORBED["waited"]:
            _wait("ptvsd.wait_for_attach", _REAL["wait_for_client"])
            return
        import time

        deadline = time.monotonic() + float(timeout)
        while not debugpy.is_client_connected() and time.monotonic() < deadline:
            time.sleep(0.05)

    def tracing(should_trace=None):
        if should_trace is None:
            return True
        debugpy.trace_this_thread(bool(should_trace))
        return None

    shim.enable_attach = enable_attach
    shim.attach = attach
    shim.wait_for_attach = wait_for_attach
    shim.is_attached = debugpy.is_client_connected
    shim.break_into_debugger = debugpy.breakpoint
    shim.debug_this_thread = debugpy.debug_this_thread
    shim.tracing = tracing
    return shim


class _AbsorbingFinder:
    """Hands out the ptvsd shim, and wraps debugpy as it is imported."""

    def __init__(self):
        self._finding = False

    def find_spec(self, name, path=None, target=None):
        if name not in ("ptvsd", "debugpy") or self._finding:
            return None
        # While debugpy is looked for (and imported, for the shim), this
        # finder steps aside: the real finders find it, wrapped once.
        self._finding = name == "debugpy"
        try:
            return self._ptvsd_shim_spec() if name == "ptvsd" else self._watched_debugpy_spec(path)
        except Exception as error:  # never in the way of an import: Python's own finders go on
            _say(f"cannot watch the app's {name} calls: {type(error).__name__}: {error}")
            return None
        finally:
            self._finding = False

    def _ptvsd_shim_spec(self):
        import importlib.util

        shim = _ptvsd_shim()
        _say(
            f"{_app_caller()} imports ptvsd: dockdap debugs this container with debugpy, "
            f"so ptvsd's calls map onto debugpy (ptvsd's own debugger would collide with it)"
        )
        return importlib.util.spec_from_loader("ptvsd", _ShimLoader(shim), origin="dockdap")

    def _watched_debugpy_spec(self, path):
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec("debugpy", path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            try:
                _patch_debugpy(module)
            except Exception as error:
                _say(f"cannot watch the app's debugpy calls: {type(error).__name__}: {error}")

        spec.loader.exec_module = exec_module
        return spec


class _ShimLoader:
    def __init__(self, shim):
        self._shim = shim

    def create_module(self, spec):
        return self._shim

    def exec_module(self, module):
        pass


def _absorb():
    if os.environ.get("DOCKDAP_ABSORB") != "1" or os.environ.get("DOCKDAP_ROLE"):
        return
    if "debugpy" in sys.modules:
        _patch_debugpy(sys.modules["debugpy"])
    sys.meta_path.insert(0, _AbsorbingFinder())


# ---------------------------------------------------------------------------
# 5. Warming a pre-forking server's master (DOCKDAP_WARM=1).

# What a debugged worker imports before `init()` and what is safe to import
# in the master: none of these reads the app's files or starts a thread as
# it is imported. debugpy's server side is what `debugpy.connect()` and
# `listen()` load (pydevd); the Azure ML inference server's worker module
# (`server.entry`) imports the rest, besides its own modules, which read the
# server's configuration from the app root and so stay the worker's.
_WARM_DEBUGGER = ("debugpy", "debugpy.server.api")
_WARM_SERVERS = {
    "azureml_inference_server_http": (
        "pydantic",
        "pydantic.fields",
        "pydantic_settings",
        "flask",
        "flask_cors",
        "werkzeug.exceptions",
        "inference_schema.schema_util",
        "opentelemetry.trace",
        "opentelemetry.sdk.resources",
        "opentelemetry.sdk.trace",
        "opentelemetry.sdk.trace.export",
        "opentelemetry.sdk._logs",
        "opentelemetry.sdk._logs.export",
        "opentelemetry.semconv.resource",
        "azure.monitor.opentelemetry.exporter",
    ),
}
_WARM = {"pid": None, "done": False}


def _is_the_apps(name):
    """Whether module `name` would come from the app root (the working
    directory or AML_APP_ROOT) rather than an installed package: such a
    module is the app's and must be imported fresh by each worker."""
    import importlib.util

    spec = importlib.util.find_spec(name.partition(".")[0])
    if spec is None:
        return True
    where = spec.origin if spec.origin not in (None, "namespace") else ""
    where = where or next(iter(spec.submodule_search_locations or []), "")
    where = os.path.realpath(where)
    if "site-packages" in where or "dist-packages" in where:
        return False
    roots = {os.path.realpath(p) for p in (os.getcwd(), os.environ.get("AML_APP_ROOT")) if p}
    return any(r != "/" and where.startswith(r + os.sep) for r in roots)


def _warm_before_fork():
    """Runs before each fork of this process (os.register_at_fork): the
    first time gunicorn's master forks a worker, the warm imports."""
    if _WARM["done"] or os.getpid() != _WARM["pid"] or "gunicorn.arbiter" not in sys.modules:
        return
    _WARM["done"] = True
    import importlib
    import threading
    import time

    start, threads = time.monotonic(), threading.active_count()
    names = list(_WARM_DEBUGGER)
    for server, modules in _WARM_SERVERS.items():
        if server in sys.modules:
            names.extend(modules)
    warmed = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            if _is_the_apps(name):
                continue
            importlib.import_module(name)
            warmed.append(name)
        except Exception:
            pass  # not installed, or it fails: the worker imports it as it always did
    if not warmed:
        return
    tops = sorted({n.partition(".")[0] for n in warmed})
    started = threading.active_count() - threads
    threads_note = f"; {started} thread(s) started meanwhile" if started > 0 else ""
    _say(
        f"imported {', '.join(tops)} in gunicorn's master in {time.monotonic() - start:.2f}s, "
        f"for its workers to inherit (DOCKDAP_WARM=0 turns this off){threads_note}"
    )


def _warm():
    if os.environ.get("DOCKDAP_WARM") != "1" or os.environ.get("DOCKDAP_ROLE") or not hasattr(os, "register_at_fork"):
        return
    _WARM["pid"] = os.getpid()
    os.register_at_fork(before=_warm_before_fork)


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
    _absorb()
except Exception as error:
    print(f"dockdap: cannot watch the app's debugger calls: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
try:
    _warm()
except Exception as error:
    print(f"dockdap: cannot warm the server: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
try:
    _debugger()
except Exception as error:
    print(f"dockdap: could not start debugpy: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
try:
    _chain_to_the_image_sitecustomize()
except Exception as error:  # the image's own sitecustomize failed: say so, as Python would
    print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(error).__name__}: {error}", file=sys.stderr)
