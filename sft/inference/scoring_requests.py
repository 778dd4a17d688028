"""What the MLflow scoring server needs to read requests for sft's text models (their input
schema: an object tensor named `text`, sft.inference.mlflow_model), patched into the server's
module where it runs: `sft-serve` and `mlflow models serve` alike, once the model loads.
The model's own request checks come in as arguments (this module imports no model code)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from sft.errors import first_line


def accept_table_requests(
    texts_from_input: Callable, bad_input: Callable, column: str, accepted: str
) -> None:
    """Where the scoring server runs (its module imported; loading the model elsewhere imports
    no web framework), let it read requests for our text-tensor schema as before the model
    checked its own input:

    - JSON: the signature is marked as checked by the model (see `signature`), which MLflow's
      server takes to mean "type hints: `{"inputs": ...}` only, unparsed"; ours still parses
      every JSON form (`dataframe_split` included) by the schema, objects kept as they came.
    - `text/csv`: its CSV parser asks the schema for pandas dtypes, which a TensorSpec has
      not ("TensorSpec only supports numpy types"); the CSV is read with string cells
      instead (empty cells: null, refused by `texts_from_input` by row).

    Other schemas keep MLflow's parsers. `texts_from_input(frame)` raises the model's one
    line for a frame without texts, `bad_input(message)` makes its 400 answer; `column`: the
    texts' column; `accepted`: the request forms, named when a CSV is unreadable."""
    import sys  # here: only to find the server's module, when there is one

    server = sys.modules.get("mlflow.pyfunc.scoring_server")
    parse = getattr(server, "parse_csv_input", None)
    parse_json = getattr(server, "_parse_json_data", None)
    if parse is None or getattr(parse, "sft_text_csv", False):
        return

    def parse_csv_input(csv_input, schema=None):
        if schema is None or not schema.is_tensor_spec():
            return parse(csv_input, schema=schema)
        try:
            frame = pd.read_csv(csv_input, dtype=object)
        except Exception as err:  # pandas' parser errors have no common base worth naming
            raise bad_input(f"not a readable CSV ({first_line(str(err))}); {accepted}") from None
        if column in frame.columns:
            return frame[[column]]
        if len(frame.columns) == 1:  # one column: its cells are the texts, as in a JSON list
            return frame.set_axis([column], axis=1)
        texts_from_input(frame)  # raises the one line that names the columns

    def parse_json_data(data, metadata, input_schema):
        if input_schema is not None and input_schema.is_tensor_spec():
            metadata = _ParsedBySchema(metadata)
        return parse_json(data, metadata, input_schema)

    parse_csv_input.sft_text_csv = True
    server.parse_csv_input = parse_csv_input
    if parse_json is not None:  # MLflow 3: the function that reads the type-hint mark
        server._parse_json_data = parse_json_data


class _ParsedBySchema:
    """A model's metadata, except that its signature counts as not from type hints: the
    scoring server then parses a request by the schema (see `accept_table_requests`)."""

    def __init__(self, metadata):
        self._metadata = metadata

    def __getattr__(self, name):
        return getattr(self._metadata, name)

    def _is_signature_from_type_hint(self) -> bool:
        return False
