"""Model zoo: one module per family, each builder registered by name (see ``registry``).

Family modules are discovered with ``pkgutil`` on first use of the registry, so adding a
family means adding a file; nothing else needs editing.
"""

from seqcnn.models.registry import ModelSpec, build_model, get_spec, list_models, register_model

__all__ = ["ModelSpec", "build_model", "get_spec", "list_models", "register_model"]
