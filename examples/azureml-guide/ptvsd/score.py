"""An entry script to the letter of the Azure ML debugging guide: ptvsd.

ptvsd 4 is debugpy's deprecated predecessor. The script lets a debugger
attach on port 5678 and waits 30 seconds for one, then goes on. dockdap
debugs this image with its default configuration: it starts debugpy itself
and answers the script's ptvsd calls (see README.md in this folder).
"""

import json
import os

import ptvsd

# Allows other computers to attach to ptvsd at this IP address and port.
ptvsd.enable_attach(address=("0.0.0.0", 5678), redirect_output=True)
# Wait 30 seconds for a debugger to attach. If none attaches, the script continues as normal.
ptvsd.wait_for_attach(timeout=30)


def init():
    global model
    model_dir = os.getenv("AZUREML_MODEL_DIR")
    model = json.load(open(os.path.join(model_dir, "model.json")))  # dockdap-demo: init-breakpoint
    print("score.init: ptvsd attached:", ptvsd.is_attached())


def run(raw_data):
    data = json.loads(raw_data)["data"]  # dockdap-demo: breakpoint
    result = []
    for row in data:
        result.append(round(model.get("bias", 0.0) + sum(a * b for a, b in zip(row, model["weights"])), 6))
    return result
