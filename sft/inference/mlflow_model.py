"""The fine-tuned model as an MLflow Model (`python_function` flavor), for the registry and for
`mlflow models serve`.

The MLflow model carries the model folder (sft/model/saving.py) as its one artifact and
rebuilds it with `sft.load`, so serving predicts exactly as `sft-predict` does. It is logged
as code (MLflow's models-from-code): MLflow stores sft/inference/serving_model.py, which makes an
SFTPythonModel, instead of a cloudpickled instance that could run arbitrary code when loaded.
The request limits are the model's `model_config` (written into its MLmodel); the network is
built in `load_context`.

Requests: `{"inputs": ["text", ...]}`, `{"inputs": {"text": [...]}}` or a `dataframe_split`
with a `text` column. A model whose task generates (a causal LM) serves chat and
completions instead (sft.inference.chat: `{"messages": [...]}`, `{"prompt": ...}`, or
prompts as above), logged without an input schema (its requests are not one table) and
with its generation settings as parameters.

The input schema is an object tensor on purpose: a string column would let MLflow turn
`null` and numbers into the texts "None" and "1" before we could refuse them. A bad
request raises RequestError (an MlflowException with INVALID_PARAMETER_VALUE), which the
scoring server answers with 400 and our message. In Python, `mlflow.pyfunc.load_model(uri)
.predict(["a", "b"])` takes a plain list as the REST server's `{"inputs": [...]}` does: the
signature is marked as one the model checks itself (`texts_from_input`), so MLflow passes
the input through instead of refusing a list ("Model is missing inputs ['text']"); the
server still parses requests by the schema (sft.inference.scoring_requests).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import Schema, TensorSpec

from sft.errors import SFTConfigError, SFTError
from sft.inference.predictor import load
from sft.inference.scoring_requests import accept_table_requests

ARTIFACT = "model"  # the model folder's key (and folder name) inside the MLflow model
TEXT_COLUMN = "text"
# The request forms a text model accepts, named when a request is none of them.
ACCEPTED = (
    f'send a CSV with a \'{TEXT_COLUMN}\' column (or one column), {{"inputs": ["text", ...]}}'
    f" or a dataframe_split with a '{TEXT_COLUMN}' column"
)
MAX_ROWS = 1000  # texts per request
MAX_CHARS = 50_000  # characters per text; tokens past model.max_length are cut anyway
# What serving in a fresh environment needs besides sft itself (which is not on PyPI: serve
# with --env-manager local where sft is installed).
REQUIREMENTS = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "tqdm")
# The code MLflow stores and runs to make the model (not imported here: it calls set_model).
MODEL_CODE = Path(__file__).with_name("serving_model.py")


class SFTPythonModel(mlflow.pyfunc.PythonModel):
    """Texts in, one prediction record per text out (as the model's task shapes it)."""

    # No type hints on predict and no type-hint validation, on purpose: with them MLflow
    # would accept only `{"inputs": ...}` requests (and warns on every import without them).
    _skip_type_hint_validation = True

    def __init__(self, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS):
        self.max_rows = int(max_rows)
        self.max_chars = int(max_chars)
        self._predictor = None

    # Models logged before models-from-code hold a pickled instance: these keep them loading.
    def __getstate__(self):
        return {"max_rows": self.max_rows, "max_chars": self.max_chars}  # never the network

    def __setstate__(self, state):
        self.__init__(**state)

    def load_context(self, context):
        """Build the predictor from the model folder artifact and take the request limits from
        `context.model_config` (absent keys keep the current ones).

        Raises SFTConfigError for a limit that is not a positive integer; SFTConfigError or
        SFTDataError from `sft.load` for a bad model folder."""
        limits = request_limits(
            getattr(context, "model_config", None) or {}, self.max_rows, self.max_chars
        )
        self.max_rows, self.max_chars = limits["max_rows"], limits["max_chars"]
        self._predictor = load(context.artifacts[ARTIFACT])
        accept_table_requests(texts_from_input, _bad_input, TEXT_COLUMN, ACCEPTED)

    def predict(self, context, model_input, params=None):
        if generates(self._predictor):
            from sft.inference.chat import answer  # here: only generating models serve chat

            return answer(
                self._predictor, model_input, params, self.max_rows, self.max_chars, _bad_input
            )
        texts = texts_from_input(model_input, self.max_rows, self.max_chars)
        try:
            return self._predictor.predict(texts)
        except SFTError as err:
            raise _bad_input(str(err)) from None


def request_limits(
    model_config: dict, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS
) -> dict[str, int]:
    """`{"max_rows": int, "max_chars": int}`: the defaults given, overridden by `model_config`.

    Raises SFTConfigError naming the key for a value that is not an integer > 0 (booleans
    too). Unknown keys never get here: MLflow drops them with a warning when it loads."""
    limits = {"max_rows": max_rows, "max_chars": max_chars, **model_config}
    for key, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise SFTConfigError(f"model_config: '{key}' must be an integer > 0, got {value!r}")
    return {key: int(value) for key, value in limits.items()}


def texts_from_input(
    model_input, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS
) -> list[str]:
    """The texts of a request; MlflowException(INVALID_PARAMETER_VALUE) when it is unusable."""
    values = model_input
    if isinstance(values, pd.DataFrame):
        if TEXT_COLUMN in values.columns:
            values = values[TEXT_COLUMN]
        elif len(values.columns) == 1 and not isinstance(values.columns[0], str):
            # one unnamed (positional) column: a list turned into a frame; a named column
            # other than `text` is refused, as MLflow's schema check refused it before the
            # model checked its own input (a `review` column is a mistake to name, not guess)
            values = values.iloc[:, 0]
        else:
            raise _bad_input(
                f"no '{TEXT_COLUMN}' column (columns: {', '.join(map(str, values.columns))}); "
                + ACCEPTED
            )
    elif isinstance(values, dict):
        if TEXT_COLUMN not in values:
            raise _bad_input(f"no '{TEXT_COLUMN}' key (keys: {', '.join(map(str, values))})")
        values = values[TEXT_COLUMN]
    if isinstance(values, (str, bytes)) or (isinstance(values, np.ndarray) and values.ndim == 0):
        raise _bad_input('expected a list of texts, got a single value: send {"inputs": ["..."]}')
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise _bad_input(f"expected a flat list of texts, got an array of shape {values.shape}")
    try:
        texts = list(values)
    except TypeError:
        raise _bad_input(f"expected a list of texts, got {type(values).__name__}") from None
    if not texts:
        raise _bad_input(
            'no texts: send {"inputs": ["text", ...]} or a dataframe_split with '
            f"a '{TEXT_COLUMN}' column"
        )
    if len(texts) > max_rows:
        raise _bad_input(
            f"too many texts: {len(texts)} in one request (at most {max_rows}); split the request"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            kind = (
                "null"
                if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text))
                else type(text).__name__
            )
            raise _bad_input(f"input {i}: expected a string, got {kind}")
        if not text.strip():
            raise _bad_input(f"input {i}: empty text")
        if len(text) > max_chars:
            raise _bad_input(
                f"input {i}: text too long: {len(text)} characters (at most {max_chars})"
            )
    return [str(t) for t in texts]


class RequestError(MlflowException):
    """An unusable request: the scoring server answers 400 with this message.

    The server prefixes the message with the whole request ("Failed to predict data '...'");
    past ECHO characters of it, the echo is cut, so a huge request gets a short answer.
    """

    ECHO = 300

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if len(value) > len(self.reason) + self.ECHO and value.endswith(self.reason):
            value = f"{value[: self.ECHO]}... (request cut) Error: {self.reason}"
        self._message = value


def _bad_input(message: str) -> MlflowException:
    return RequestError(message)


def generates(predictor) -> bool:
    """Whether the predictor's task generates text (it has `generate`: a causal LM)."""
    return getattr(predictor.kind, "generate", None) is not None


def signature(model_dir: Path, example_texts: list[str]):
    """Input: a `text` tensor of strings; output: inferred from predicting `example_texts`.
    A generating model: no input schema (chat, completions and tables:
    sft.inference.chat), its generation settings as optional parameters."""
    predictor = load(model_dir)
    outputs = infer_signature(None, predictor.predict(example_texts)).outputs
    if generates(predictor):
        from mlflow.types import ParamSchema, ParamSpec  # here: only generating models

        from sft.inference.chat import SETTINGS  # here: only generating models

        params = ParamSchema([ParamSpec(key, "long", None) for key in SETTINGS])
        return ModelSignature(inputs=None, outputs=outputs, params=params)
    inputs = Schema([TensorSpec(np.dtype(object), (-1,), TEXT_COLUMN)])
    checked = ModelSignature(inputs=inputs, outputs=outputs)
    # MLflow enforces a tensor schema on dicts, frames and arrays only and refuses a plain
    # list; marked as a type-hint signature, the input reaches `predict` as given, which
    # checks it (`texts_from_input`: lists, frames, dicts, arrays; nulls and numbers refused)
    checked._is_signature_from_type_hint = True
    return checked


def log_pyfunc(model_dir: Path, example_texts: list[str], name: str = ARTIFACT):
    """Log `model_dir` as an MLflow Model into the active run; return its ModelInfo.

    The model is logged as code (MODEL_CODE), with the request limits as its model_config;
    the input example is `example_texts` (a generating model's: as prompts, `{"inputs":
    [...]}`)."""
    model_signature = signature(model_dir, example_texts)
    # an array (MLflow checks an example against the schema, which a list fails): served as
    # `{"inputs": [...]}`, the form a plain list takes over REST
    example = (
        {"inputs": list(example_texts)}
        if model_signature.inputs is None
        else np.array(list(example_texts), dtype=object)
    )
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT: str(model_dir)},
        model_config={"max_rows": MAX_ROWS, "max_chars": MAX_CHARS},
        signature=model_signature,
        input_example=example,
        pip_requirements=pinned_requirements(),
    )


def pinned_requirements() -> list[str]:
    """`package==version` for what the model needs, as installed here."""
    pins = []
    for package in REQUIREMENTS:
        try:
            pins.append(f"{package}=={version(package).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
