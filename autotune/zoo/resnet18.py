"""``resnet18``: ResNet-18 from Hugging Face transformers (basic blocks [2, 2, 2, 2], widths
64-512, 1000 classes; the architecture and parameter count of torchvision's resnet18),
random weights, input 1x3x224x224, output the logits (1, 1000). Needs ``autotune[models]``.
"""

from __future__ import annotations

import torch

from autotune.zoo import hf
from autotune.zoo.base import ZooModel, register, seeded


@register("resnet18")
def resnet18() -> ZooModel:
    """Build the ``resnet18`` zoo model with seeded weights."""
    tf = hf.transformers("resnet18")
    with seeded():
        config = tf.ResNetConfig(
            layer_type="basic",
            depths=[2, 2, 2, 2],
            hidden_sizes=[64, 128, 256, 512],
            embedding_size=64,
            num_labels=1000,
        )
        net = tf.ResNetForImageClassification(config)
        hf.randomize_batch_norm(net)
        module = hf.ImageLogits(net).eval()
        x = torch.randn(1, 3, 224, 224)
    return ZooModel("resnet18", module, (x,), "ResNet-18 (transformers), 1000 classes, 1x3x224x224")
