"""What a prediction gives back: the RLE of a label map decodes to it (and a class's binary
RLE to what COCO tools decode), shares add up to 1, and the overlay picture has its size."""

from __future__ import annotations

import numpy as np
import pytest

from sft.errors import SFTDataError
from sft.tasks.segmentation.draw import HEADER, colour, draw, scale_of
from sft.tasks.segmentation.predict import read_input, shares
from sft.tasks.segmentation.rle import binary_rle, decode_rle, encode_rle


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (16, 3)])
def test_rle_round_trips_a_label_map(shape):
    label_map = np.random.default_rng(0).integers(0, 4, size=shape)
    label_map[0, :] = 2  # a long run too
    rle = encode_rle(label_map)
    assert rle["size"] == list(shape) and sum(rle["counts"]) == label_map.size
    assert all(a != b for a, b in zip(rle["values"], rle["values"][1:]))
    assert (decode_rle(rle) == label_map).all()


def test_rle_runs_go_down_columns_as_cocos():
    rle = encode_rle(np.array([[0, 1], [0, 1], [2, 1]]))
    assert rle == {"size": [3, 2], "counts": [2, 1, 3], "values": [0, 2, 1]}
    assert binary_rle(rle, 1) == {"size": [3, 2], "counts": [3, 3]}
    assert binary_rle(rle, 0) == {"size": [3, 2], "counts": [0, 2, 4]}


def test_binary_rle_decodes_with_a_coco_tool():
    mask_api = pytest.importorskip("faster_coco_eval.core.mask")
    label_map = np.random.default_rng(1).integers(0, 3, size=(6, 9))
    rle = encode_rle(label_map)
    for class_id in range(3):
        coco = binary_rle(rle, class_id)
        compressed = mask_api.frPyObjects(coco, *coco["size"])
        assert (mask_api.decode(compressed) == (label_map == class_id)).all()


def test_a_broken_rle_is_one_line():
    with pytest.raises(SFTDataError, match=r"needs counts adding up to 6 .*\(got 5 pixels"):
        decode_rle({"size": [2, 3], "counts": [2, 3], "values": [0, 1]})


def test_shares_cover_every_class_and_add_up_to_one():
    found = shares(np.array([[0, 0], [2, 0]]), ["a", "b", "c"])
    assert found == {"a": 0.75, "b": 0.0, "c": 0.25}


def test_draw_puts_prediction_beside_ground_truth(tmp_path):
    from PIL import Image

    pixels = np.full((30, 40, 3), 100, dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    pred = np.zeros((30, 40), dtype=np.int64)
    pred[:, 20:] = 1
    target = np.full((30, 40), 255, dtype=np.int64)
    target[:10] = 2
    picture = draw(str(tmp_path / "x.png"), pred, target, ["background", "cat", "dog"])
    scale = scale_of((40, 30))
    assert scale == 6  # a small image is enlarged (256 // 40)
    width, height = picture.size
    assert width == 2 * 40 * scale and height >= 30 * scale + HEADER
    shown = np.asarray(picture)

    def at(x, y):  # a pixel of the picture, by its place in the image
        return shown[HEADER + y * scale, x * scale]

    blend = np.rint(100 * 0.5 + np.array(colour(1)) * 0.5)
    assert (at(30, 15) == blend).all()  # predicted "cat": tinted
    assert (at(5, 15) == 100).all()  # predicted "background": untinted
    assert (at(40 + 5, 20) == 100).all()  # ignored ground truth: untouched
    assert (at(40 + 5, 5) == np.rint(100 * 0.5 + np.array(colour(2)) * 0.5)).all()


def test_an_input_is_a_path_or_a_base64_image_and_a_bad_one_is_one_line(tmp_path):
    import base64

    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    encoded = base64.b64encode((tmp_path / "x.png").read_bytes()).decode()
    for value in (str(tmp_path / "x.png"), encoded, f"data:image/png;base64,{encoded}"):
        assert (read_input(value, 0) == pixels).all()
    with pytest.raises(SFTDataError, match=r"^/nope/x.png: image file not found$"):
        read_input("/nope/x.png", 0)
    with pytest.raises(SFTDataError, match=r"^input 3: base64 data that is not a readable image$"):
        read_input("QUFB" * 20, 3)
    with pytest.raises(SFTDataError, match=r"^input 1: a data URI whose data is not base64$"):
        read_input("data:image/png;base64,x!x", 1)
