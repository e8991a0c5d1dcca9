"""dockdap's debugger tuning, loaded by every Python process in this container.

dockdap puts this file on PYTHONPATH (tuneDebugger, on by default). It does one
thing: it sets TCP_NODELAY on the TCP sockets that debugpy itself connects or
accepts. pydevd writes each message as two sendall() calls (header, then body);
without TCP_NODELAY, Nagle's algorithm holds the body until the peer's delayed
ACK, about 40 ms on Linux, on every request that reaches the debuggee.

Sockets opened by any other code are left exactly as they are: the option is
set only when the code calling connect()/accept() lives in debugpy or pydevd.
Afterwards the image's own sitecustomize (if any) runs, so nothing of the
image's behaviour changes. Any failure here is swallowed: tuning must never
stop a program from starting.
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


if os.environ.get("DOCKDAP_TUNE_DEBUGGER", "1") != "0":
    try:
        _tune()
    except Exception:
        pass
try:
    _chain_to_the_image_sitecustomize()
except Exception as error:  # the image's own sitecustomize failed: say so, as Python would
    print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(error).__name__}: {error}", file=sys.stderr)
