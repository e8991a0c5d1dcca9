"""dockdap's look at the container's main process (pid 1), before it
restarts the container in place: prints one JSON line,
{"command": [words], "catches_term": bool}.

`catches_term` says whether pid 1 has a handler for SIGTERM (the SigCgt
mask of /proc/1/status). The kernel never delivers a signal to a
namespace's pid 1 that it does not handle, so a `python app.py`, `sh -c`
or `flask run` that is pid 1 ignores the engine's SIGTERM, and waiting for
it to end is time lost. Nothing but the standard library.
"""

import json

command = []
catches = False
try:
    with open("/proc/1/cmdline", "rb") as f:
        command = [w.decode("utf-8", "replace") for w in f.read().split(b"\0") if w]
    with open("/proc/1/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                catches = bool(int(line.split()[1], 16) & (1 << (15 - 1)))
except (OSError, ValueError, IndexError):
    pass
print(json.dumps({"command": command, "catches_term": catches}))
