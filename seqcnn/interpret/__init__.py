"""What a trained model looks at.

- ``ism``: in-silico saturation mutagenesis, fast and exact (``ism.ism``; engine in ``ism_fast``,
  ``ism_plan``, ``ism_steps``, ``ism_conv``; streaming over FASTA files in ``ism_stream``).
- ``gradients``: saliency, input x gradient, integrated gradients, DeepLIFT/SHAP (Captum), with
  actual and hypothetical contributions.
- ``cam``: Grad-CAM, occlusion, first-layer kernels and activation maps, for 1D and 2D models.
- ``embed``: 2D projections (PCA, t-SNE) of a layer's features and their class separability.
- ``explain``: one entry point over inputs from FASTA, image or .npz files (``seqcnn explain``).
"""
