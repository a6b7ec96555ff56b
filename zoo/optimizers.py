"""Adam whose moving average of the weights warms up, so it never carries the initial weights."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class WarmupAveragedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam(use_ema=True)` with the average's momentum min(ema_momentum, (1 + t) / (10 + t)).

    Keras's average uses `ema_momentum` from the second step on, so after t
    steps it still holds ema_momentum ** t of the random initial weights:
    0.995 ** 225 ≈ 32% after a short run. Warming the momentum up with the
    step t, as TensorFlow's `ExponentialMovingAverage(num_updates=t)` does,
    averages roughly the last tenth of a short run and reaches `ema_momentum`
    after about 10 / (1 - ema_momentum) steps (2,000 for 0.995).

    Example:

        optimizer = WarmupAveragedAdam(1e-3, use_ema=True, ema_momentum=0.995)
    """

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        step = ops.cast(self.iterations, "float32")
        momentum = ops.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step))
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                rate = ops.cast(momentum, variable.dtype)
                average.assign(rate * average + (1 - rate) * variable)
