"""Tiny whole task models (sft.model.task_model) built from configs, with the image processor
each family's data goes through: no weights are downloaded."""

from __future__ import annotations

from pathlib import Path

import torch

# A 2-stage ResNet as tests/helpers/backbones.tiny_resnet builds it (a "basic" layer): the
# detector's backbone has the same tensors, so `model.backbone_from` can start from it.
RESNET = {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "layer_type": "basic"}


def tiny_detector(folder: Path, num_labels: int = 3, size: int = 64) -> Path:
    """A ~20k-parameter Conditional DETR (2-stage ResNet, d_model 16, 5 queries) and its
    image processor (PIL backend: no torchvision), resizing to at most `size` pixels."""
    from transformers import (
        ConditionalDetrConfig,
        ConditionalDetrForObjectDetection,
        ConditionalDetrImageProcessorPil,
        ResNetConfig,
    )

    config = ConditionalDetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=ResNetConfig(**RESNET, out_features=["stage2"]),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=5,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    ConditionalDetrForObjectDetection(config).save_pretrained(folder)
    processor = ConditionalDetrImageProcessorPil(size={"shortest_edge": size, "longest_edge": size})
    processor.save_pretrained(folder)
    return Path(folder)


def tiny_segmenter(folder: Path, num_labels: int = 4, size: int = 64) -> Path:
    """A ~10k-parameter SegFormer (2 blocks, hidden 16 and 32) and its image processor (PIL
    backend), resizing to `size` x `size`, labels kept as they are (no reduce_labels)."""
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessorPil,
    )

    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[16, 32],
        num_attention_heads=[1, 2],
        decoder_hidden_size=32,
        num_labels=num_labels,
        patch_sizes=[7, 3],
        strides=[4, 2],
        mlp_ratios=[2, 2],
    )
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    processor = SegformerImageProcessorPil(
        size={"height": size, "width": size}, do_reduce_labels=False
    )
    processor.save_pretrained(folder)
    return Path(folder)
