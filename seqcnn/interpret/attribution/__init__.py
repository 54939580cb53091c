"""Attributions: saliency, input x gradient, integrated gradients and DeepLIFT/SHAP."""

from seqcnn.interpret.attribution.gradients import (
    Attribution,
    attribute,
    deeplift_shap,
    input_x_gradient,
    integrated_gradients,
    saliency,
)

__all__ = [
    "Attribution", "attribute", "deeplift_shap", "input_x_gradient", "integrated_gradients", "saliency",
]
