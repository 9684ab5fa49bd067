"""sigkit: offline handwritten signature verification with attention-based deep metric learning.

The data flow is one-way, one module a step:

    datasets (files -> manifest) -> preprocess (bytes -> clean tensors) -> augment
    -> pairs (tf.data of pairs or P x K batches) -> model -> train -> evaluate -> report

Importing sigkit registers its Keras classes (CBAM, EuclideanDistance, the losses), so a saved
`.keras` model loads with `keras.saving.load_model(path)` in safe mode after `import sigkit`.
"""

from sigkit.quiet import import_tensorflow_quietly
from sigkit.version import __version__  # noqa: F401

import_tensorflow_quietly()  # before anything imports TensorFlow: its C++ start-up lines stay off the console

from sigkit import attention, losses, model  # noqa: E402, F401  (registers the serialisable classes)
from sigkit.config import Config, config_for, profile  # noqa: E402, F401


def pretrained(folder=None):
    """(the Siamese model, its `sigkit.card.ModelCard`) of the tower shipped with sigkit (`sigkit.shipped`)."""
    from sigkit.shipped import load

    return load(folder)
