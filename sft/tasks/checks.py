"""Config checks that depend on the task: the loss, loss and data options, and monitored
metrics must fit it. Run when the config is composed (an explicit `data.task`), and again
once the data has settled the task and the labels (sft.training.run.load_data).

Each check raises SFTConfigError with one line naming the key.
"""

from __future__ import annotations

from omegaconf import DictConfig

from sft.config.schema import cfg_choice, loss_tasks, monitor_settings
from sft.errors import SFTConfigError
from sft.tasks import AUTO, family_of, get_task
from sft.tasks.monitors import describe_monitorable, metric_fits, per_class_hint


def check_config(cfg: DictConfig) -> None:
    """The task checks a composed config allows before any data is read: with an explicit
    `data.task` everything `check_task_fit` checks; with `auto`, each monitored metric must
    be logged by one of the tasks the loss can train."""
    name = str(cfg.data.get("task", AUTO))
    check_explain(cfg, None if name == AUTO else get_task(name))
    if name != AUTO:
        check_task_fit(cfg, get_task(name))
        check_features(cfg, get_task(name))
    elif monitor_settings(cfg):
        candidates = loss_tasks(str(cfg.loss.get("_target_"))) or family_of(AUTO).tasks
        check_monitors(cfg, [get_task(t) for t in candidates])


def check_task_fit(cfg: DictConfig, task, labels: list[str] | None = None) -> None:
    """Refuse a loss, loss option, data option or monitored metric that `task` (a Task or
    its name) cannot use; per-class monitors are checked against `labels` once read."""
    task = get_task(task) if isinstance(task, str) else task
    check_network(cfg, task)
    if task.auto_class is None:  # a whole task model trains on its own loss
        check_loss_fits(str(cfg.loss.get("_target_")), task, cfg_choice(cfg, "loss"))
    task.check_options(cfg)
    check_monitors(cfg, (task,), labels)


# The model config's target that builds a whole transformers task model (its own head and
# loss: sft.model.task_model), which the detection and segmentation tasks need.
TASK_MODEL_TARGET = "sft.model.task_model.load_task_model"
# The shipped task-model configs, named in the error for a task that needs one.
TASK_MODEL_CHOICES = (
    "model=conditional_detr (detection), model=segformer or model=upernet (segmentation), "
    "model=parakeet_ctc, model=wav2vec2_ctc or model=whisper (speech_to_text), "
    "model=wav2vec2_xvector (speaker_verification), model=llama_chat (causal_lm)"
)
# The loss choice that is the default: a task model computes its own loss, so another one
# set on the command line would be silently ignored.
DEFAULT_LOSS = "cross_entropy"


def check_network(cfg: DictConfig, task) -> None:
    """Refuse a model config that cannot make the task's network (one line naming `model`):
    a task with its own `auto_class` (detection, segmentation) needs a task-model config
    (`_target_: sft.model.task_model.load_task_model`, e.g. model=conditional_detr), and
    the other tasks a backbone; a loss choice other than the default is refused for a task
    model, whose loss is its own."""
    is_task_model = str(cfg.model.get("_target_")) == TASK_MODEL_TARGET
    if task.auto_class is not None and not is_task_model:
        raise SFTConfigError(
            f"model={cfg_choice(cfg, 'model')}: task '{task.name}' fine-tunes a whole "
            f"{task.auto_class} model (its own head and loss); choose a task-model config: "
            f"{TASK_MODEL_CHOICES} (or yours, with _target_ {TASK_MODEL_TARGET})"
        )
    if task.auto_class is None and is_task_model:
        raise SFTConfigError(
            f"model={cfg_choice(cfg, 'model')} is a whole task model (detection, "
            f"segmentation); task '{task.name}' needs a backbone model config (e.g. model=minilm)"
        )
    if task.auto_class is not None and cfg_choice(cfg, "loss") != DEFAULT_LOSS:
        raise SFTConfigError(
            f"loss={cfg_choice(cfg, 'loss')}: task '{task.name}' trains on its model's own "
            f"loss; the loss group does not apply"
        )


def check_features(cfg: DictConfig, task) -> None:
    """Refuse a feature of sft the task does not declare (`features`): cross-validation and
    seed repeats (`cv`), fold or seed ensembles (`ensemble`), tuned decisions (`decisions`),
    a LoRA model saved as its adapter (`adapter`; and never on random base weights, which
    no folder holds). Temperature scaling, on by default, is skipped quietly for a task
    without it."""
    cv = cfg.get("cv") or {}
    adapter = (cfg.get("finetune") or {}).get("save") == "adapter"
    asked = [
        ("cv", "cv.folds", cv.get("folds")),
        ("cv", "seeds", cfg.get("seeds")),
        ("ensemble", "cv.ensemble", cv.get("ensemble")),
        ("decisions", "decisions.tune", (cfg.get("decisions") or {}).get("tune")),
        ("adapter", "finetune.save", "adapter" if adapter else None),
    ]
    for feature, key, value in asked:
        if value and not task.supports(feature):
            raise SFTConfigError(
                f"{key}={value}: task '{task.name}' does not support "
                f"{feature} (it supports: {', '.join(sorted(task.features)) or 'none of them'})"
            )
    if adapter and (cfg.get("model") or {}).get("init") == "random":
        raise SFTConfigError(
            "finetune.save=adapter: model.init=random starts from weights no folder holds, so "
            "an adapter could not be put back on them; use finetune.save=merged"
        )


def check_explain(cfg: DictConfig, task) -> None:
    """Refuse `explain.samples` for a task that has no explanation (no `explanation_target`;
    `task` None: data.task=auto, a sequence task, which has one); text, images and audio
    are all explained (sft.inference.explain, explain_media)."""
    samples = (cfg.get("explain") or {}).get("samples")
    if not samples:
        return
    if task is not None and getattr(task, "explanation_target", None) is None:
        raise SFTConfigError(
            f"explain.samples={samples}: explanations are not available for task '{task.name}'"
        )


def check_loss_fits(loss_target: str, task, loss_name: str) -> None:
    """Refuse a loss that cannot train `task`: the loss declares the tasks it trains
    (`tasks` beside its class) and the task says which of them its loss sees
    (`loss_problem`: a token classifier's loss sees a multiclass problem per token)."""
    task = get_task(task) if isinstance(task, str) else task
    fits = loss_tasks(loss_target)
    if fits is not None and task.loss_problem not in fits:
        raise SFTConfigError(
            f"loss={loss_name} does not fit task '{task.name}' "
            f"(it trains: {', '.join(fits)}); choose another loss or data.task"
        )


def check_monitors(cfg: DictConfig, tasks, labels: list[str] | None = None) -> None:
    """Refuse a monitored metric (`monitor_settings`) that no task of `tasks` logs, with
    the keys that exist. One line: `monitor.metric=val_loss is not logged for task ...`."""
    tasks = [get_task(t) if isinstance(t, str) else t for t in tasks]
    for key, metric in monitor_settings(cfg):
        if any(metric_fits(metric, task, labels) for task in tasks):
            continue
        choices = ", ".join(
            dict.fromkeys(
                part for task in tasks for part in describe_monitorable(task, labels).split(", ")
            )
        )
        raise SFTConfigError(
            f"{key}={metric} is not logged for task "
            f"{' or '.join(repr(t.name) for t in tasks)}"
            f"{per_class_hint(metric, tasks[0], labels)} (choose from: {choices})"
        )
