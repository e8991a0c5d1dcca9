"""dockdap debug entry script for Azure ML inference server images.

Used as the server's entry script instead of the user's ``score.py``
(``azmlinfsrv --entry_script /opt/dockdap-debug/debug_entry.py``), so the
user's files in /var/azureml-app stay byte-for-byte what is in the workspace.

The inference server imports this module inside the gunicorn worker process,
the same process that later calls ``init()`` and ``run()``. On import it

1. starts debugpy listening on ``$DOCKDAP_DEBUG_HOST:$DOCKDAP_DEBUG_PORT``
   (default ``0.0.0.0:5678``),
2. blocks until a DAP client has attached and sent ``configurationDone``
   (unless ``DOCKDAP_WAIT_FOR_CLIENT=0``), so breakpoints in the user's
   module-level code and in ``init()`` are hit,
3. loads the user's entry script (``$DOCKDAP_ENTRY_SCRIPT``, default
   ``score.py``, relative to ``$AML_APP_ROOT``) under its own module name and
   re-exports its ``init`` and ``run``.

Keep the worker timeout high (``WORKER_TIMEOUT``) and a single worker
(``WORKER_COUNT=1``): gunicorn kills a worker that is paused in the debugger
for longer than the timeout, and a second worker could not bind the port.
"""

import importlib.util
import os
import sys

import debugpy

_host = os.environ.get("DOCKDAP_DEBUG_HOST", "0.0.0.0")
_port = int(os.environ.get("DOCKDAP_DEBUG_PORT", "5678"))
_wait = os.environ.get("DOCKDAP_WAIT_FOR_CLIENT", "1").lower() not in ("0", "false", "no")
_app_root = os.environ.get("AML_APP_ROOT", "/var/azureml-app")
_entry = os.path.join(_app_root, os.environ.get("DOCKDAP_ENTRY_SCRIPT", "score.py"))

debugpy.listen((_host, _port))
print(f"dockdap: debugpy {debugpy.__version__} listening on {_host}:{_port} (pid {os.getpid()})", flush=True)
if _wait:
    print("dockdap: waiting for the debugger to attach before loading " + _entry, flush=True)
    debugpy.wait_for_client()
    print("dockdap: debugger attached", flush=True)

if _app_root not in sys.path:
    sys.path.insert(0, _app_root)

_name = os.path.splitext(os.path.basename(_entry))[0]
_spec = importlib.util.spec_from_file_location(_name, _entry)
_user_module = importlib.util.module_from_spec(_spec)
sys.modules[_name] = _user_module
_spec.loader.exec_module(_user_module)

init = _user_module.init
run = _user_module.run
# The server calls driver_module.run() when the entry script has a driver
# module (and logs "Found driver script at ... and the score script at ...");
# pass the user's own driver module through, else point it at the user's script.
driver_module = getattr(_user_module, "driver_module", _user_module)
