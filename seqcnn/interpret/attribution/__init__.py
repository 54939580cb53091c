"""Attributions: saliency, input x gradient, integrated gradients and DeepLIFT/SHAP."""

from seqcnn.interpret.attribution.gradients import (
    METHODS,
    Attribution,
    attribute,
    deeplift_shap,
    integrated_gradients,
    saliency,
)

__all__ = ["METHODS", "Attribution", "attribute", "deeplift_shap", "integrated_gradients", "saliency"]
