"""How fast training runs: the time spent in training steps alone (validation excluded), the
samples, padded tokens and FLOPs they processed, and the time from process start to the first
finished step. Logged at the end of fit as `time/train_s`, `time/first_step_s`,
`perf/train_samples_per_s`, `perf/train_tokens_per_s`, `perf/train_gflops_per_s` and
`perf/train_gflops_per_s_best_step` (the fastest single step: a benchmark's ceiling for
model FLOP utilisation must be at least that).

FLOPs follow the usual estimate for transformer training: 6 x (non-embedding parameters) per
token, plus the attention matmuls, 12 x layers x hidden x sequence length per token
(forward and backward, on padded batches: what the hardware actually computes).
"""

from __future__ import annotations

import contextlib
import time

from pytorch_lightning.callbacks import Callback


def process_age() -> float | None:
    """Seconds since this process started (None where that cannot be read)."""
    try:
        import psutil  # lazy: an optional package (MLflow's dependency); absent -> None

        return time.time() - psutil.Process().create_time()
    except Exception:  # psutil missing or /proc unreadable: report nothing rather than guess
        return None


def step_flops(params: int, layers: int, hidden: int, size: int, length: int) -> float:
    """Training FLOPs of one batch of `size` sequences padded to `length` tokens (the module
    docstring's estimate; `params`, `layers`, `hidden` from flop_model)."""
    return 6 * params * size * length + 12 * layers * hidden * size * length * length


def flop_model(module) -> tuple[int, int, int]:
    """(non-embedding parameters of backbone and head, layers, hidden size) of an SFTModule."""
    encoder = module.backbone.encoder
    embeddings = encoder.get_input_embeddings()
    embedding_params = (
        sum(p.numel() for p in getattr(encoder, "embeddings", embeddings).parameters())
        if embeddings is not None
        else 0
    )
    total = sum(p.numel() for p in module.backbone.parameters())
    head = sum(p.numel() for p in module.head.parameters())
    config = encoder.config
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    return total - embedding_params + head, layers, hidden


class TrainClock(Callback):
    """Times training steps (not validation) and counts what they processed."""

    def __init__(self) -> None:
        self.train_s = 0.0
        self.samples = 0
        self.tokens = 0
        self.attention = 0  # sum over batches of batch * length^2
        self.first_step_s: float | None = None
        self._started: float | None = None
        self._last: float | None = None
        self._batch_started: float | None = None
        self._batch_flops = 0.0
        self._flop_model: tuple[int, int, int] | None = None
        self.best_step_gflops = 0.0  # GFLOP/s of the fastest single step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._started is None:  # the epoch's first batch, or the first after validation
            self._started = time.perf_counter()
        size = len(batch["labels"])  # a tensor, or a list (detection: one dict per image)
        # Images and audio have no tokens: their tokens and attention terms stay 0.
        length = batch["input_ids"].shape[1] if "input_ids" in batch else 0
        self.samples += size
        self.tokens += size * length
        self.attention += size * length * length
        if length:
            self._flop_model = self._flop_model or flop_model(pl_module)
            self._batch_flops = step_flops(*self._flop_model, size, length)
        self._batch_started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._last = time.perf_counter()
        if self._batch_flops and self._last > self._batch_started:
            self.best_step_gflops = max(
                self.best_step_gflops, self._batch_flops / (self._last - self._batch_started) / 1e9
            )
        if self.first_step_s is None:
            self.first_step_s = process_age()

    def _pause(self) -> None:
        if self._started is not None and self._last is not None:
            self.train_s += self._last - self._started
        self._started = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._pause()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._pause()

    def on_train_end(self, trainer, pl_module) -> None:
        self._pause()
        if trainer.logger is None or self.train_s <= 0:
            return
        metrics = {
            "time/train_s": self.train_s,
            "perf/train_samples_per_s": self.samples / self.train_s,
        }
        if self.tokens:  # text: the token-based FLOP estimate applies
            params, layers, hidden = flop_model(pl_module)
            flops = 6 * params * self.tokens + 12 * layers * hidden * self.attention
            metrics["perf/train_tokens_per_s"] = self.tokens / self.train_s
            metrics["perf/train_gflops_per_s"] = flops / self.train_s / 1e9
            metrics["perf/train_gflops_per_s_best_step"] = self.best_step_gflops
        if self.first_step_s is not None:
            metrics["time/first_step_s"] = self.first_step_s
        trainer.logger.log_metrics(metrics, step=trainer.global_step)


class Phases:
    """Seconds per named phase of a run after its fit (`time/test_s`, `time/post_hoc_s`, ...),
    so that no pass of the model hides inside `time/after_fit_s`: `with phases("test"): ...`
    adds the block's wall time to `seconds["time/test_s"]`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            key = f"time/{name}_s"
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
