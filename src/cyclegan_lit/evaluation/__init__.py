"""Scoring translations as papers do: FID and KID both ways, PSNR/SSIM against ground truth.

One implementation serves ``cyclegan-eval`` and the training-time ``FIDCallback``, so a number
logged during training and one from the command line mean the same thing (reference #1192).
"""

from cyclegan_lit.evaluation.features import (
    INCEPTION_URL,
    FeatureExtractor,
    build_feature_extractor,
    inception_weights_file,
)
from cyclegan_lit.evaluation.loop import generator_function, score_batches
from cyclegan_lit.evaluation.metrics import DIRECTIONS, TranslationMetrics, check_directions

__all__ = [
    "DIRECTIONS",
    "INCEPTION_URL",
    "FeatureExtractor",
    "TranslationMetrics",
    "build_feature_extractor",
    "check_directions",
    "generator_function",
    "inception_weights_file",
    "score_batches",
]
