"""`explain.samples=N`: a run explains N test examples, most confident mistakes first, and
logs the page and tables with the run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import media_overrides, mlflow_runs, run_train_in_process, tiny_overrides
from sft.inference.explain_report import CLASS_CSV, CLASS_HTML, CSV_FILE, HTML_FILE
from sft.tasks import get_task


def test_a_run_explains_its_test_examples_and_logs_them(tiny_model_dir, toy_data, tmp_path):
    overrides = [
        o
        for o in tiny_overrides(tiny_model_dir, toy_data, tmp_path)
        if not o.startswith(("paths.run_dir", "trainer.max_epochs"))
    ]
    code, stderr = run_train_in_process(
        *overrides, "trainer.max_epochs=1", "explain.samples=4", "explain.n_steps=8"
    )
    assert code == 0, stderr
    client, (run,) = mlflow_runs(tmp_path, "text_csv")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "explanations")}
    assert logged == {f"explanations/{n}" for n in (HTML_FILE, CSV_FILE, CLASS_CSV, CLASS_HTML)}
    folder = run.data.tags["sft.model_dir"].rsplit("/model", 1)[0]
    table = pd.read_csv(f"{folder}/explanations/{CSV_FILE}")
    assert table["example"].nunique() == 4
    page = open(f"{folder}/explanations/{HTML_FILE}").read()
    assert page.count('<div class="ex">') == 4 and "test row" in page


def test_confident_mistakes_come_first_then_confident_right_answers():
    task = get_task("multiclass")
    spec = {"labels": ["a", "b", "c"]}
    raw = np.array(
        [
            [3.0, 0.0, 0.0],  # a, right, confident
            [0.0, 5.0, 0.0],  # b, wrong (c), very confident
            [0.5, 0.0, 0.0],  # a, wrong (b), unsure
            [0.0, 0.0, 0.2],  # c, right, unsure
        ]
    )
    targets = np.array([0, 2, 1, 2])
    assert task.explanation_order(raw, targets, spec).tolist() == [1, 2, 0, 3]
    regression = get_task("regression")
    values = np.array([[1.0], [4.0], [2.0]])
    order = regression.explanation_order(values, np.array([1.0, 1.0, 1.5]), {})
    assert order.tolist() == [1, 2, 0]


def test_an_image_run_explains_its_test_pictures_as_heat_maps(
    tiny_resnet_dir, shapes_data, tmp_path
):
    """explain.samples on an image run: a PNG per test picture and the summary CSV, logged."""
    code, stderr = run_train_in_process(
        *media_overrides("resnet", tiny_resnet_dir, "image_folder", tmp_path),
        f"data.train_path={shapes_data['train']}",
        f"data.test_path={shapes_data['test']}",
        "trainer.max_epochs=1",
        "explain.samples=2",
        "explain.n_steps=8",
    )
    assert code == 0, stderr
    client, (run,) = mlflow_runs(tmp_path, "image_folder")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "explanations")}
    table = pd.read_csv(tmp_path / "run" / "explanations" / CSV_FILE)
    assert len(table) == 2 and table["baseline_logit"].notna().all()
    assert {f"explanations/{name}" for name in table["png"]} | {
        f"explanations/{CSV_FILE}"
    } == logged
