"""An entry script as the Azure ML debugging guide writes it, with debugpy.

The first lines start debugpy and wait for a debugger, so the script works
on its own (`docker run -p 5678:5678 ...`, then attach). dockdap debugs this
image with its default configuration: it sees these lines and uses the
image's own debugpy (see README.md in this folder).
"""

import debugpy

debugpy.listen(("0.0.0.0", 5678))
debugpy.wait_for_client()

import json  # noqa: E402
import os  # noqa: E402

model = None


def init():
    global model
    path = os.path.join(os.environ.get("AZUREML_MODEL_DIR", ""), "model.json")
    with open(path, encoding="utf-8") as f:
        model = json.load(f)  # dockdap-demo: init-breakpoint
    print(f"score.init: model {model['name']!r} loaded (guide, debugpy)")


def run(raw_data):
    rows = json.loads(raw_data)["data"]  # dockdap-demo: breakpoint
    weights, bias = model["weights"], model.get("bias", 0.0)
    return [round(sum(x * w for x, w in zip(row, weights)) + bias, 6) for row in rows]
