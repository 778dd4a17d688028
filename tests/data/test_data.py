"""Data handling users rely on: splits, label ids, length-grouped batches, the token cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import toy_frame
from sft import cache
from sft.data import tokenize as tok_cache
from sft.data.batching import (
    LengthGroupedBatchSampler,
    PadCollator,
    ResumableLoader,
    TokenizedDataset,
)
from sft.data.labels import clean
from sft.data.module import TextDataModule
from sft.data.sources import locate, read_table
from sft.errors import SFTDataError
from sft.tasks.sequence import SEQUENCE


def datamodule(train, **kwargs) -> TextDataModule:
    return TextDataModule(name="toy", train_path=str(train), **kwargs)


def test_validation_split_is_stratified_and_fixed_by_seed(tmp_path):
    path = tmp_path / "train.csv"
    toy_frame(300, seed=0).to_csv(path, index=False)
    first = datamodule(path, val_fraction=0.2, seed=7)
    first.load(SEQUENCE)
    again = datamodule(path, val_fraction=0.2, seed=7)
    again.load(SEQUENCE)
    other = datamodule(path, val_fraction=0.2, seed=8)
    other.load(SEQUENCE)
    assert first.examples["val"].texts == again.examples["val"].texts
    assert first.examples["val"].texts != other.examples["val"].texts
    assert np.bincount(first.targets["val"]).tolist() == [20, 20, 20]
    assert len(first.examples["train"]) == 240
    assert not set(first.examples["val"].texts) & set(first.examples["train"].texts) - {""}


def test_label_names_are_sorted_and_integers_sort_numerically(tmp_path):
    path = tmp_path / "ints.csv"
    frame = toy_frame(40, seed=0)
    frame["label"] = frame["label"].map({"negative": 10, "neutral": 2, "positive": 1})
    frame.to_csv(path, index=False)
    dm = datamodule(path)
    assert dm.load(SEQUENCE).names == ["1", "2", "10"]


def test_formats_read_alike(tmp_path):
    frame = toy_frame(12, seed=0)
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    frame.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "a.parquet")
    tables = [
        read_table(locate(str(tmp_path / f"a.{ext}"), "k"), "k")
        for ext in ("csv", "tsv", "jsonl", "parquet")
    ]
    for table in tables:
        assert table["text"].tolist() == frame["text"].tolist()
        assert table["label"].tolist() == frame["label"].tolist()


def test_only_a_name_that_occurs_twice_is_refused(tmp_path):
    """`label` twice is refused (in a zip member too); `label` and `label.1`, and the empty
    names a trailing comma leaves (pandas' `Unnamed: n`), are distinct columns and read."""
    import zipfile

    (tmp_path / "ok.csv").write_text("text,label,label.1,,\ngood,positive,x,,\n")
    assert read_table(locate(str(tmp_path / "ok.csv"), "k"), "k").columns.tolist() == [
        "text",
        "label",
        "label.1",
        "Unnamed: 3",
        "Unnamed: 4",
    ]
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("train.csv", '\n"text","label",label\ngood,positive,negative\n')
    with pytest.raises(
        SFTDataError,
        match=r"^k: .*d\.zip/train\.csv: column 'label' occurs 2 "
        r"times \(columns: text, label, label\)",
    ):
        read_table(locate(str(tmp_path / "d.zip/train.csv"), "k"), "k")


def test_zip_members_and_packages_are_found(tmp_path):
    import zipfile

    frame = toy_frame(5, seed=0)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("inner/train.tsv", frame.to_csv(sep="\t", index=False))
    table = read_table(locate(str(tmp_path / "d.zip/inner/train.tsv"), "k"), "k")
    assert table["text"].tolist() == frame["text"].tolist()
    found = locate("pkg://pytest/__init__.py", "k")
    assert found.path.name == "__init__.py"


def test_clean_text_unescapes_html_and_strips_wrapping_quotes():
    assert clean('"I didn&#039;t like it "') == "I didn't like it"
    assert clean("plain") == "plain"


def test_length_grouped_batches_cover_every_example_once_and_reduce_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 200, size=1000)
    sampler = LengthGroupedBatchSampler(
        lengths, batch_size=16, shuffle=True, seed=3, group_batches=10
    )
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(sampler) == 63

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    random_batches = [rng.permutation(1000)[i : i + 16] for i in range(0, 1000, 16)]
    assert padded(batches) < 0.7 * padded(random_batches)


def test_batch_order_depends_on_seed_and_epoch_only():
    lengths = np.arange(100) % 37 + 1
    a = LengthGroupedBatchSampler(lengths, 8, shuffle=True, seed=1)
    b = LengthGroupedBatchSampler(lengths, 8, shuffle=True, seed=1)
    assert list(a) == list(b) == list(a)  # re-iterating the same epoch repeats it
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)


def test_a_resumed_loader_gives_the_rest_of_the_epoch_in_the_same_order():
    rng = np.random.default_rng(0)
    dataset = TokenizedDataset(
        [np.ones(n, dtype=np.int64) for n in rng.integers(1, 30, 50)], np.arange(50)
    )

    def loader(epoch: int) -> ResumableLoader:
        sampler = LengthGroupedBatchSampler(
            dataset.lengths, 4, shuffle=True, seed=3, group_batches=2
        )
        made = ResumableLoader(dataset, batch_sampler=sampler, collate_fn=PadCollator(0))
        made.batch_sampler.set_epoch(epoch)
        return made

    rows = [batch["labels"].tolist() for batch in loader(2)]
    interrupted = iter(first := loader(2))
    seen = [next(interrupted)["labels"].tolist() for _ in range(5)]
    state = first.state_dict()
    assert state == {"epoch": 2, "batches": 5}
    resumed = loader(0)
    resumed.load_state_dict(state)  # Lightning loads the state, then sets the epoch
    resumed.batch_sampler.set_epoch(2)
    rest = [batch["labels"].tolist() for batch in resumed]
    assert seen + rest == rows
    assert resumed.state_dict() == {"epoch": 2, "batches": len(rows)}
    resumed.batch_sampler.set_epoch(3)  # the next epoch starts at its first batch
    assert len(list(resumed)) == len(rows)


def test_eval_batches_are_sorted_longest_first():
    lengths = np.array([3, 9, 1, 7])
    sampler = LengthGroupedBatchSampler(lengths, 2, shuffle=False)
    assert list(sampler) == [[1, 3], [0, 2]]


def test_collate_pads_to_the_longest_and_masks_padding():
    data = TokenizedDataset([np.array([5, 6, 7]), np.array([8])], np.array([1, 0]))
    batch = PadCollator(pad_token_id=0)(data.__getitems__([0, 1]))
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].dtype == torch.long


def test_tokenization_is_cached_in_memory_and_on_disk(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    cache.clear()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [f"good day {i}" for i in range(20)]
    first = tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
    assert cache.STATS["tokens.tokenized"] == 1
    second = tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
    assert second is first and cache.STATS["tokens.hit"] == 1
    cache.clear()  # a new process: memory is cold, the disk entry is not
    third = tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
    assert cache.STATS["tokens.disk_hit"] == 1 and cache.STATS["tokens.tokenized"] == 0
    assert [t.tolist() for t in third] == [t.tolist() for t in first]
    tok_cache.tokenize(texts, tokenizer, 8, tmp_path)  # another max_length is another entry
    assert cache.STATS["tokens.tokenized"] == 1


def only_entry(tmp_path):
    (entry,) = (tmp_path / "tokens").iterdir()  # no temporary file left beside it
    assert entry.suffix == ".arrow"
    return entry


def test_a_damaged_cache_entry_is_rebuilt(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["bad day", "good day"]
    expected = [t.tolist() for t in tok_cache.tokenize(texts, tokenizer, 16, tmp_path)]
    cache.clear()
    only_entry(tmp_path).write_bytes(b"garbage")
    rebuilt = tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
    assert [t.tolist() for t in rebuilt] == expected
    assert cache.STATS["tokens.tokenized"] == 1


def test_a_cache_entry_cut_short_or_misplaced_is_rebuilt(tiny_model_dir, tmp_path):
    """Damage that still reads as an Arrow file: cut at a record batch (fewer rows) or another
    entry's file under this key (its recorded fingerprint is not the key); and a cut inside a
    batch, which does not read. Each is rebuilt, and the entry is whole again."""
    import datasets
    import pyarrow as pa
    from transformers import AutoTokenizer

    cache.clear()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [f"bad day {i}" for i in range(30)]
    expected = [t.tolist() for t in tok_cache.tokenize(texts, tokenizer, 16, tmp_path)]
    entry = only_entry(tmp_path)
    whole = entry.read_bytes()
    table = pa.ipc.open_stream(whole).read_all()

    def first_batch_only():
        with pa.ipc.new_stream(str(entry), table.schema) as writer:
            writer.write_table(table.slice(0, 10))

    def other_entry():
        other = datasets.Dataset.from_dict({"x": texts})
        other.map(
            lambda b: {"input_ids": [[2, 9, 3]] * len(b["x"])},
            batched=True,
            remove_columns=["x"],
            new_fingerprint="0" * 32,
            cache_file_name=str(entry),
        )

    damages = {
        "cut at a record batch": first_batch_only,
        "another entry's file": other_entry,
        "cut inside a batch": lambda: entry.write_bytes(whole[: len(whole) // 2]),
    }
    for damage, do in damages.items():
        cache.clear()
        entry.unlink()
        do()
        assert entry.read_bytes() != whole, damage
        rebuilt = tok_cache.tokenize(texts, tokenizer, 16, tmp_path)
        assert [t.tolist() for t in rebuilt] == expected, damage
        assert cache.STATS["tokens.tokenized"] == 1 and cache.STATS["tokens.disk_hit"] == 0, damage
        assert only_entry(tmp_path).read_bytes() == whole, damage  # written anew, whole


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_the_delimiter_of_a_csv_is_found_in_its_header(tmp_path, sep):
    path = tmp_path / "train.csv"
    # Texts holding every candidate: only the header decides.
    toy_frame(30, seed=0).assign(text=lambda f: f["text"] + " a,b;c|d").to_csv(
        path, index=False, sep=sep
    )
    frame = read_table(locate(str(path), "data.train_path"), "data.train_path")
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].str.endswith(" a,b;c|d").all()
    module = datamodule(path, val_fraction=0.2)
    module.load(SEQUENCE)
    assert module.labels.names == ["negative", "neutral", "positive"]


def test_a_given_delimiter_is_used_and_a_tab_may_be_written_as_backslash_t(tmp_path):
    path = tmp_path / "train.csv"
    toy_frame(30, seed=0).to_csv(path, index=False, sep="\t")
    for written in ("\t", "\\t", "tab"):
        frame = read_table(locate(str(path), "data.train_path"), "data.train_path", written)
        assert list(frame.columns) == ["text", "label"]
    module = datamodule(path, val_fraction=0.2, delimiter="\\t")
    module.load(SEQUENCE)
    assert len(module.examples["train"]) + len(module.examples["val"]) == 30


def test_a_header_with_one_delimited_cell_names_the_delimiter(tmp_path):
    path = tmp_path / "train.csv"
    toy_frame(30, seed=0).to_csv(path, index=False, sep=";")
    with pytest.raises(SFTDataError) as err:
        datamodule(path, delimiter=",").load(SEQUENCE)
    assert str(err.value) == (
        f"data.text_column: no column 'text' in {path} (columns: text;label); it looks "
        f"';'-delimited: set \"data.delimiter=';'\""
    )
    tsv = tmp_path / "train.tsv"  # auto reads a .tsv with tabs
    toy_frame(30, seed=0).to_csv(tsv, index=False, sep="|")
    with pytest.raises(SFTDataError, match=r"it looks '\|'-delimited: set \"data.delimiter='\|'\""):
        datamodule(tsv).load(SEQUENCE)
