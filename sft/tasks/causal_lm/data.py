"""The LightningDataModule of causal-LM SFT: read rows in the three shapes, check them, carve
missing splits, render every row once with the model's tokenizer and chat template
(render.render_row: the trained tokens from the rendered text, BOS once, left truncation,
counted), keep the held-out prompts and references that evaluation generates from, and
batch (right padding, or packing where the attention kernel keeps rows apart)."""

from __future__ import annotations

import logging

import numpy as np

from sft.data.hf_sources import USUAL_NAMES
from sft.data.module import SPLITS, TextDataModule
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.causal_lm.batches import Collator, RenderedDataset, WindowBatchSampler
from sft.tasks.causal_lm.generate import prompt_ids, prompt_parts
from sft.tasks.causal_lm.readers import FORMATS, kind_of, read_rows
from sft.tasks.causal_lm.render import check_options, render_row
from sft.tasks.causal_lm.rows import where
from sft.tasks.causal_lm.task import NAME

log = logging.getLogger(__name__)

# A validation or test split looked for in a saved dataset given as train_path.
SPLIT_NAMES = {"train": ("train",), "val": USUAL_NAMES["validation"], "test": USUAL_NAMES["test"]}
# The attention kernel that keeps packed rows apart (it reads position_ids as boundaries).
PACKING_KERNEL = "flash_attention_2"


class CausalLMDataModule(TextDataModule):
    """Rows with `text`, `prompt` + `completion` or `messages` (rows.py) from JSONL, JSON,
    CSV/TSV, Parquet or a 🤗 dataset saved with `save_to_disk`. Call `load()` (read and
    check every row, carve missing splits), then `encode(tokenizer, ...)` (render once);
    Lightning then asks for the dataloaders.

    `train_on`, `truncation`, `chat_template`: render_row's (render.py); `max_length`: the
    most tokens of a rendered row (None: model.max_length). `packing`: pack the rows of a
    training batch into one (only with flash_attention_2: `set_packing`). `generation`:
    `max_new_tokens`, `num_beams` and `rows`, the first rows with an answer of the
    validation and test splits that evaluation generates for."""

    modality = "text"

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        format: str = "auto",
        train_on: str = "completion",
        max_length: int | None = None,
        truncation: str = "left",
        chat_template: str | None = None,
        packing: bool = False,
        generation: dict | None = None,
        task: str = NAME,
        batch_size: int = 8,
        eval_batch_size: int = 16,
        group_by_length: bool = True,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            name,
            train_path,
            val_path,
            test_path,
            val_fraction,
            test_fraction,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            group_by_length=group_by_length,
            num_workers=num_workers,
            seed=seed,
        )
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads prompts and answers; its task is {NAME}"
            )
        if format not in FORMATS:
            raise SFTConfigError(f"data.format={format}: unknown format (use {', '.join(FORMATS)})")
        try:
            check_options(train_on, truncation)
        except SFTConfigError as err:
            raise SFTConfigError(f"data.{err}") from None
        if max_length is not None and int(max_length) < 2:
            raise SFTConfigError(f"data.max_length={max_length}: must be at least 2 tokens")
        self.format = format
        self.train_on = train_on
        self.max_length = None if max_length is None else int(max_length)
        self.truncation = truncation
        self.chat_template = chat_template or None
        self.packing_requested = bool(packing)
        self.packing = False  # settled by set_packing once the model's kernel is known
        self.generation = {"max_new_tokens": 32, "num_beams": 1, "rows": 8, **(generation or {})}
        self.processor = None  # the tokenizer, once encode() has it
        self.truncated: dict[str, int] = {}  # rows that lost prompt tokens, per split
        # Per held-out split: the rows evaluation generates for (prompt text, ids, reference).
        self.held_out: dict[str, list[tuple[str, list[int], str]]] = {}

    # -- files -> checked splits --------------------------------------------------------

    def load(self, family=None, loss_task: str | None = None):
        """Read every split and check every row's shape (one line naming file and row),
        carve missing val/test splits (random by seed); return the label space (none)."""
        if family is None:
            from sft.tasks.causal_lm import CAUSAL_LM_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read prompts and answers; "
                f"set data.task={NAME}"
            )
        train_path = str(self.paths["train"])
        saved = kind_of(train_path, self.format) == "hf_dataset"
        for split in SPLITS:
            path, implicit = self.paths[split], False
            if path is None and saved and split != "train":
                path, implicit = train_path, True
            if path is None:
                continue
            found, digest = read_rows(
                str(path),
                f"data.{split}_path",
                "hf_dataset" if implicit else self.format,
                SPLIT_NAMES[split],
                implicit,
            )
            if found is not None:
                self.examples[split] = found
                self.fingerprints[split] = digest
        self.labels = family.label_space(self.examples["train"])
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        return self.labels

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train rows as `split` when it has no source (random by
        seed). Held-out rows keep their file and row numbers, so error lines point at them."""
        if split in self.examples or fraction <= 0:
            return
        train = self.examples["train"]
        held = int(np.ceil(fraction * len(train)))
        if held >= len(train):
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: the {split} split of the {len(train)} "
                f"rows of {train.source} would leave none to train on; lower "
                f"data.{split}_fraction or give data.{split}_path"
            )
        order = np.random.default_rng(self.seed).permutation(len(train))
        self.examples[split] = train.subset(np.sort(order[:held]))
        self.examples["train"] = train.subset(np.sort(order[held:]))

    def spec_fields(self) -> dict:
        """What prediction needs to prompt the model as it was trained (sft_model.json)."""
        return {
            "modality": "text",
            "chat_template": self.chat_template,
            "max_length": self.max_length,
            "generation": {k: self.generation[k] for k in ("max_new_tokens", "num_beams")},
        }

    # -- rendering ----------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Render every row once with `processor` (the model's tokenizer) and keep the
        held-out prompts; `max_length` (model.max_length) applies unless data.max_length is
        set. Not cached: rendering is a few template calls and one tokenization per row
        (measured ~1 ms a row on one thread), less than a cache lookup's bookkeeping."""
        tokenizer = processor
        if tokenizer.pad_token_id is None:
            raise SFTDataError("the tokenizer has no pad token or EOS; set one in the model folder")
        self.pad_token_id = tokenizer.pad_token_id
        self.tokenizer = self.processor = tokenizer  # saved with the model
        if self.max_length is None:
            self.max_length = int(max_length)
        for split, rows in self.examples.items():
            ids, labels, truncated = [], [], 0
            for record, number in zip(rows.records, rows.rows):
                rendered = render_row(
                    record,
                    tokenizer,
                    rows.source,
                    int(number),
                    train_on=self.train_on,
                    max_length=self.max_length,
                    truncation=self.truncation,
                    chat_template=self.chat_template,
                )
                ids.append(np.asarray(rendered.input_ids, dtype=np.int64))
                labels.append(np.asarray(rendered.labels, dtype=np.int64))
                truncated += rendered.truncated > 0
            self.datasets[split] = RenderedDataset(ids, labels)
            self.truncated[split] = truncated
            if truncated:
                log.warning(
                    "%s split: %d of %d rows are longer than data.max_length=%d tokens: "
                    "they lost tokens from the left of their prompt (data.truncation=left; "
                    "refuse: stop instead)",
                    split,
                    truncated,
                    len(rows),
                    self.max_length,
                )
            if split != "train":
                self.held_out[split] = self._generation_rows(rows, tokenizer)

    def _generation_rows(self, rows, tokenizer) -> list[tuple[str, list[int], str]]:
        """The first `generation.rows` rows with an answer: (prompt as shown, prompt ids,
        reference). A `text` row has no answer to compare with and is skipped."""
        chosen = []
        for record, number in zip(rows.records, rows.rows):
            if len(chosen) >= int(self.generation["rows"]):
                break
            _, shown, reference = prompt_parts(record, where(rows.source, int(number)))
            if reference is None:
                continue
            ids = prompt_ids(
                record, tokenizer, self.chat_template, file=rows.source, number=int(number)
            )
            chosen.append((shown, ids, reference))
        return chosen

    def set_packing(self, attn_implementation: str | None) -> None:
        """Pack training batches when data.packing=true and the model's attention kernel is
        flash_attention_2 (it keeps packed rows apart by their position_ids); with any other
        kernel (eager, sdpa) packed rows would attend to each other: train unpacked, and say
        so in one log line."""
        self.packing = self.packing_requested and attn_implementation == PACKING_KERNEL
        if self.packing_requested and not self.packing:
            log.warning(
                "data.packing=true: packing is off: the model's attention (%s) would let "
                "packed rows attend to each other; it needs model.attn_implementation=%s "
                "(training goes on unpacked)",
                attn_implementation,
                PACKING_KERNEL,
            )

    # -- Lightning --------------------------------------------------------------------------

    def train_dataloader(self):
        """Training batches with their accumulation window's trained tokens (batches.py)."""
        from sft.data.batching import ResumableLoader  # the resumable loader of every family

        trainer = self.trainer
        dataset = self.datasets["train"]
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        accumulate = int(trainer.accumulate_grad_batches) if trainer else 1
        sampler = WindowBatchSampler(
            dataset.lengths,
            dataset.targets,
            self.batch_size,
            accumulate=accumulate,
            seed=self.seed,
            group_by_length=self.group_by_length,
            num_replicas=replicas,
            rank=rank,
        )
        sampler.limit = _batches_run(trainer, len(sampler))
        if len(sampler) == 0:
            raise SFTDataError(
                f"the train split has {len(dataset)} rows: too few for {replicas} devices "
                f"with data.batch_size={self.batch_size}; use fewer trainer.devices or more data"
            )
        return ResumableLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=Collator(self.pad_token_id, self.packing),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _collate(self):
        """Evaluation batches: right-padded (every row's own loss and accuracy)."""
        return Collator(self.pad_token_id)


def _batches_run(trainer, batches: int) -> int | None:
    """The training batches per epoch Lightning runs under trainer.limit_train_batches (an
    int: that many; a float: that share, as Lightning computes it); None: all."""
    limit = getattr(trainer, "limit_train_batches", None) if trainer else None
    if limit is None:
        return None
    if isinstance(limit, int):
        return min(limit, batches)
    return batches if float(limit) >= 1.0 else int(batches * float(limit))
