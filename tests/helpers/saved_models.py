"""A model in the shape `save_model` reads, built without training: a tiny BERT backbone and a
linear or MLP head for each task, with the texts the inference tests predict on."""

from __future__ import annotations

import torch

from sft.model.backbone import Backbone
from sft.model.heads import LinearHead, MLPHead
from sft.tasks import get_task

TEXTS = [
    "good drug",
    "the pill was awful and my week was bad after it",
    "okay",
    "&quot;great&quot; doctor",
    "plain day",
]
TASKS = {
    "multiclass": ["negative", "neutral", "positive"],
    "binary": ["no", "yes"],
    "regression": [],
}


class Module(torch.nn.Module):
    """The parts of an SFTModule that save_model reads."""

    def __init__(self, folder, task, labels, head, head_config):
        super().__init__()
        self.backbone = Backbone(str(folder), "mean", 64)
        self.head = head
        self.task = get_task(task)  # the Task object, as sft.training.build hands it
        self.label_names = labels
        self.head_config = head_config
        self.finetune = None  # full fine-tuning: nothing to merge
        self.threshold = 0.5
        self.target_scale = None  # targets not standardized

    def forward(self, input_ids, attention_mask):
        return self.head(self.backbone(input_ids, attention_mask))


def build(folder, task, mlp=False, seed=0):
    torch.manual_seed(seed)
    labels = TASKS[task]
    outputs = len(labels) if task == "multiclass" else 1
    if mlp:
        head, config = (
            MLPHead(32, outputs, hidden_sizes=[16], activation="tanh"),
            {
                "_target_": "sft.model.heads.MLPHead",
                "hidden_sizes": [16],
                "activation": "tanh",
                "dropout": 0.1,
            },
        )
    else:
        head, config = (
            LinearHead(32, outputs),
            {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1},
        )
    return Module(folder, task, labels, head, config).eval()
