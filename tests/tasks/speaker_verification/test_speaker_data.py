"""data=speakers: clips and speakers from an audio folder's metadata.csv or a folder per
speaker; missing evaluation splits carved by speaker; targets (train speaker id or unseen,
speaker code of the split); the evaluation splits' checks and undecodable clips in one line
naming the file and row."""

from __future__ import annotations

import shutil

import pytest

from helpers.voices import write_voices
from sft.errors import SFTDataError
from sft.tasks.speaker_verification.data import SpeakerDataModule, collate
from sft.tasks.speaker_verification.task import UNSEEN


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("voices")
    write_voices(root / "train", list(range(6)), 3, seed=0)
    write_voices(root / "validation", [6, 7], 2, seed=1)
    return root


def test_missing_validation_split_holds_out_whole_speakers(corpus):
    module = SpeakerDataModule("v", str(corpus / "train"), val_fraction=0.3, seed=1)
    labels = module.load()
    train = set(module.examples["train"].labels)
    held = set(module.examples["val"].labels)
    assert len(held) == 2 and not held & train  # ceil(0.3 * 6) speakers, none trained on
    assert len(module.examples["val"]) == 6 and len(module.examples["train"]) == 12
    assert labels.names == sorted(train) and labels.task == "speaker_verification"
    assert (module.targets["val"][:, 0] == UNSEEN).all()
    again = SpeakerDataModule("v", str(corpus / "train"), val_fraction=0.3, seed=1)
    again.load()
    assert set(again.examples["val"].labels) == held  # by seed


def test_targets_hold_train_ids_and_split_codes(corpus):
    module = SpeakerDataModule("v", str(corpus / "train"), val_path=str(corpus / "validation"))
    labels = module.load()
    assert labels.names == [f"voice{i}" for i in range(6)]
    train = module.targets["train"]
    names = list(module.examples["train"].labels)
    assert train[:, 0].tolist() == [labels.names.index(n) for n in names]
    val = module.targets["val"]
    assert val[:, 0].tolist() == [UNSEEN] * 4 and val[:, 1].tolist() == [0, 0, 1, 1]
    assert labels.kind.class_counts(train, 6).tolist() == [3] * 6


def test_a_folder_per_speaker_is_read_and_batches_split_the_targets(corpus, tmp_path):
    for wav in (corpus / "train").glob("*.wav"):
        speaker = wav.name.split("_")[0]
        (tmp_path / speaker).mkdir(exist_ok=True)
        shutil.copy(wav, tmp_path / speaker / wav.name)
    module = SpeakerDataModule("v", str(tmp_path), val_fraction=0.3)
    module.load()
    assert len(module.examples["train"]) + len(module.examples["val"]) == 18
    speakers = set(module.examples["train"].labels) | set(module.examples["val"].labels)
    assert speakers == {f"voice{i}" for i in range(6)}
    assert module.examples["train"].texts[0].startswith(str(tmp_path))


def test_an_evaluation_speaker_with_one_clip_is_named_with_its_row(corpus, tmp_path):
    lines = (corpus / "validation" / "metadata.csv").read_text().splitlines()
    folder = tmp_path / "val"
    shutil.copytree(corpus / "validation", folder)
    (folder / "metadata.csv").write_text("\n".join(lines[:4]) + "\n")  # voice7 keeps 1 clip
    module = SpeakerDataModule("v", str(corpus / "train"), val_path=str(folder))
    with pytest.raises(SFTDataError) as caught:
        module.load()
    assert str(caught.value) == (
        f"{folder / 'metadata.csv'} row 3: speaker 'voice7' has only this clip in the "
        "validation split (1 speaker(s) have one); a same-speaker trial needs 2 clips"
    )


def test_an_evaluation_split_of_one_speaker_is_refused(corpus, tmp_path):
    folder = tmp_path / "test"
    shutil.copytree(corpus / "validation", folder)
    lines = (folder / "metadata.csv").read_text().splitlines()
    (folder / "metadata.csv").write_text("\n".join(lines[:3]) + "\n")
    module = SpeakerDataModule("v", str(corpus / "train"), test_path=str(folder))
    with pytest.raises(SFTDataError) as caught:
        module.load()
    assert str(caught.value) == (
        f"{folder / 'metadata.csv'}: the test split has 1 speaker in column 'speaker'; "
        "verification trials need at least 2"
    )


def test_an_undecodable_clip_is_named_with_its_row(corpus, tmp_path):
    from sft.data.media import load_processor
    from sft.model.backbone import resolve_model_path

    folder = tmp_path / "val"
    shutil.copytree(corpus / "validation", folder)
    (folder / "voice6_1.wav").write_bytes(b"RIFF not really a wav")
    module = SpeakerDataModule("v", str(corpus / "train"), val_path=str(folder))
    module.load()
    extractor = load_processor(resolve_model_path("pkg://sft/assets/wav2vec2_xvector"), "audio")
    with pytest.raises(SFTDataError) as caught:
        module.encode(extractor, 256, None)
        _ = module.datasets["val"][1]
    message = str(caught.value)
    assert message.startswith(
        f"{folder / 'metadata.csv'} row 2: {(folder / 'voice6_1.wav').resolve()}: not a "
        "readable WAV file ("
    ), message
    assert "\n" not in message


def test_collate_splits_train_ids_from_speaker_codes(corpus):
    from sft.data.media import load_processor
    from sft.model.backbone import resolve_model_path

    module = SpeakerDataModule("v", str(corpus / "train"), val_path=str(corpus / "validation"))
    module.load()
    extractor = load_processor(resolve_model_path("pkg://sft/assets/wav2vec2_xvector"), "audio")
    extractor.return_attention_mask = True  # as a layer-norm wav2vec2's: padding is masked
    module.encode(extractor, 256, None)
    batch = collate([module.datasets["val"][i] for i in range(4)])
    assert batch["labels"].tolist() == [UNSEEN] * 4 and batch["speakers"].tolist() == [0, 0, 1, 1]
    lengths = [len(module.datasets["val"].bases[i]) for i in range(4)]
    assert batch["input_values"].shape == (4, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths  # padding is masked
