"""CBAM: convolutional block attention (Woo et al., ECCV 2018), as a serialisable Keras layer.

Channel attention asks *which* feature maps matter: one shared two-layer MLP scores the globally
average- and max-pooled features, and their sum through a sigmoid scales each channel. Spatial
attention then asks *where*: a k x k convolution over the channel-wise mean and max gives a (0, 1)
map that scales every position. For signatures the spatial map should sit on the strokes; the
heatmaps of the evaluation notebook show it does (or does not).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="sigkit")
class CBAM(keras.layers.Layer):
    """Channel-then-spatial attention; output shape equals input shape (B, H, W, C)."""

    def __init__(self, reduction: int = 8, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = max(channels // self.reduction, 1)
        self.mlp_hidden = keras.layers.Dense(hidden, activation="relu", name="channel_mlp_hidden")
        self.mlp_out = keras.layers.Dense(channels, name="channel_mlp_out")
        self.spatial_conv = keras.layers.Conv2D(
            1, self.kernel_size, padding="same", activation="sigmoid", name="spatial_conv"
        )
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, hidden))
        self.spatial_conv.build(tuple(input_shape[:-1]) + (2,))
        super().build(input_shape)

    def channel_weights(self, x):
        """(B, 1, 1, C) channel attention in (0, 1)."""
        avg = ops.mean(x, axis=(1, 2))
        peak = ops.max(x, axis=(1, 2))
        scores = self.mlp_out(self.mlp_hidden(avg)) + self.mlp_out(self.mlp_hidden(peak))
        return ops.sigmoid(scores)[:, None, None, :]

    def _spatial(self, refined):
        pooled = ops.concatenate(
            [ops.mean(refined, axis=-1, keepdims=True), ops.max(refined, axis=-1, keepdims=True)], axis=-1
        )
        return self.spatial_conv(pooled)

    def spatial_map(self, x):
        """(B, H, W, 1) spatial attention in (0, 1) for input features `x` (used for heatmaps)."""
        return self._spatial(x * self.channel_weights(x))

    def call(self, x):
        refined = x * self.channel_weights(x)
        return refined * self._spatial(refined)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "kernel_size": self.kernel_size}
