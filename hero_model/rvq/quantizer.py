"""Residual vector quantisation with EMA codebooks and dead-code reset (paper Sec. 3.2 and its residual refinement).

Layer q quantises what the layers before it left over: r_0 = z, c_q = C_q[argmin_k ||r_q - C_q[k]||],
r_{q+1} = r_q - c_q, and the decoder sees sum_q c_q. Codebooks carry no gradient: they follow exponential moving
averages of the vectors assigned to them, and a code that stops being used is moved onto a random input vector of the
batch (layer 0: an encoder output; layer q: a residual r_q, as in the official code).

State-dict contract (the official layout, docs official-checkpoint-layout.md): each layer saves exactly one tensor,
`layers.{q}.codebook` [num_codes, code_dim]. The EMA statistics and the "initialised" flag are non-persistent buffers:
they follow `.to(device)` but are neither saved nor expected by `load_state_dict`. Loading a codebook (see
`EMACodebook._load_from_state_dict`) marks the layer initialised and restarts its EMA from the loaded codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import RVQConfig


def sample_rows(x: torch.Tensor, count: int) -> torch.Tensor:
    """`count` random rows of x (N, D): without replacement when N >= count, else with replacement plus a tiny jitter
    so that repeated rows become distinct codes (same purpose as the official tiling noise, std 0.01 / sqrt(D))."""
    n, dim = x.shape
    if n >= count:
        return x[torch.randperm(n, device=x.device)[:count]].clone()
    picked = x[torch.randint(0, n, (count,), device=x.device)]
    return picked + torch.randn_like(picked) * (0.01 / dim ** 0.5)


def masked_perplexity(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """exp(entropy) of the code histogram of `indices` (N,): 1 = one code used, num_codes = uniform use."""
    if indices.numel() == 0:
        return torch.zeros((), device=indices.device)
    prob = torch.bincount(indices, minlength=num_codes).float() / indices.numel()
    return torch.exp(-torch.special.xlogy(prob, prob).sum())


class EMACodebook(nn.Module):
    """One quantisation layer: `num_codes` vectors of size `code_dim`, learned by EMA instead of by gradient.

    Buffers: codebook (K, D) -- saved; ema_count (K,), ema_sum (K, D), initialised () -- not saved.
    """

    def __init__(self, num_codes: int, code_dim: int, ema_decay: float, dead_code_threshold: float):
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.ema_decay, self.dead_code_threshold = ema_decay, dead_code_threshold
        # Random until the first training batch (or a loaded checkpoint) replaces it, so that an untrained model
        # still produces well-formed tokens for shape checks.
        self.register_buffer("codebook", torch.randn(num_codes, code_dim))
        self.register_buffer("ema_count", torch.ones(num_codes), persistent=False)
        self.register_buffer("ema_sum", self.codebook.clone(), persistent=False)
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        loaded = state_dict.get(prefix + "codebook")
        if loaded is not None and tuple(loaded.shape) == tuple(self.codebook.shape):
            # Deviation from the official layer, which re-initialises its codebook from the first training batch
            # even after loading one (its `init` flag is not saved): fine-tuning here keeps the loaded codes. Call
            # ResidualQuantizer.reinit_codebooks_on_next_batch() to get the official behaviour.
            self.restart_ema(initialised=True)

    @torch.no_grad()
    def restart_ema(self, initialised: bool) -> None:
        """EMA statistics that reproduce the current codebook: every code counted once, sum = code."""
        self.ema_count.fill_(1.0)
        self.ema_sum.copy_(self.codebook)
        self.initialised.fill_(initialised)

    @torch.no_grad()
    def init_from(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation: the codes become random rows of x (N, D), the first batch's residuals."""
        if x.shape[0] == 0:
            return
        self.codebook.copy_(sample_rows(x, self.num_codes))
        self.restart_ema(initialised=True)

    def squared_distances(self, x: torch.Tensor) -> torch.Tensor:
        """||x_i - c_k||^2 for x (N, D) -> (N, K), without materialising an (N, K, D) difference tensor."""
        return (x.pow(2).sum(-1, keepdim=True) - 2.0 * x @ self.codebook.t()
                + self.codebook.pow(2).sum(-1)[None, :])

    @torch.no_grad()
    def assign(self, x: torch.Tensor, temperature: float = 0.0) -> torch.Tensor:
        """Code index per row of x (N, D) -> (N,) int64.

        temperature 0: nearest code (argmin distance, the paper's rule and the eval rule). temperature > 0: Gumbel-max
        sampling, argmax(-d / tau + g) with g ~ Gumbel(0, 1), i.e. a draw from softmax(-d / tau) (MoMask's training
        rule with tau = 0.5): near-ties are explored instead of always going to the same code.
        """
        distance = self.squared_distances(x)  # (N, K)
        if temperature <= 0:
            return distance.argmin(dim=-1)
        # -log(E), E ~ Exp(1), is a standard Gumbel sample; the clamp keeps log() finite.
        gumbel = -torch.empty_like(distance).exponential_().clamp_(min=torch.finfo(distance.dtype).tiny).log()
        return (-distance / temperature + gumbel).argmax(dim=-1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook rows for an index tensor of any shape (...,) -> (..., D); indices must be in [0, K)."""
        return F.embedding(indices, self.codebook)

    @torch.no_grad()
    def ema_update(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """One EMA step from the valid vectors x (N, D) and their codes (N,); returns the (K,) mask of reset codes.

        N_k <- decay N_k + (1-decay) n_k,  S_k <- decay S_k + (1-decay) sum_{i: idx_i = k} x_i,  c_k = S_k / N_k.
        A code with N_k < dead_code_threshold is replaced by a random row of x.
        """
        if x.shape[0] == 0:
            return torch.zeros(self.num_codes, dtype=torch.bool, device=x.device)
        decay = self.ema_decay
        counts = torch.bincount(indices, minlength=self.num_codes).to(x.dtype)          # n_k (K,)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, indices, x)                  # (K, D), no one-hot
        self.ema_count.mul_(decay).add_(counts, alpha=1.0 - decay)
        self.ema_sum.mul_(decay).add_(sums, alpha=1.0 - decay)
        dead = self.ema_count < self.dead_code_threshold                                 # (K,)
        # clamp only matters for a threshold of 0, where an unused code's count may decay towards 0
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-5)[:, None])
        if bool(dead.any()):
            fresh = sample_rows(x, self.num_codes)
            self.codebook[dead] = fresh[dead]
            # Deviation: a reset code restarts its statistics (count 1, sum = new code). The official layer keeps the
            # decayed statistics, so a revived code is re-drawn every batch until its count climbs back over 1.
            self.ema_sum[dead] = fresh[dead]
            self.ema_count[dead] = 1.0
        return dead


@dataclass
class QuantizerOutput:
    """What one residual-quantiser pass returns. Shapes: B batch, n tokens, D code_dim, Q num_quantizers."""

    quantized: torch.Tensor         # (B, D, n) sum of the active layers' codes, straight-through to z
    codes: torch.Tensor             # (B, n, Q) int64; -1 at dropped layers and at padded tokens
    commit_loss: torch.Tensor       # () mean over active layers of MSE(r_q, sg[c_q]) on valid tokens
    commit_per_layer: torch.Tensor  # (Q,) 0 for dropped layers
    perplexity: torch.Tensor        # (Q,) code-usage perplexity on valid tokens, 0 for dropped layers
    num_active_layers: int          # k + 1 when layers 0..k were kept


class ResidualQuantizer(nn.Module):
    """Q independent EMA codebooks applied to successive residuals (`layers.{q}` as in the official keys)."""

    def __init__(self, config: RVQConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList([
            EMACodebook(config.num_codes, config.code_dim, config.ema_decay, config.dead_code_threshold)
            for _ in range(config.num_quantizers)
        ])

    @property
    def num_quantizers(self) -> int:
        return len(self.layers)

    @property
    def codebooks(self) -> torch.Tensor:
        """(Q, K, D) stacked codebooks (a copy)."""
        return torch.stack([layer.codebook for layer in self.layers])

    def reinit_codebooks_on_next_batch(self) -> None:
        """Make the next training batch re-initialise every codebook from its residuals, as the official trainer
        does when it fine-tunes a loaded model (HERO fine-tuning MoMask's RVQ on ViMo)."""
        for layer in self.layers:
            layer.initialised.fill_(False)

    def _sample_active_layers(self) -> int:
        """Quantizer dropout: with probability p keep layers 0..k, k ~ U{0..Q-1}, so that every prefix of layers
        learns to reconstruct on its own (the residual transformer relies on coarse prefixes being decodable)."""
        q = self.num_quantizers
        if self.training and float(torch.rand(())) < self.config.quantize_dropout_prob:
            return int(torch.randint(0, q, ())) + 1
        return q

    def forward(self, z: torch.Tensor, valid: torch.Tensor | None = None,
                active_layers: int | None = None) -> QuantizerOutput:
        """Quantise z (B, D, n). valid (B, n) bool marks real tokens (padding is quantised but excluded from the
        codebook statistics, the commitment loss and the perplexity). active_layers forces how many layers run
        (None: all at eval, quantizer dropout in training).

        Training mode: first-batch codebook init, Gumbel-max assignment at config.gumbel_temperature, EMA updates,
        dead-code reset, quantizer dropout. Eval mode: argmin, nothing is updated.
        """
        batch, dim, n = z.shape
        if dim != self.config.code_dim:
            raise ValueError(f"ResidualQuantizer: z must have code_dim={self.config.code_dim} channels, got {dim}")
        q_total = self.num_quantizers
        if active_layers is None:
            active_layers = self._sample_active_layers()
        if not 1 <= active_layers <= q_total:
            raise ValueError(f"ResidualQuantizer: active_layers must be in [1, {q_total}], got {active_layers}")
        if valid is None:
            valid = torch.ones(batch, n, dtype=torch.bool, device=z.device)
        training = self.training
        temperature = self.config.gumbel_temperature if training else 0.0

        x = z.float().permute(0, 2, 1).reshape(batch * n, dim)   # (N, D), N = B n; float32 for distances and EMA
        valid_flat = valid.reshape(-1)                            # (N,)
        num_valid = int(valid_flat.sum())
        residual = x                                              # r_0 = z
        summed = torch.zeros_like(x)                              # sum_q c_q
        codes = torch.full((batch * n, q_total), -1, dtype=torch.long, device=z.device)
        commit = torch.zeros(q_total, device=z.device)
        perplexity = torch.zeros(q_total, device=z.device)

        for q in range(active_layers):
            layer = self.layers[q]
            if training and not bool(layer.initialised):
                layer.init_from(residual.detach()[valid_flat])
            indices = layer.assign(residual.detach(), temperature)     # (N,)
            code = layer.lookup(indices)                               # c_q (N, D), rows before this batch's update
            if num_valid:
                # commitment ||r_q - sg[c_q]||^2 on valid tokens; the gradient reaches z through r_q
                err = (residual - code).pow(2).sum(-1)                 # (N,)
                commit[q] = err[valid_flat].sum() / (num_valid * dim)
            valid_indices = indices[valid_flat]
            perplexity[q] = masked_perplexity(valid_indices, layer.num_codes)
            if training:
                layer.ema_update(residual.detach()[valid_flat], valid_indices)
            codes[:, q] = indices
            residual = residual - code                                 # r_{q+1} = r_q - c_q (codes carry no grad)
            summed = summed + code

        codes[~valid_flat] = -1
        quantized = x + (summed - x).detach()                          # straight-through: forward sum c_q, grad = I
        # The official code adds the per-layer straight-through outputs, so its encoder gradient through the decoder
        # is scaled by the number of active layers; one straight-through over the sum keeps the textbook estimator.
        quantized = quantized.reshape(batch, n, dim).permute(0, 2, 1).to(z.dtype)
        return QuantizerOutput(
            quantized=quantized,
            codes=codes.reshape(batch, n, q_total),
            commit_loss=commit[:active_layers].mean(),  # official: mean over the layers that ran
            commit_per_layer=commit,
            perplexity=perplexity,
            num_active_layers=active_layers,
        )

    @torch.no_grad()
    def quantize(self, z: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic tokens of z (B, D, n) -> (B, n, Q) int64 (argmin, all layers, no update, -1 at padding),
        whatever the module's train/eval mode."""
        was_training = self.training
        self.train(False)
        try:
            return self.forward(z, valid, active_layers=self.num_quantizers).codes
        finally:
            self.train(was_training)

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """sum_q C_q[codes[..., q]] for codes (B, n, Q') with Q' <= Q (a prefix of the layers) -> (B, D, n).

        -1 entries contribute zero (dropped layers, padding). Rows are gathered with F.embedding layer by layer, so
        memory is O(B n D) whatever K and Q are.
        """
        if codes.dim() != 3:
            raise ValueError(f"codes must have shape (B, n, Q'), got {tuple(codes.shape)}")
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ValueError(f"codes must be an integer tensor, got dtype {codes.dtype}")
        num_layers = codes.shape[-1]
        if not 1 <= num_layers <= self.num_quantizers:
            raise ValueError(f"codes has {num_layers} layers; expected 1..{self.num_quantizers}")
        if codes.numel() and (int(codes.min()) < -1 or int(codes.max()) >= self.config.num_codes):
            raise ValueError(f"codes must lie in [-1, {self.config.num_codes - 1}], "
                             f"got min {int(codes.min())} max {int(codes.max())}")
        codes = codes.long()
        batch, n, _ = codes.shape
        latent = torch.zeros(batch, n, self.config.code_dim, device=codes.device, dtype=self.layers[0].codebook.dtype)
        for q in range(num_layers):
            idx = codes[..., q]                                      # (B, n)
            present = (idx >= 0).unsqueeze(-1)                       # (B, n, 1)
            latent = latent + self.layers[q].lookup(idx.clamp(min=0)) * present
        return latent.permute(0, 2, 1)
