"""Training past one device: a step spread over two replicas is the step on one device.

TensorFlow fixes its devices when it starts, so the two logical CPU devices are made in a fresh
process; the check runs there and prints its figures.
"""

import json
import subprocess
import sys
import textwrap

import pytest

STEP = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    import pandas as pd
    from sigkit.config import Config
    from sigkit.model import tower_for
    from sigkit.pairs import pair_dataset
    from sigkit.train import compiled_model, device_strategy

    base = Config().replace(mode="pairs", image_size=(32, 64), widths=(8, 16), convs_per_block=1,
                            embedding_dim=16, dropout=0.0, batch_size=8, jit_compile=False)
    rng = np.random.default_rng(0)
    images = (rng.random((16, 32, 64, 1)) < 0.1).astype(np.uint8) * 255
    pairs = pd.DataFrame({"a": np.arange(8), "b": np.arange(8, 16), "label": np.tile([1.0, 0.0], 4)})
    keras.utils.set_random_seed(0)
    start = tower_for(base.model, base.preprocess.image_size).get_weights()

    def one_step(distribute):
        config = base.replace(distribute=distribute)
        strategy = device_strategy(config.train)
        with strategy.scope():
            tower = tower_for(config.model, config.preprocess.image_size)
            tower.set_weights(start)
            model = compiled_model(config, 1, tower)
        loss = model.fit(pair_dataset(images, pairs, batch_size=8, shuffle=False), epochs=1, verbose=0)
        return strategy.num_replicas_in_sync, float(loss.history["loss"][0]), tower.get_weights()

    one, two = one_step("one"), one_step("mirrored")
    print(json.dumps({
        "replicas": [one[0], two[0]],
        "loss": [one[1], two[1]],
        "largest_weight_difference": max(float(np.abs(a - b).max()) for a, b in zip(one[2], two[2])),
        "largest_step": max(float(np.abs(a - b).max()) for a, b in zip(start, one[2])),
    }))
    """
)


@pytest.mark.slow
def test_a_step_on_two_cpu_replicas_is_the_step_on_one_device():
    done = subprocess.run([sys.executable, "-c", STEP], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["replicas"] == [1, 2]
    one, two = figures["loss"]
    assert two == pytest.approx(one, rel=1e-4)
    assert figures["largest_step"] > 1e-5  # the step moved the weights...
    assert figures["largest_weight_difference"] < 1e-3 * figures["largest_step"]  # ...and both moved them alike


def test_an_unknown_distribution_is_refused():
    from sigkit.train import TrainConfig, device_strategy

    with pytest.raises(ValueError, match="distribute must be one of"):
        device_strategy(TrainConfig(distribute="everywhere"))
