"""Reading images with boxes: COCO instances.json, metadata.jsonl, a saved 🤗 dataset; every
broken box, category, image reference or image is one line naming the file and the
annotation (or line/row and object); images without boxes are negatives, counted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.detection_scenes import paint_scene, random_scenes, write_coco_set, write_metadata_set
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.detection import DETECTION
from sft.tasks.detection.data import DetectionDataModule
from sft.tasks.detection.readers import read_scenes, resolve_format
from sft.tasks.detection.task import NEGATIVES

SCENES = random_scenes(5, seed=3, negatives=1)


def coco_file(tmp_path, edit=None):
    """A COCO set of SCENES; `edit(data)` changes the json before it is written back."""
    path = write_coco_set(tmp_path, SCENES)
    if edit is not None:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    return path


def one_line_error(path, match):
    with pytest.raises(SFTDataError) as caught:
        read_scenes(str(path), "data.train_path")
    text = str(caught.value)
    assert "\n" not in text and str(path) in text, text
    assert match in text, text
    return text


def test_coco_maps_sparse_category_ids_in_listed_order_and_keeps_negatives(tmp_path):
    found, digest = read_scenes(str(coco_file(tmp_path)), "data.train_path")
    assert found.names == ["red", "green", "blue"] and len(digest) == 64
    assert len(found) == 5 and found.numbers == [1, 2, 3, 4, 5]
    first = found.records[0]
    assert first["boxes"].shape == (len(SCENES[0]["boxes"]), 4)
    np.testing.assert_allclose(first["boxes"], SCENES[0]["boxes"])
    assert [found.names[i] for i in first["labels"]] == SCENES[0]["classes"]
    assert (first["width"], first["height"]) == (64, 64)
    assert found.records[-1]["boxes"].shape == (0, 4)  # a negative
    counts = DETECTION.label_counts(found.labels)
    assert counts[NEGATIVES] == 1
    assert sum(v for k, v in counts.items() if k != NEGATIVES) == sum(
        len(s["boxes"]) for s in SCENES
    )


def test_the_three_forms_read_the_same_boxes(tmp_path):
    import datasets

    coco, _ = read_scenes(str(write_coco_set(tmp_path / "coco", SCENES)), "data.train_path")
    named, _ = read_scenes(str(write_metadata_set(tmp_path / "named", SCENES)), "k")
    numbered, _ = read_scenes(str(write_metadata_set(tmp_path / "ids", SCENES, True).parent), "k")
    rows = [
        {
            "image": str(tmp_path / "named" / s["file_name"]),
            "objects": {
                "bbox": s["boxes"],
                "category": [["red", "green", "blue"].index(c) for c in s["classes"]],
            },
        }
        for s in SCENES
    ]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "objects": {
                "bbox": datasets.List(datasets.List(datasets.Value("float32"), length=4)),
                "category": datasets.List(datasets.ClassLabel(names=["red", "green", "blue"])),
            },
        }
    )
    datasets.Dataset.from_list(rows, features=features).save_to_disk(str(tmp_path / "saved"))
    saved, _ = read_scenes(
        str(tmp_path / "saved"), "data.train_path", media_dir=str(tmp_path / "media")
    )
    assert resolve_format(str(tmp_path / "saved"), "auto") == "hf_dataset"
    for found in (named, numbered, saved):
        assert len(found) == len(coco)
        for a, b in zip(coco.records, found.records):
            np.testing.assert_allclose(a["boxes"], b["boxes"])
            assert [coco.names[i] for i in a["labels"]] == [found.names[i] for i in b["labels"]]
    assert numbered.names == saved.names == ["red", "green", "blue"]
    assert named.names == ["blue", "green", "red"]  # names found, sorted


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d["annotations"][0].update(bbox=[10, 10, 0, 5]),
            "annotation 1 (image 1): bbox [10, 10, 0, 5] has a non-positive width or height",
        ),
        (
            lambda d: d["annotations"][1].update(bbox=[50, 10, 20, 5]),
            "annotation 2 (image 2): bbox [50, 10, 20, 5] reaches 6 px outside the 64x64 image",
        ),
        (
            lambda d: d["annotations"][2].update(category_id=9),
            "annotation 3: unknown category_id 9 (categories: 1, 3, 5)",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=77),
            "annotation 1: image_id 77 has no image in 'images'",
        ),
        (
            lambda d: d["images"][1].update(width=80),
            "image 2 (img001.png): the file is 64x64 pixels but the annotation file says 80x64",
        ),
        (
            lambda d: d["images"][0].update(file_name="gone.png"),
            "image 1 (gone.png): image file not found",
        ),
    ],
    ids=["zero-width", "outside", "category", "image-id", "size", "missing-file"],
)
def test_a_broken_coco_annotation_is_one_line_naming_file_and_id(tmp_path, edit, match):
    one_line_error(coco_file(tmp_path, edit), match)


def test_an_image_that_does_not_decode_is_one_line(tmp_path):
    path = coco_file(tmp_path)
    (tmp_path / "img002.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    one_line_error(path, "image 3 (img002.png): cannot decode image")


def test_a_box_overshooting_by_at_most_one_pixel_is_clipped(tmp_path):
    path = coco_file(tmp_path, lambda d: d["annotations"][0].update(bbox=[-0.5, 60, 10, 4.8]))
    found, _ = read_scenes(str(path), "data.train_path")
    np.testing.assert_allclose(found.records[0]["boxes"][0], [0, 60, 9.5, 4])


def test_metadata_errors_name_the_line_and_object(tmp_path):
    path = write_metadata_set(tmp_path, SCENES)
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    row["objects"]["bbox"][0] = [60, 0, 10, 10]
    path.write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n")
    one_line_error(path, f"{path} line 2 object 1: bbox [60, 0, 10, 10] reaches 6 px outside")


def test_metadata_with_id2label_refuses_an_unknown_category(tmp_path):
    path = write_metadata_set(tmp_path, SCENES, id2label=True)
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["objects"]["category"][0] = 7
    path.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    one_line_error(path, "line 1 object 1: unknown category 7 (known: 0 (red), 1 (green)")


def test_val_category_missing_in_train_names_the_annotation(tmp_path):
    train = write_coco_set(tmp_path / "train", SCENES[:2])
    val = write_coco_set(tmp_path / "val", SCENES[:2])
    data = json.loads(val.read_text())
    data["categories"].append({"id": 8, "name": "purple"})
    data["annotations"][0]["category_id"] = 8
    val.write_text(json.dumps(data))
    module = DetectionDataModule("t", str(train), val_path=str(val))
    with pytest.raises(
        SFTDataError,
        match=r"annotation 1 \(image 1\): category 'purple' does not "
        r"occur in the train split's categories \(red, green, blue\)",
    ):
        module.load()


def test_module_carves_val_and_counts_boxes_per_class(tmp_path):
    scenes = random_scenes(20, seed=4, negatives=3)
    module = DetectionDataModule("t", str(write_coco_set(tmp_path, scenes)), val_fraction=0.25)
    labels = module.load()
    assert labels.task == "detection" and labels.kind is DETECTION and labels.threshold == 0.5
    assert {k: len(v) for k, v in module.examples.items()} == {"train": 15, "val": 5}
    train_boxes = sum(len(r["labels"]) for r in module.examples["train"].records)
    assert module.class_counts().sum() == train_boxes
    assert module.spec_fields() == {"modality": "image", "threshold": 0.5}
    with pytest.raises(SFTConfigError, match=r"data\.task=multiclass: this data module reads"):
        DetectionDataModule("t", "x.json", task="multiclass")


def test_the_fingerprint_follows_the_annotations_and_the_images(tmp_path):
    path = write_coco_set(tmp_path, SCENES)

    def fingerprint():
        module = DetectionDataModule("t", str(path), val_fraction=0.2)
        module.load()
        return module.data_fingerprint()["train"]

    first = fingerprint()
    assert fingerprint() == first
    paint_scene(tmp_path / "img000.png", (64, 64), [[1, 1, 30, 30]], ["blue"])
    assert fingerprint() != first  # same annotations, another image


def test_a_saved_dataset_with_a_list_of_objects_and_named_categories(tmp_path):
    import datasets

    write_metadata_set(tmp_path / "images", SCENES)
    rows = [
        {
            "image": str(tmp_path / "images" / s["file_name"]),
            "objects": [{"bbox": b, "category": c} for b, c in zip(s["boxes"], s["classes"])],
        }
        for s in SCENES
    ]
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "objects": datasets.List(
                {
                    "bbox": datasets.List(datasets.Value("float32"), length=4),
                    "category": datasets.Value("string"),
                }
            ),
        }
    )
    parts = {"train": rows, "validation": rows[3:]}
    datasets.DatasetDict(
        {k: datasets.Dataset.from_list(v, features=features) for k, v in parts.items()}
    ).save_to_disk(str(tmp_path / "saved"))
    module = DetectionDataModule("t", str(tmp_path / "saved"), media_dir=str(tmp_path / "m"))
    module.load()
    assert {k: len(v) for k, v in module.examples.items()} == {"train": 5, "val": 2}
    val = module.examples["val"]
    for scene, record in zip(SCENES[3:], val.records):
        np.testing.assert_allclose(record["boxes"], np.asarray(scene["boxes"]).reshape(-1, 4))
        assert [module.labels.names[i] for i in record["labels"]] == scene["classes"]
    # A validation class the train split lacks: named by row and object.
    parts = {"train": rows[:1], "validation": rows[1:]}
    datasets.DatasetDict(
        {k: datasets.Dataset.from_list(v, features=features) for k, v in parts.items()}
    ).save_to_disk(str(tmp_path / "saved2"))
    module = DetectionDataModule("t", str(tmp_path / "saved2"), media_dir=str(tmp_path / "m"))
    with pytest.raises(SFTDataError, match=r"\(split 'validation'\) row \d+ object \d+: category "):
        module.load()


def test_settings_and_files_that_cannot_be_read_are_one_line(tmp_path):
    with pytest.raises(SFTConfigError, match=r"data\.format=voc: unknown format \(use auto, coco"):
        read_scenes(str(tmp_path), "data.train_path", format="voc")
    with pytest.raises(SFTDataError, match=r"^data\.val_path: file not found: .*nothing\.json$"):
        read_scenes(str(tmp_path / "nothing.json"), "data.val_path")
    path = coco_file(tmp_path)
    with pytest.raises(SFTDataError, match=r"^data\.image_dir: folder not found: .*elsewhere$"):
        read_scenes(str(path), "data.train_path", image_dir=str(tmp_path / "elsewhere"))
    (tmp_path / "broken.json").write_text('{"images": []}')
    with pytest.raises(SFTDataError, match=r"broken\.json: no 'annotations' list \(not a COCO"):
        read_scenes(str(tmp_path / "broken.json"), "data.train_path")
    meta = tmp_path / "meta" / "metadata.jsonl"
    meta.parent.mkdir()
    meta.write_text('{"objects": {"bbox": [], "category": []}}\n{"file_name": \n')
    one_line_error(meta, f"{meta} line 1: no 'file_name'")
    meta.write_text('{"file_name": "a.png"}\n{"file_name": \n')
    (meta.parent / "a.png").write_bytes((tmp_path / "img000.png").read_bytes())
    one_line_error(meta, f"{meta} line 2: not JSON")
