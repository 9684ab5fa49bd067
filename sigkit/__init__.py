"""sigkit: offline handwritten signature verification with attention-based deep metric learning.

The data flow is one-way, one module a step:

    datasets (files -> manifest) -> preprocess (bytes -> clean tensors) -> augment
    -> pairs (tf.data of pairs or P x K batches) -> model -> train -> evaluate -> report
"""

__version__ = "0.1.0"

from sigkit.config import Config, profile  # noqa: F401
