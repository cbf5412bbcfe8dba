"""score.py with inference-schema decorators: the same model and bodies, but run() gets the
"data" member already converted to a numpy array by @input_schema (the server parses the JSON
body), instead of the body as a str.
"""
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None


def init():
    global model
    model_dir = os.getenv("AZUREML_MODEL_DIR") or os.path.dirname(os.path.abspath(__file__))
    model = joblib.load(os.path.join(model_dir, "model.joblib"))


@input_schema("data", NumpyParameterType(np.zeros((1, 20), dtype=np.float64)))
@output_schema(StandardPythonParameterType({"predictions": [0]}))
def run(data):
    return {"predictions": model.predict(data).tolist()}
