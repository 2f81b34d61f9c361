"""Evaluation: the motion evaluator, the paper's metrics and protocol, plausibility, tables and figures.

    metrics.py       FID (Frechet distance), Diversity, MultiModality, repeat intervals
    evaluator.py     the T2M-style motion evaluator (project-trained, or the official T2M checkpoint)
    plausibility.py  the held-out reaction classifier and the plausibility score
    protocol.py      the repeated test protocol, batched generation, validation_fid for checkpoint selection
    tables.py        results in the paper's table formats (Markdown)
    plots.py         training curves and a grid of generated reactions per subcategory
    probe.py         linear probes on frozen video features and the probe bound on plausibility
    training_runs.py each method's metrics pooled over independently trained models (t intervals)
"""
from .evaluator import EvaluatorConfig, MotionEvaluator, load_t2m_evaluator
from .metrics import diversity, fid, frechet_distance, multimodality, summarize_repeats
from .plausibility import ClassifierConfig, ReactionClassifier
from .protocol import (EvalSplit, GenerationParts, Protocol, ProtocolConfig, VideoFeatureCache, generate_motions,
                       validation_fid)

__all__ = [
    "ClassifierConfig", "EvalSplit", "EvaluatorConfig", "GenerationParts", "MotionEvaluator", "Protocol",
    "ProtocolConfig", "ReactionClassifier", "VideoFeatureCache", "diversity", "fid", "frechet_distance",
    "generate_motions", "load_t2m_evaluator", "multimodality", "summarize_repeats", "validation_fid",
]
