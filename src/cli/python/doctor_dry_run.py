"""dockdap doctor's dry run: import the entry script and call init(), as the
Azure ML server's worker would, without a debugger. argv is ENTRY_SCRIPT APP_ROOT.

Prints one line "DOCKDAP-DOCTOR <json>"; on failure it carries the traceback
(this program's own frame left out).
"""
import importlib.util, json, os, sys, time, traceback
entry, app_root = sys.argv[1], sys.argv[2]
for p in (app_root, os.path.dirname(entry)):
    if p and p not in sys.path:
        sys.path.insert(0, p)
def report(d):
    sys.stderr.flush()
    sys.stdout.flush()
    sys.stdout.write("\nDOCKDAP-DOCTOR " + json.dumps(d) + "\n")
    sys.stdout.flush()
stage, started, init_started = "import", time.time(), None
try:
    name = os.path.splitext(os.path.basename(entry))[0]
    spec = importlib.util.spec_from_file_location(name, entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    stage = "init"
    init_started = time.time()
    module.init()
except BaseException as e:
    tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
    text = "".join(traceback.format_exception(type(e), e, tb))
    report({"ok": False, "stage": stage, "error": type(e).__name__, "message": str(e)[:4000], "traceback": text})
    os._exit(1)
report({"ok": True, "importSeconds": init_started - started, "initSeconds": time.time() - init_started})
os._exit(0)
