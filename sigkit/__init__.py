"""sigkit: offline handwritten signature verification with attention-based deep metric learning.

The data flow is one-way, one module a step:

    datasets (files -> manifest) -> preprocess (bytes -> clean tensors) -> augment
    -> pairs (tf.data of pairs or P x K batches) -> model -> train -> evaluate -> report

`import sigkit` is light: it does not import TensorFlow (which sets environment variables and
prints start-up lines of its own), so a program decides when that happens. Submodules load on
first use (`sigkit.model`, `sigkit.verify`, ...). `import sigkit.model` registers sigkit's Keras
classes (CBAM, EuclideanDistance, the comparison head), so a saved `.keras` model then loads with
`keras.saving.load_model(path)` in safe mode; `sigkit.model.load_siamese(path)` does both.
"""

from sigkit.version import __version__  # noqa: F401

# sigkit.Config, sigkit.profile and sigkit.config_for, from `sigkit.config` on first use: the
# config composes every stage's settings, so importing it imports TensorFlow
CONFIG_NAMES = ("Config", "config_for", "profile")


def pretrained(folder=None):
    """(the Siamese model, its `sigkit.card.ModelCard`) of the tower shipped with sigkit (`sigkit.shipped`)."""
    from sigkit.shipped import load

    return load(folder)


def __getattr__(name: str):
    """`sigkit.<submodule>` (and the config's names) without importing them first: imported on first access."""
    import importlib
    import importlib.util

    if name in CONFIG_NAMES:
        return getattr(importlib.import_module(f"{__name__}.config"), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
