"""Keep TensorFlow's C++ start-up log lines off the console.

TensorFlow writes them from C++ straight to file descriptor 2 ("oneDNN custom operations are
on", "All log messages before absl::InitializeLog() ..."), some before any setting is read, so
`TF_CPP_MIN_LOG_LEVEL` alone does not silence them. These helpers point descriptor 2 elsewhere
while TensorFlow starts (in this process, or in the notebook kernels `sigkit reports` starts);
Python's own warnings and errors are printed as before once it is back.

Programs call them, never `import sigkit`: the `sigkit` command, `python -m sigkit.reports`,
`python -m sigkit.shipped.build` and the notebooks' setup cells, each before TensorFlow is
imported. A library import that redirected stderr or set environment variables would change
the state of every program using it.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def stderr_to(path: str | os.PathLike):
    """Descriptor 2 (this process's and its children's stderr) appends to `path` inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        yield Path(path)
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import Keras (and TensorFlow, when installed) with their C++ start-up lines discarded, and
    `TF_CPP_MIN_LOG_LEVEL=2` for the lines that come later unless the environment says otherwise;
    a no-op once TensorFlow is imported, so it must come before anything that imports it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    with stderr_to(os.devnull):
        try:
            import tensorflow as tf
        except ImportError:  # e.g. the JAX backend on a GPU machine without TensorFlow
            tf = None
        import keras  # noqa: F401

        if tf is not None:
            tf.constant(0)  # the second batch of lines comes with the first op


def tensorflow_if_installed():
    """The `tensorflow` module, or None where Keras runs on another backend without it (the JAX
    GPU machine of bench/cedar_gpu.py). The modules whose settings `sigkit.Config` composes
    (preprocess, augment, pairs, train) take TensorFlow from here, so that `sigkit.Config` and the
    Keras model code load there too; their TensorFlow ops need TensorFlow."""
    try:
        import tensorflow
    except ImportError:
        return None
    return tensorflow
