"""dockdap doctor's look into an image, run with the image's Python in a
throwaway container without a network: argv is APP_ROOT ENTRY_SCRIPT MODEL_DIR.

Prints one line "DOCKDAP-DOCTOR <json>". The entry script is parsed with ast,
never imported: nothing of the user's code runs here.
"""
import ast, json, os, platform, re, sys
app_root, entry, model_dir = sys.argv[1], sys.argv[2], sys.argv[3]
r = {"python": platform.python_version()}
try:
    import importlib.util
    if importlib.util.find_spec("debugpy") is not None:
        import debugpy
        r["debugpy"] = str(getattr(debugpy, "__version__", "(unknown version)"))
except Exception as e:
    r["debugpyError"] = "%s: %s" % (type(e).__name__, e)
r["appRoot"] = os.path.isdir(app_root)
if r["appRoot"]:
    try:
        r["appFiles"] = len(os.listdir(app_root))
    except OSError:
        pass
r["entryExists"] = os.path.isfile(entry)
MODEL_FILE = re.compile(r"^[\w./-]*[\w-]\.(pkl|pickle|joblib|onnx|pt|pth|h5|hdf5|keras|sav|safetensors|ckpt|pb|bin|model|json|npy|npz|cbm|ubj|xgb|lgb)$", re.I)
if r["entryExists"]:
    try:
        with open(entry, "rb") as f:
            source = f.read()
        tree = ast.parse(source, entry)
    except SyntaxError as e:
        r["syntaxError"] = {"line": e.lineno, "message": str(e.msg), "text": (e.text or "").rstrip()}
    except Exception as e:
        r["entryError"] = "%s: %s" % (type(e).__name__, e)
    else:
        functions = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ("init", "run"):
                a = node.args
                positional = list(getattr(a, "posonlyargs", [])) + list(a.args)
                functions[node.name] = {"line": node.lineno, "kind": "def", "params": [p.arg for p in positional],
                                        "required": len(positional) - len(a.defaults), "varargs": a.vararg is not None}
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id in ("init", "run"):
                        functions[t.id] = {"line": node.lineno, "kind": "assigned"}
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    name = alias.asname or alias.name
                    if name in ("init", "run"):
                        functions[name] = {"line": node.lineno, "kind": "assigned"}
        r["functions"] = functions
        refs, uses = set(), False
        for node in ast.walk(tree):
            value = None
            if type(node).__name__ == "Constant":
                value = node.value
            elif type(node).__name__ == "Str":
                value = node.s
            if isinstance(value, str):
                if "AZUREML_MODEL_DIR" in value:
                    uses = True
                if MODEL_FILE.match(value):
                    refs.add(value)
            elif isinstance(node, ast.Attribute) and node.attr == "get_model_path":
                uses = True
            elif isinstance(node, ast.Name) and node.id == "get_model_path":
                uses = True
        r["modelRefs"] = sorted(refs)
        r["usesModelDir"] = uses
if model_dir:
    r["modelDir"] = os.path.isdir(model_dir)
    files = []
    if r["modelDir"]:
        for root, dirs, names in os.walk(model_dir):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                try:
                    size = os.path.getsize(path)
                except OSError:
                    size = 0
                files.append([os.path.relpath(path, model_dir), size])
            if len(files) >= 500:
                r["modelFilesTruncated"] = True
                break
    r["modelFiles"] = files
sys.stdout.write("\nDOCKDAP-DOCTOR " + json.dumps(r) + "\n")
sys.stdout.flush()
