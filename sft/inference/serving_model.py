"""The code MLflow stores with a logged sft model (models-from-code; see mlflow_model.py).

MLflow runs this file to get the model object when it logs the model and every time the model
is loaded or served, instead of unpickling one. It is small on purpose: the model itself lives
in sft.inference.mlflow_model, so sft must be installed where the model is served
(`--env-manager local`).
Never import this module: running it sets MLflow's current code model.
"""

import mlflow

from sft.inference.mlflow_model import SFTPythonModel

mlflow.models.set_model(SFTPythonModel())
