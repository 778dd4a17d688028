"""A trained model at work, free of Hydra and Lightning: the Predictor (`sft.load`), the MLflow
model that serves it, ONNX export, and model-URI resolution (models:/, runs:/, folders).
"""
