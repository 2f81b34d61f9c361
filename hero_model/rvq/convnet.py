"""The 1D convolutional motion encoder E_m and decoder D_m of the RVQ-VAE (paper Sec. 3.2, MoMask's architecture).

All modules work channel-first, (B, C, T), like nn.Conv1d. Every stack is an nn.Sequential whose child indices
(ReLUs and Upsample included) are part of the official state-dict key names (`encoder.model.2.1.model.0.conv1`), so
the layer order here must not change: the official checkpoints load by those names.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import RVQConfig


class ResBlock1D(nn.Module):
    """x + Dropout(Conv_k1(ReLU(Conv_k3,dilated(ReLU(x))))): pre-activation, length-preserving residual block."""

    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.activation1 = nn.ReLU()
        # padding = dilation keeps T unchanged for a dilated kernel of 3
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, padding=dilation, dilation=dilation)
        self.activation2 = nn.ReLU()
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        h = self.conv1(self.activation1(x))
        h = self.conv2(self.activation2(h))
        return x + self.dropout(h)


class ResNet1D(nn.Module):
    """`depth` residual blocks with dilations largest-first (9, 3, 1): a wide temporal receptive field early."""

    def __init__(self, channels: int, dilations: tuple[int, ...], dropout: float):
        super().__init__()
        # The attribute is called `model` because the official keys read `...1.model.{j}.conv1.weight`.
        self.model = nn.Sequential(*[ResBlock1D(channels, d, dropout) for d in dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, T)
        return self.model(x)


class MotionEncoder(nn.Module):
    """E_m: (B, input_dim, T) -> z (B, code_dim, T // stride_t**down_t).

    model = [Conv k3 in->W, ReLU, down_t x (Conv k(2s) stride s, ResNet1D), Conv k3 W->code_dim].
    """

    def __init__(self, config: RVQConfig):
        super().__init__()
        c = config
        layers: list[nn.Module] = [nn.Conv1d(c.input_dim, c.width, kernel_size=3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers.append(nn.Sequential(
                # kernel 2s, padding s/2 (s even): T -> T // s exactly
                nn.Conv1d(c.width, c.width, kernel_size=2 * c.stride_t, stride=c.stride_t, padding=c.stride_t // 2),
                ResNet1D(c.width, c.dilations, c.dropout),
            ))
        layers.append(nn.Conv1d(c.width, c.code_dim, kernel_size=3, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MotionDecoder(nn.Module):
    """D_m: (B, code_dim, n) -> (B, input_dim, n * stride_t**down_t), the encoder's mirror.

    model = [Conv k3 code_dim->W, ReLU, down_t x (ResNet1D, nearest upsample x s, Conv k3), Conv k3, ReLU,
    Conv k3 W->input_dim]. There is no activation between the stages' final conv and the next ResNet1D because each
    residual block starts with its own ReLU.
    """

    def __init__(self, config: RVQConfig):
        super().__init__()
        c = config
        layers: list[nn.Module] = [nn.Conv1d(c.code_dim, c.width, kernel_size=3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            layers.append(nn.Sequential(
                ResNet1D(c.width, c.dilations, c.dropout),
                # The official decoder hard-codes a scale of 2; it equals stride_t for every released model.
                nn.Upsample(scale_factor=c.stride_t, mode="nearest"),
                nn.Conv1d(c.width, c.width, kernel_size=3, padding=1),
            ))
        layers += [nn.Conv1d(c.width, c.width, kernel_size=3, padding=1), nn.ReLU(),
                   nn.Conv1d(c.width, c.input_dim, kernel_size=3, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
