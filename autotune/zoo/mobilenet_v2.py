"""``mobilenet-v2``: MobileNetV2 from Hugging Face transformers (``MobileNetV2Config``:
width 1.0, 224x224, symmetric padding as torchvision's ``mobilenet_v2`` pads, rather than
the TensorFlow-style "same" padding of Google's checkpoints; 1000 classes), random weights,
input 1x3x224x224, output the logits (1, 1000). Needs ``autotune[models]``.
"""

from __future__ import annotations

import torch

from autotune.zoo import hf
from autotune.zoo.base import ZooModel, register, seeded


@register("mobilenet-v2")
def mobilenet_v2() -> ZooModel:
    """Build the ``mobilenet-v2`` zoo model with seeded weights."""
    tf = hf.transformers("mobilenet-v2")
    with seeded():
        net = tf.MobileNetV2ForImageClassification(tf.MobileNetV2Config(num_labels=1000, tf_padding=False))
        hf.init_conv_like_torchvision(net)
        hf.randomize_batch_norm(net)
        module = hf.ImageLogits(net).eval()
        x = torch.randn(1, 3, 224, 224)
    return ZooModel("mobilenet-v2", module, (x,), "MobileNetV2 (transformers), 1000 classes, 1x3x224x224")
