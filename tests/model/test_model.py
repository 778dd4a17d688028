"""Model parts do what their names say: pooling, heads, losses, penalties, param groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sft.model.backbone import Backbone
from sft.model.finetune import FullFineTune
from sft.model.heads import LinearHead, MLPHead
from sft.model.losses import CrossEntropyLoss, balanced_class_weights
from sft.model.optim import warmup_schedule
from sft.model.regularizers import L2SP, ElasticNetPenalty, L1Penalty, L2Penalty


@pytest.fixture(scope="module")
def backbone(tiny_model_dir):
    return Backbone(str(tiny_model_dir), pooling="mean", max_length=32)


def test_backbone_loads_in_train_mode(backbone):
    assert backbone.encoder.training  # dropout must be on while fine-tuning


def test_mean_pooling_ignores_padding(backbone):
    backbone.eval()
    ids = torch.tensor([[2, 10, 11, 3]])
    padded = torch.tensor([[2, 10, 11, 3, 0, 0]])
    alone = backbone(ids, torch.ones_like(ids))
    with_pad = backbone(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
    assert torch.allclose(alone, with_pad, atol=1e-5)
    backbone.train()


def test_cls_and_pooler_pooling_differ_from_mean(tiny_model_dir):
    ids = torch.tensor([[2, 10, 11, 3]])
    mask = torch.ones_like(ids)
    outs = {}
    for pooling in ("mean", "cls", "pooler"):
        model = Backbone(str(tiny_model_dir), pooling=pooling, max_length=32).eval()
        outs[pooling] = model(ids, mask)
        assert outs[pooling].shape == (1, 32)
    assert not torch.allclose(outs["mean"], outs["cls"])
    assert not torch.allclose(outs["cls"], outs["pooler"])


@pytest.mark.parametrize("pooling", ["max", "last_token"])
def test_max_and_last_token_pooling_ignore_padding(tiny_model_dir, pooling):
    model = Backbone(str(tiny_model_dir), pooling=pooling, max_length=32).eval()
    ids = torch.tensor([[2, 10, 11, 3]])
    padded = torch.tensor([[2, 10, 11, 3, 0, 0]])
    alone = model(ids, torch.ones_like(ids))
    with_pad = model(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
    assert torch.allclose(alone, with_pad, atol=1e-5)


def test_pool_picks_the_max_and_the_last_real_token():
    from sft.model.backbone import pool

    states = torch.tensor(
        [[[1.0, 5.0], [3.0, -1.0], [9.0, 9.0]], [[0.0, 2.0], [4.0, 1.0], [7.0, 8.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert pool(states, mask, "max").tolist() == [[3.0, 5.0], [7.0, 8.0]]
    assert pool(states, mask, "last_token").tolist() == [[3.0, -1.0], [7.0, 8.0]]
    assert pool(states, mask, "cls").tolist() == [[1.0, 5.0], [0.0, 2.0]]


def test_heads_map_features_to_outputs():
    x = torch.randn(4, 32)
    assert LinearHead(32, 3)(x).shape == (4, 3)
    mlp = MLPHead(32, 5, hidden_sizes=[16, 8], activation="relu", dropout=0.0)
    assert mlp(x).shape == (4, 5)
    assert [m.out_features for m in mlp if isinstance(m, nn.Linear)] == [16, 8, 5]


def test_balanced_class_weights_match_sklearn():
    weights = balanced_class_weights([161, 54, 385])
    assert weights == pytest.approx([600 / (3 * 161), 600 / (3 * 54), 600 / (3 * 385)])


def test_class_weights_make_rare_class_errors_cost_more():
    logits = torch.zeros(2, 3)
    rare, common = torch.tensor([1]), torch.tensor([2])
    loss = CrossEntropyLoss(class_weights=[1.0, 5.0, 1.0])
    unweighted = CrossEntropyLoss()
    assert loss(logits[:1], rare) == pytest.approx(unweighted(logits[:1], rare).item())
    mixed = torch.cat([rare, common])
    assert loss(logits, mixed) == pytest.approx(unweighted(logits, mixed).item())
    biased = torch.tensor([[0.0, 0.0, 2.0]] * 2)
    assert loss(biased, mixed) > unweighted(biased, mixed)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
        self.head = nn.Linear(3, 2)


def test_no_weight_decay_on_biases_and_norms():
    model = Toy()
    groups = {g["name"]: g for g in FullFineTune().param_groups(model, lr=1e-3, weight_decay=0.01)}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert groups["backbone"]["params"] == [model.backbone[0].weight]
    assert groups["head"]["params"] == [model.head.weight]
    assert len(groups["backbone_no_decay"]["params"]) == 3  # bias, LayerNorm weight and bias
    assert {g["weight_decay"] for n, g in groups.items() if n.endswith("no_decay")} == {0.0}
    assert groups["head"]["weight_decay"] == groups["backbone"]["weight_decay"] == 0.01


def test_head_learning_rate_multiplier():
    groups = FullFineTune(head_lr_mult=20).param_groups(Toy(), lr=1e-4, weight_decay=0.0)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["backbone"] == lrs["backbone_no_decay"] == 1e-4
    assert lrs["head"] == lrs["head_no_decay"] == pytest.approx(2e-3)


def test_penalties_respect_scope():
    model = Toy()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    head_params = sum(p.numel() for p in model.head.parameters())
    all_params = sum(p.numel() for p in model.parameters())
    assert L2Penalty(2.0, "head")(model).item() == pytest.approx(2.0 * 0.25 * head_params)
    assert L1Penalty(1.0, "all")(model).item() == pytest.approx(0.5 * all_params)
    backbone = L1Penalty(1.0, "backbone")(model).item()
    assert backbone == pytest.approx(0.5 * (all_params - head_params))


def test_l2_penalty_shrinks_weights_when_minimised():
    model = Toy()
    before = model.head.weight.detach().norm()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        L2Penalty(1.0, "head")(model).backward()
        optimizer.step()
    assert model.head.weight.norm() < before
    assert model.backbone[0].weight.grad is None  # out of scope: no gradient at all


def test_l2sp_gradient_is_zero_at_w0_and_pulls_towards_it():
    model = Toy()
    penalty = L2SP(alpha=0.5, beta=0.1)
    penalty.bind(model)
    w0 = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    penalty(model).backward()
    for p in model.backbone.parameters():
        assert torch.equal(p.grad, torch.zeros_like(p))  # at w0: no pull at all
    assert torch.allclose(model.head.weight.grad, 0.1 * model.head.weight)  # beta * w
    model.zero_grad()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    distance = sum((p - w0[n]).pow(2).sum() for n, p in model.backbone.named_parameters())
    head_norm = model.head.weight.pow(2).sum() + model.head.bias.pow(2).sum()
    value = penalty(model)
    assert value.item() == pytest.approx((0.25 * distance + 0.05 * head_norm).item())
    value.backward()
    for n, p in model.backbone.named_parameters():
        assert torch.allclose(p.grad, 0.5 * (p - w0[n]))  # alpha * (w - w0)
    optimizer = torch.optim.SGD(model.backbone.parameters(), lr=0.5)
    optimizer.step()
    after = sum((p - w0[n]).pow(2).sum() for n, p in model.backbone.named_parameters())
    assert after < distance


def test_l2sp_scope_keeps_one_term_and_skips_frozen_parameters():
    model = Toy()
    backbone_only = L2SP(alpha=1.0, beta=1.0, scope="backbone")
    backbone_only.bind(model)
    with torch.no_grad():
        model.backbone[0].weight.add_(1.0)
    assert set(backbone_only.terms(model)) == {"l2sp"}
    backbone_only(model).backward()
    assert model.head.weight.grad is None
    head_only = L2SP(alpha=1.0, beta=1.0, scope="head")
    head_only.bind(model)
    assert set(head_only.terms(model)) == {"l2_head"}
    model.backbone.requires_grad_(False)
    assert backbone_only(model).item() == 0.0  # frozen parameters are not penalized


def test_elastic_net_is_l1_plus_l2_in_scope():
    model = Toy()
    elastic = ElasticNetPenalty(l1_weight=0.3, l2_weight=0.7, scope="head")
    terms = elastic.terms(model)
    assert terms["l1"].item() == pytest.approx(L1Penalty(0.3, "head")(model).item())
    assert terms["l2"].item() == pytest.approx(L2Penalty(0.7, "head")(model).item())
    assert elastic(model).item() == pytest.approx((terms["l1"] + terms["l2"]).item())
    elastic(model).backward()
    assert model.backbone[0].weight.grad is None


def test_warmup_schedule_warms_up_then_decays():
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = warmup_schedule(optimizer, num_training_steps=10, name="linear", warmup=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == 0.0 and lrs[2] == 1.0 and lrs[-1] < lrs[3]
    constant = warmup_schedule(
        torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5),
        num_training_steps=10,
        name="constant",
        warmup=0.0,
    )
    assert constant.get_last_lr() == [0.5]


def test_attention_kernels_are_chosen_and_compute_the_same(tiny_model_dir):
    from sft.errors import SFTConfigError

    auto = Backbone(str(tiny_model_dir), max_length=32).eval()
    expected = "sdpa" if torch.cuda.is_available() else "eager"  # eager trains faster on CPU
    assert auto.encoder.config._attn_implementation == expected
    sdpa = Backbone(str(tiny_model_dir), max_length=32, attn_implementation="sdpa").eval()
    assert sdpa.encoder.config._attn_implementation == "sdpa"
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.testing.assert_close(auto(ids, mask), sdpa(ids, mask), rtol=1e-4, atol=1e-5)
    with pytest.raises(SFTConfigError, match=r"model.attn_implementation=nope: not available"):
        Backbone(str(tiny_model_dir), max_length=32, attn_implementation="nope")
