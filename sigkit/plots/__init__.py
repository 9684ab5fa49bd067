"""Figures. Each function returns a matplotlib Figure; `save` writes it under `<run>/figures/`.

`data` holds the data notebook's figures, `evaluation` the biometric ones (ROC, DET, FAR/FRR,
histograms, confusion matrix, training curves, EER against references, per-writer EER), `model`
a block diagram of a tower.
"""

from sigkit.plots.data import (  # noqa: F401
    genuine_and_forged,
    image_grid,
    pair_examples,
    preprocessing_steps,
    raw_image,
    save,
)
from sigkit.plots.evaluation import (  # noqa: F401
    confusion_matrix,
    det,
    distance_histograms,
    eer_by_method,
    far_frr_curves,
    per_writer,
    roc,
    training_curves,
)
from sigkit.plots.model import tower_diagram  # noqa: F401
