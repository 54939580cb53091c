"""Datasets for training: sequences with labels (``sequences``) and images with labels or masks (``images``).

Submodules are imported by name (``from seqcnn.data.images import load_digits``); this package imports
nothing itself, so loading one kind of data never pulls in the other's dependencies.
"""
