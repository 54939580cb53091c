"""Attributions: saliency, input x gradient, integrated gradients (Captum) and DeepLIFT/SHAP (ours, exact)."""

from seqcnn.interpret.attribution.deeplift import deep_lift_shap
from seqcnn.interpret.attribution.gradients import (
    METHODS,
    Attribution,
    attribute,
    deeplift_shap,
    integrated_gradients,
    saliency,
)

__all__ = ["METHODS", "Attribution", "attribute", "deep_lift_shap", "deeplift_shap", "integrated_gradients",
           "saliency"]
