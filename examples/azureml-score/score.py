"""Entry script of the dockdap example model deployment (Azure ML layout).

The Azure ML inference server imports this file, calls ``init()`` once when the
worker starts and ``run(raw_data)`` for every ``POST /score``.

The model is a tiny linear model stored as JSON in the model directory
(``$AZUREML_MODEL_DIR/model.json``), so the example needs nothing but the
Python standard library.

Two lines carry a "dockdap-demo" marker comment (the breakpoint targets used
by the dockdap demos and tests); keep those markers when editing this file.
"""

import json
import logging
import os

MODEL_FILE_NAME = "model.json"

model = None
logger = logging.getLogger("score")


def _model_path():
    # Same lookup as azureml.core.Model.get_model_path() does inside a
    # deployment: the model is registered under AZUREML_MODEL_DIR.
    model_dir = os.environ.get("AZUREML_MODEL_DIR", "")
    return os.path.join(model_dir, MODEL_FILE_NAME)


def init():
    global model
    path = _model_path()
    print(f"score.init: loading model from {path}")  # dockdap-demo: init-breakpoint
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"model file not found: {path} (AZUREML_MODEL_DIR={os.environ.get('AZUREML_MODEL_DIR')!r})"
        )
    with open(path, encoding="utf-8") as f:
        loaded = json.load(f)
    weights = [float(w) for w in loaded["weights"]]
    bias = float(loaded.get("bias", 0.0))
    model = {"name": loaded.get("name", "linear"), "weights": weights, "bias": bias}
    print(f"score.init: model {model['name']!r} loaded, {len(weights)} weights")


def run(raw_data):
    data = json.loads(raw_data)
    rows = data["data"]  # dockdap-demo: breakpoint
    weights = model["weights"]
    predictions = []
    for row in rows:
        if len(row) != len(weights):
            raise ValueError(f"expected {len(weights)} features per row, got {len(row)}")
        score = sum(float(x) * w for x, w in zip(row, weights)) + model["bias"]
        predictions.append(round(score, 6))
    print(f"score.run: {len(rows)} rows scored")
    return predictions
