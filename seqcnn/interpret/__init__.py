"""What a trained model looks at.

- ``seqcnn.interpret.ism``: in-silico saturation mutagenesis (``ism``, ``naive_ism``, ``ISMResult``).
- ``seqcnn.interpret.attribution``: saliency, input x gradient, integrated gradients, DeepLIFT/SHAP,
  with actual and hypothetical contributions.
- ``seqcnn.interpret.cam``: Grad-CAM, occlusion, first-layer kernels and activation maps (1D and 2D).
- ``seqcnn.interpret.embed``: 2D projections (PCA, t-SNE) of a layer's features and their class
  separability.
- ``seqcnn.interpret.explain``: one entry point over inputs from FASTA, image or .npz files.

Every function that takes a model and a ``target`` reads it the same way: None for every output (the
result gets a last axis over outputs), an output index or a task name (no such axis), or a list.
The names below are re-exported here; ``ism`` and ``explain`` are not, because their modules carry
the same names (``from seqcnn import ism, explain`` gives the functions).
"""

from seqcnn.interpret.attribution import (
    Attribution,
    attribute,
    deep_lift_shap,
    deeplift_shap,
    integrated_gradients,
    saliency,
)
from seqcnn.interpret.cam import activation_maps, first_layer_kernels, grad_cam, layer_names, occlusion
from seqcnn.interpret.embed import Projection, layer_features, layer_projections
from seqcnn.interpret.explain import Explanation, read_inputs, save_explanation

__all__ = [
    "Attribution", "Explanation", "Projection", "activation_maps", "attribute", "deep_lift_shap",
    "deeplift_shap", "first_layer_kernels", "grad_cam", "integrated_gradients", "layer_features",
    "layer_names", "layer_projections", "occlusion", "read_inputs", "saliency", "save_explanation",
]
