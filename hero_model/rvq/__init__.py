"""Residual VQ-VAE motion tokenizer (MoMask's RVQ as fine-tuned by HERO, paper Sec. 3.2)."""
from .config import RVQConfig
from .vqvae import RVQVAE

__all__ = ["RVQConfig", "RVQVAE"]
