"""The screenshots of docs/mlflow.md: a real `mlflow server` on a SQLite store holding a few
tiny sft runs, photographed by headless Chromium.

    python docs/scripts/mlflow_screenshots.py /tmp/sft-mlflow-shots docs/

makes, under the work folder (first argument): a 2-layer BERT (hidden size 32, built from a
config: nothing is downloaded), a toy review data set (train 240 rows, test 90, three classes
given away by a keyword), and these runs of `sft-train` (`python -m sft.train`) into
`<work>/outputs/mlflow.db`:

- two single runs (optimizer.lr 3e-3 and 1e-3, 4 epochs);
- a 3-fold CV run with its fold ensemble (cv.folds=3 cv.ensemble=true, 3 epochs per fold);
- a seed run (seeds=[1,2], 3 epochs each);
- a run that FAILS on a one-line data error (a test file with an empty text).

Then it starts `mlflow server` on that store and writes into the docs folder (second argument)
`mlflow-experiment-runs.png` (the runs table with its Dataset column and metrics),
`mlflow-cv-parent.png` (the CV parent's description), `mlflow-failed-run.png` (the reason of
the failed run) and `mlflow-run-charts.png` (a run's charts, learning curves first).
Needs `chromium` on PATH (Debian: `apt-get install chromium`). Takes ~3 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' tiny model and toy data (one home)
from conftest import WORDS, save_tiny_bert, toy_frame  # noqa: E402

SHARE_KEY = "sft-docs"  # the experiment's shared view (columns shown in the runs table)
COLUMNS = [
    "attributes.`Dataset`",
    "metrics.`best/val/f1_macro`",
    "metrics.`test/acc`",
    "metrics.`test/f1_macro`",
    "params.`optimizer.lr`",
    "attributes.`Models`",
]
WINDOW = "1500,1000"
# What a first visit to the UI would otherwise show: MLflow Assistant's panel opened by
# itself, a "Detect issues" hint, and the GenAI side of the sidebar (localStorage values).
FIRST_VISIT = {
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.assistant.panelOpen_v1": "false",
    "mlflow.detectIssues.guidanceShown_v1": "true",
    "mlflow.workflowType_v1": '"machine_learning"',
}


def tiny_model(folder: Path) -> Path:
    """The tests' tiny BERT (tests/conftest.py::save_tiny_bert), saved as a hub model is."""
    return save_tiny_bert(folder, [w for words in WORDS.values() for w in words])


def toy_reviews(path: Path, rows: int, seed: int) -> Path:
    """Short reviews whose label a keyword gives away (the tests' toy_frame), as a CSV."""
    toy_frame(rows, seed).to_csv(path, index=False)
    return path


def train(work: Path, *overrides: str, fails: bool = False) -> None:
    """One `sft-train` run (or CV/seed parent) with the tiny model and data into the store."""
    base = [
        "model=hf",
        f"model.name_or_path={work / 'tiny'}",
        "model.max_length=64",
        "data=text_csv",
        "data.name=reviews",
        f"data.train_path={work / 'train.csv'}",
        f"data.test_path={work / 'test.csv'}",
        "data.val_fraction=0.2",
        "optimizer.lr=3e-3",
        "trainer.max_epochs=4",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={work / 'outputs'}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "sft.train", *base, *overrides]
    print("$ sft-train", " ".join(overrides), flush=True)
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    if (done.returncode != 0) != fails:
        raise SystemExit(f"sft-train {' '.join(overrides)}: {done.stderr[-3000:]}")
    if fails:
        print("  failed as meant:", done.stderr.strip().splitlines()[-1])


def make_runs(work: Path) -> None:
    tiny_model(work / "tiny")
    toy_reviews(work / "train.csv", 240, seed=1)
    toy_reviews(work / "test.csv", 90, seed=2)
    bad = toy_reviews(work / "bad_test.csv", 30, seed=3)
    lines = bad.read_text().splitlines()
    lines[5] = '"   ",neutral'  # row 5 of the data: an empty text
    bad.write_text("\n".join(lines) + "\n")
    train(work)
    train(work, "optimizer.lr=1e-3")
    train(work, "cv.folds=3", "cv.ensemble=true", "trainer.max_epochs=3")
    train(work, "seeds=[1,2]", "trainer.max_epochs=3")
    train(work, f"data.test_path={bad}", fails=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: str, port: int) -> subprocess.Popen:
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    server = subprocess.Popen(
        [mlflow, "server", "--backend-store-uri", store, "--host", "127.0.0.1"]
        + ["--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("mlflow server did not start in 120 s")


def proxy(port: int) -> ThreadingHTTPServer:
    """A pass-through to the MLflow server on `port` that also answers `/sft-setup?next=URL`
    with a page that sets FIRST_VISIT in the origin's localStorage and goes on to URL: a
    returning user's view (headless Chromium starts each screenshot with a fresh profile)."""
    setup = "".join(f"localStorage.setItem({k!r}, {v!r});" for k, v in FIRST_VISIT.items())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def forward(self) -> None:
            if self.path.startswith("/sft-setup"):
                target = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["next"][0]
                page = f"<script>{setup}location.replace({json.dumps(target)});</script>"
                return self.answer(200, {"Content-Type": "text/html"}, page.encode())
            length = int(self.headers.get("Content-Length") or 0)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{self.path}",
                data=self.rfile.read(length) if length else None,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                method=self.command,
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    self.answer(answer.status, answer.headers, answer.read())
            except urllib.error.HTTPError as err:
                self.answer(err.code, err.headers, err.read())

        def answer(self, status: int, headers, body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def shoot(url: str, path: Path, budget_ms: int = 15000, window: str = WINDOW) -> None:
    """A screenshot of `url` once its scripts ran for `budget_ms` of virtual time (charts
    draw only with --run-all-compositor-stages-before-draw)."""
    subprocess.run(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={window}",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    print("wrote", path, flush=True)


def take_screenshots(work: Path, docs: Path) -> None:
    from mlflow import MlflowClient

    store = f"sqlite:///{work / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("reviews")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    # The runs table's columns: MLflow shows a shared view (an experiment tag) by its key.
    view = {"selectedColumns": COLUMNS}
    client.set_experiment_tag(
        experiment.experiment_id, f"mlflow.sharedViewState.{SHARE_KEY}", json.dumps(view)
    )
    cv = next(r for r in runs if r.data.tags.get("sft.repeat") == "cv")
    failed = next(r for r in runs if r.info.status == "FAILED")
    single = next(
        r
        for r in sorted(runs, key=lambda r: r.info.start_time)
        if "sft.repeat" not in r.data.tags and "mlflow.parentRunId" not in r.data.tags
    )
    port = free_port()
    server = start_server(store, port)
    front = proxy(port)
    origin = f"http://127.0.0.1:{front.server_address[1]}"
    experiment_page = f"{origin}/#/experiments/{experiment.experiment_id}"

    def page(route: str) -> str:
        return f"{origin}/sft-setup?next=" + urllib.parse.quote(f"{experiment_page}{route}")

    try:
        shoot(
            page(f"/runs?viewStateShareKey={SHARE_KEY}"),
            docs / "mlflow-experiment-runs.png",
            window="1900,700",
        )
        tall = "1500,1700"  # the run page's description comes after its tags
        shoot(page(f"/runs/{cv.info.run_id}"), docs / "mlflow-cv-parent.png", window=tall)
        shoot(page(f"/runs/{failed.info.run_id}"), docs / "mlflow-failed-run.png", window=tall)
        shoot(
            page(f"/runs/{single.info.run_id}/model-metrics"),
            docs / "mlflow-run-charts.png",
            budget_ms=25000,
        )
    finally:
        front.shutdown()
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    work, docs = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "outputs" / "mlflow.db").exists():
        make_runs(work)
    take_screenshots(work, docs)


if __name__ == "__main__":
    main()
