"""The text and image encoders: DistilBERT's [CLS], ResNet-50's structure."""

import torch

from hmgray.families.recommender.layers.image import ResNetEncoder
from hmgray.families.recommender.layers.text import TextEncoder


def test_resnet50_size_has_resnet50s_parameters_and_2048_features():
    enc = ResNetEncoder()  # width 64, blocks (3, 4, 6, 3)
    # torchvision's resnet50 has 25,557,032 parameters, 2,049,000 of them in its fc head
    assert sum(p.numel() for p in enc.parameters()) == 25_557_032 - 2_049_000
    assert enc.out_dim == 2048


def test_small_resnet_keeps_the_structure():
    enc = ResNetEncoder(width=4, blocks=(1, 1, 1, 1)).eval()
    out = enc(torch.rand(3, 3, 16, 16))
    assert out.shape == (3, 4 * 32)
    strides = [m.body[3].stride[0] for m in enc.features if hasattr(m, "body")]
    assert strides == [1, 2, 2, 2]


def test_cls_ignores_padding():
    torch.manual_seed(0)
    enc = TextEncoder(100, 16, 2, 2, 32, max_len=12, dropout=0.0).eval()
    short = torch.tensor([[5, 17, 42]])
    padded = torch.tensor([[5, 17, 42, 0, 0, 0]])
    torch.testing.assert_close(enc(short), enc(padded), atol=1e-5, rtol=1e-5)
    other = enc(torch.tensor([[6, 17, 42]]))
    assert not torch.allclose(enc(short), other)  # the [CLS] depends on the words
