"""HERO reaction generator (paper Sec. 3.3): video frame features -> RVQ motion codes.

Equation map: Eq. 2 MaskedTransformer.loss; Eq. 3 IntentionExtractor; Eq. 4 TransformerUnit (multihead_attn);
classifier-free guidance apply_guidance / GuidedLogits.
"""
from .backbone import Condition, VideoConditionedTransformer
from .config import HeroConfig
from .decoding import decode_base_layer, decode_residual_layers, sample_tokens, top_k_filter
from .generator import HeroGenerator
from .guidance import GuidedLogits, apply_guidance
from .iie import IntentionExtractor
from .length_head import LengthHead
from .masked_transformer import MaskedTransformer
from .residual_transformer import ResidualTransformer

__all__ = ["Condition", "GuidedLogits", "HeroConfig", "HeroGenerator", "IntentionExtractor", "LengthHead",
           "MaskedTransformer", "ResidualTransformer", "VideoConditionedTransformer", "apply_guidance",
           "decode_base_layer", "decode_residual_layers", "sample_tokens", "top_k_filter"]
