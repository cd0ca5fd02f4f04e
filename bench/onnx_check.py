#!/usr/bin/env python3
"""Runs the zoo's ONNX exports in ONNX Runtime and compares them with the zoo's outputs.

    python bench/onnx_check.py DIR

For every DIR/NAME.onnx with a DIR/NAME.json ({"model": config, "inputs": [[...]],
"outputs": [[...]]}: what the zoo computed for those rows), reshapes the rows to the graph's
input (a CNN's are [batch, channels, height, width]) and runs them through onnxruntime's CPU
provider, all rows at once and then one row (the batch axis is dynamic). Exits 1 when an
output is more than 1e-5 off, or the graph's metadata lacks the model's model.json.
The tests run it with the virtual environment `.ci/run` makes (`pip install onnxruntime`).
"""

import json
import pathlib
import sys

import numpy as np
import onnxruntime

TOLERANCE = 1e-5


def main():
    directory = pathlib.Path(sys.argv[1])
    worst, checked = 0.0, 0
    for model_path in sorted(directory.glob("*.onnx")):
        record = json.loads(model_path.with_suffix(".json").read_text())
        session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        (graph_input,) = session.get_inputs()
        input_name = graph_input.name
        # Rows, or for the CNN images: [batch, channels, height, width].
        inputs = np.array(record["inputs"], dtype=np.float32).reshape(-1, *graph_input.shape[1:])
        expected = np.array(record["outputs"], dtype=np.float32)
        # zoo-export puts the model folder's model.json (config, task, classes, preprocessing)
        # into the graph's metadata.
        embedded = session.get_modelmeta().custom_metadata_map.get("burn_zoo.model_json")
        if embedded is None or json.loads(embedded)["model"] != record["model"]:
            sys.exit(f"{model_path.name}: no model.json for this model in the graph's metadata")
        (all_rows,) = session.run(None, {input_name: inputs})
        (one_row,) = session.run(None, {input_name: inputs[:1]})
        if all_rows.shape != expected.shape or one_row.shape != expected[:1].shape:
            sys.exit(f"{model_path.name}: outputs {all_rows.shape} and {one_row.shape}, expected {expected.shape}")
        difference = max(np.abs(all_rows - expected).max(), np.abs(one_row - expected[:1]).max())
        worst = max(worst, float(difference))
        checked += 1
        print(f"{model_path.stem}: onnxruntime {onnxruntime.__version__}, max |ort - zoo| = {difference:.2e}")
    if checked == 0:
        sys.exit(f"no NAME.onnx in {directory}")
    if worst > TOLERANCE:
        sys.exit(f"outputs differ by {worst:.2e}, more than {TOLERANCE:.0e}")
    print(f"{checked} ONNX exports match the zoo within {TOLERANCE:.0e} (worst {worst:.2e})")


if __name__ == "__main__":
    main()
