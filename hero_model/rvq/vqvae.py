"""The RVQ-VAE motion tokenizer: encoder E_m, residual quantizer Q, decoder D_m (paper Sec. 3.2, MoMask's RVQ).

Motion in, motion out, batch-first: (B, T, input_dim) normalised features. Tokens: (B, n, Q) with n = T // 4 for the
paper config, int64, -1 marking padding (beyond lengths // 4) and dropped/absent layers.

Loading the released weights: `RVQVAE(RVQConfig.paper()).load_state_dict(official["vq_model"])` (strict) works as is;
the 66 conv tensors and the 6 codebooks are the only state-dict entries. See quantizer.py for what loading a codebook
does to the (unsaved) EMA statistics.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import RVQConfig
from .convnet import MotionDecoder, MotionEncoder
from .quantizer import ResidualQuantizer


def masked_smooth_l1(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean SmoothL1 over the valid frames (B, T) and all feature dims (= F.smooth_l1_loss when nothing is masked)."""
    per_element = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)  # (B, T, C)
    weights = frame_mask.to(per_element.dtype).unsqueeze(-1)                   # (B, T, 1)
    return (per_element * weights).sum() / (weights.sum() * per_element.shape[-1]).clamp(min=1.0)


class RVQVAE(nn.Module):
    """Residual VQ-VAE. Child names (`encoder`, `decoder`, `quantizer`) are the official state-dict prefixes.

    train(): dropout in the residual blocks, codebook init from the first batch, Gumbel-max code sampling, EMA updates
    and dead-code reset, quantizer dropout. eval(): deterministic argmin tokens, nothing is updated.
    """

    def __init__(self, config: RVQConfig | None = None):
        super().__init__()
        self.config = config if config is not None else RVQConfig.paper()
        self.encoder = MotionEncoder(self.config)
        self.decoder = MotionDecoder(self.config)
        self.quantizer = ResidualQuantizer(self.config)

    # ------------------------------------------------------------------ input checks
    def _check_motion(self, motion: torch.Tensor, lengths: Any) -> torch.Tensor:
        """Validate motion (B, T, input_dim) and return lengths as an int64 tensor (B,) on motion's device."""
        if not isinstance(motion, torch.Tensor) or motion.dim() != 3:
            shape = tuple(motion.shape) if isinstance(motion, torch.Tensor) else type(motion).__name__
            raise ValueError(f"motion must be a tensor of shape (B, T, {self.config.input_dim}), got {shape}")
        batch, frames, dim = motion.shape
        if dim != self.config.input_dim:
            raise ValueError(f"motion has {dim} features per frame; RVQConfig.input_dim is {self.config.input_dim}")
        if not motion.is_floating_point():
            raise ValueError(f"motion must be a floating-point tensor, got dtype {motion.dtype}")
        factor = self.config.downsample_factor
        if frames < factor:
            raise ValueError(f"motion has T={frames} frames; at least downsample_factor={factor} are needed")
        if lengths is None:
            return torch.full((batch,), frames, dtype=torch.long, device=motion.device)
        lengths = torch.as_tensor(lengths, device=motion.device)
        if lengths.shape != (batch,) or lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor of shape ({batch},), got shape "
                             f"{tuple(lengths.shape)} dtype {lengths.dtype}")
        lengths = lengths.long()
        if int(lengths.min()) < 1 or int(lengths.max()) > frames:
            raise ValueError(f"lengths must lie in [1, T={frames}], got min {int(lengths.min())} "
                             f"max {int(lengths.max())}")
        return lengths

    @staticmethod
    def frame_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        """(B, T) bool: frame t is real iff t < lengths."""
        return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]

    def _zero_padding(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Padded frames set to 0 (the mean pose in normalised units) before encoding. The encoder's receptive field
        reaches past the last real frame, so without this the last real tokens would depend on the padding's content
        (the official code trains on unpadded fixed windows and never meets the case)."""
        mask = self.frame_mask(lengths, motion.shape[1]).unsqueeze(-1)  # (B, T, 1)
        return torch.where(mask, motion, torch.zeros((), dtype=motion.dtype, device=motion.device))

    def token_mask(self, lengths: torch.Tensor, num_tokens: int) -> torch.Tensor:
        """(B, n) bool: token j is real iff j < lengths // downsample_factor (MoMask's m_lens // unit_length)."""
        positions = torch.arange(num_tokens, device=lengths.device)
        return positions[None, :] < (lengths // self.config.downsample_factor)[:, None]

    # ------------------------------------------------------------------ tokenizer API
    @torch.no_grad()
    def encode(self, motion: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        """Tokens of motion (B, T, input_dim) -> (B, T // 4, Q) int64: argmin on every layer, -1 at tokens
        j >= lengths // 4. Frames t >= lengths are zeroed first, so their content never matters. The codebooks are
        never updated here; residual-block dropout follows the module mode, so call eval() first for reproducible
        tokens."""
        lengths = self._check_motion(motion, lengths)
        motion = self._zero_padding(motion.to(self.encoder.model[0].weight.dtype), lengths)
        z = self.encoder(motion.permute(0, 2, 1))                   # (B, D, n)
        return self.quantizer.quantize(z, self.token_mask(lengths, z.shape[-1]))

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """De-quantised latent sum_q C_q[codes[..., q]] for codes (B, n, Q'<=Q) -> channel-first (B, code_dim, n),
        the layout decode_latent takes; -1 entries contribute zero."""
        return self.quantizer.codes_to_latent(codes)

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Decoder D_m on a latent (B, code_dim, n) -> motion (B, n * 4, input_dim)."""
        if latent.dim() != 3 or latent.shape[1] != self.config.code_dim:
            raise ValueError(f"latent must have shape (B, code_dim={self.config.code_dim}, n), "
                             f"got {tuple(latent.shape)}")
        return self.decoder(latent).permute(0, 2, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Motion from tokens (B, n, Q') -> (B, n * 4, input_dim). Q' < Q decodes a prefix of the layers (coarser
        motion); -1 entries contribute zero. Frames from padded tokens are meaningless: cut them with the lengths."""
        return self.decode_latent(self.codes_to_latent(codes))

    # ------------------------------------------------------------------ training
    def forward(self, motion: torch.Tensor, lengths: Any = None,
                active_layers: int | None = None) -> dict[str, Any]:
        """Reconstruct motion (B, T, input_dim), T a multiple of 4, and compute the training loss.

        lengths (B,): padded frames (t >= lengths) are zeroed before encoding and masked out of the reconstruction
        losses; padded tokens (j >= lengths // 4) are kept out of the commitment loss, the codebook statistics and
        the perplexity. active_layers forces
        the number of quantisation layers (None: quantizer dropout in training, all layers at eval).

        Returns a dict: loss = recon + ric_loss_weight * ric + commit_weight * commit (the total to backpropagate);
        loss_recon, loss_ric, loss_commit (scalars); recon (B, T, input_dim); codes (B, n, Q);
        perplexity (Q,) and commit_per_layer (Q,) (0 for dropped layers); num_active_layers (int).
        """
        c = self.config
        lengths = self._check_motion(motion, lengths)
        batch, frames, _ = motion.shape
        if frames % c.downsample_factor:
            raise ValueError(f"forward needs T divisible by downsample_factor={c.downsample_factor} so that the "
                             f"reconstruction has T frames; got T={frames}")
        # float64 features (numpy) are cast to the weights' dtype, as the official preprocess casts to float
        motion = self._zero_padding(motion.to(self.encoder.model[0].weight.dtype), lengths)
        z = self.encoder(motion.permute(0, 2, 1))                                     # (B, D, n)
        quant = self.quantizer(z, self.token_mask(lengths, z.shape[-1]), active_layers)
        recon = self.decode_latent(quant.quantized)                                   # (B, T, input_dim)

        frame_mask = self.frame_mask(lengths, frames)                                 # (B, T)
        target = motion.to(recon.dtype)
        # L_re = SmoothL1(M, D_m(q)) (paper Eq. 1)
        loss_recon = masked_smooth_l1(recon, target, frame_mask, c.smooth_l1_beta)
        # MoMask's extra term on the root-relative joint positions ("ric"), weight 0.5
        ric = slice(c.ric_start, c.ric_end)
        loss_ric = masked_smooth_l1(recon[..., ric], target[..., ric], frame_mask, c.smooth_l1_beta)
        # beta ||z - sg[q]||^2; the codebook term of Eq. 1 is replaced by the EMA updates
        loss_commit = quant.commit_loss
        loss = loss_recon + c.ric_loss_weight * loss_ric + c.commit_weight * loss_commit
        return {
            "loss": loss,
            "loss_recon": loss_recon,
            "loss_ric": loss_ric,
            "loss_commit": loss_commit,
            "recon": recon,
            "codes": quant.codes,
            "perplexity": quant.perplexity,
            "commit_per_layer": quant.commit_per_layer,
            "num_active_layers": quant.num_active_layers,
        }
