"""Training on several devices or machines with `tf.distribute` (`train.py --strategy`).

    strategy = distribute.make_strategy("multi_worker")   # reads TF_CONFIG
    with strategy.scope():
        model = build(...)
        training.compile_model(model, task, settings, clipnorm_divisor=strategy.num_replicas_in_sync)
    distribute.CustomLoop(model, strategy, accuracy).fit(train, validation, epochs, callbacks)

`default` trains with Keras's `model.fit`; the others with `CustomLoop`, a
training step under `strategy.run`. Keras 3's `model.fit` fails under
`MultiWorkerMirroredStrategy` (keras-team/keras#20585), and under
`MirroredStrategy` with several replicas it averages the replicas' mean losses
and clips each replica's share of the gradient, so it would not train what
one device trains. Every step of the loop sees the global batch one process
would (one pass over the dataset per epoch): it is split across the replicas,
the loss is divided by the number of (unmasked) elements of the whole global
batch, and the summed gradient is clipped, so N replicas train the weights
one process would (up to float rounding, and with no dropout: each replica
draws its own dropout masks).

SIGTERM stops every worker after the same step (see `zoo.interruption`); a
worker that stops answering makes the others fail with an error that
`lost_worker` turns into a sentence naming it.
"""

import contextlib
import json
import os
import re

import keras
import tensorflow as tf

from zoo import interruption
from zoo.settings import STRATEGIES

# Strategies whose training runs in `CustomLoop` rather than `model.fit`.
CUSTOM_LOOP_STRATEGIES = ("mirrored", "multi_worker", "tpu")


class StrategyError(ValueError):
    """The strategy asked for cannot run here; the message says why and what to do."""


def make_strategy(name):
    """The `tf.distribute.Strategy` called `name` (one of `STRATEGIES`).

    Create it before any other TensorFlow work in the process:
    `MultiWorkerMirroredStrategy` configures the collective ops at start-up.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        # Its runtime's preemption notifier takes SIGTERM and only records it.
        interruption.reclaim_sigterm()
        return strategy
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            first_line = str(error).strip().split("\n")[0]
            raise StrategyError(f"--strategy tpu found no TPU ({first_line}): use another --strategy.") from None
        return tf.distribute.TPUStrategy(resolver)
    raise StrategyError(f"Unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}.")


def check_tf_config(text):
    """Raises StrategyError unless `text` is a TF_CONFIG naming this process's task in a worker cluster."""
    how = 'set TF_CONFIG to {"cluster": {"worker": ["host1:port", ...]}, "task": {"type": "worker", "index": I}}'
    if not text:
        raise StrategyError(f"--strategy multi_worker needs the cluster in TF_CONFIG: {how} on every host.")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = task["type"], task["index"]
        hosts = cluster[task_type]
    except (ValueError, KeyError, TypeError):
        raise StrategyError(f"TF_CONFIG is not a cluster with this process's task in it: {how}.") from None
    if not isinstance(index, int) or not 0 <= index < len(hosts):
        raise StrategyError(f"TF_CONFIG's task index {index!r} is not one of the {len(hosts)} {task_type} hosts.")


# The errors of a collective op whose peer is gone: killed, crashed or cut off.
PEER_LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)


def lost_worker(error, tf_config=None):
    """A sentence naming the task of the TF_CONFIG cluster that stopped answering, if `error` says one did; else None.

    TensorFlow names the task (`/job:worker/replica:0/task:1`) in the error
    when it stopped sending heartbeats; when the task that is gone was the
    coordination service's (task 0), the error may name only this one.
    """
    text = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not isinstance(error, PEER_LOST_ERRORS) or not text:
        return None
    try:
        config = json.loads(text)
        own = (config["task"]["type"], int(config["task"]["index"]))
        tasks = [(job, index) for job, hosts in config["cluster"].items() for index in range(len(hosts))]
    except (ValueError, KeyError, TypeError):
        return None
    _, unhealthy, after = str(error).partition("unhealthy")
    # The tasks listed after "unhealthy" stopped sending heartbeats; the others named before only relayed the error.
    message = after if unhealthy else str(error)
    named = [(job, int(index)) for job, index in re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", message)]
    others = [task for task in tasks if task != own]
    lost = next((task for task in named if task != own and task in tasks), None)
    if lost is None and len(others) == 1:
        lost = others[0]
    if lost is None:
        return (f"a task of the cluster stopped answering ({type(error).__name__}): "
                "restart the one that stopped, then repeat the command on every host.")
    job, index = lost
    host = config["cluster"][job][index]
    return f"{job} {index} ({host}) stopped answering: restart it, then repeat the command on every host."


def is_chief(strategy):
    """Whether this process writes the run folder: the chief task, else worker 0, else the only process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """Layers built inside compute in float16 and keep float32 variables when `mixed_precision`."""
    if not mixed_precision:
        yield
        return
    earlier = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(earlier)


class ValidCount(keras.losses.Loss):
    """Summed with reduction="sum", counts the elements a loss averages over: the unmasked, not ignored ones.

    Keras divides a loss by this count in one process; the custom loop
    divides by the count of the whole global batch instead.
    """

    def __init__(self, ignore_class=None, **kwargs):
        super().__init__(reduction="sum", **kwargs)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        ones = keras.ops.ones_like(y_true, dtype=self.dtype)
        if self.ignore_class is None:
            return ones
        return keras.ops.where(keras.ops.equal(y_true, self.ignore_class), 0.0, ones)


def summing(loss):
    """The compiled `loss` (a name, function or Loss) with reduction="sum", and its `ValidCount`."""
    loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        summed = type(loss).from_config({**config, "reduction": "sum"})
        return summed, ValidCount(config.get("ignore_class"))
    return SummedFunction(loss), ValidCount()


class SummedFunction(keras.losses.Loss):
    """A loss function of (y_true, y_pred) -> per-element values, summed."""

    def __init__(self, function):
        super().__init__(name=function.__name__, reduction="sum")
        self.function = function

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def split_batches(batches, input_context):
    """This worker's share of every global batch: rows of each batch, one slice per local replica.

    Every worker builds the same global batches (same data, same seed) and
    keeps its replicas' contiguous rows, so together the replicas see exactly
    the batches one process would, padding included, and every worker runs
    the same number of steps. A replica may get zero rows of a last, small batch.
    """
    replicas = input_context.num_replicas_in_sync
    local = replicas // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local

    def replica_slices(*batch):
        batch = batch[0] if len(batch) == 1 else batch
        size = tf.shape(tf.nest.flatten(batch)[0])[0]

        def rows_of(replica):
            start, end = size * replica // replicas, size * (replica + 1) // replicas
            return tf.nest.map_structure(lambda tensor: tensor[start:end], batch)

        return tf.data.Dataset.range(first, first + local).map(lambda replica: rows_of(tf.cast(replica, tf.int32)))

    return batches.flat_map(replica_slices).prefetch(tf.data.AUTOTUNE)


def divide(gradient, divisor):
    """`gradient / divisor` for a dense or sparse (IndexedSlices) gradient."""
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values / divisor, gradient.indices, gradient.dense_shape)
    return gradient / divisor


class CustomLoop:
    """`model.fit` over the replicas of a strategy: a training step under `strategy.run`.

    Args:
        model: a Keras model built under `strategy.scope()` and compiled with
            `training.compile_model(..., clipnorm_divisor=replicas)` (see `train_step`).
        strategy: the `tf.distribute.Strategy`.
        accuracy: "weighted" (weighted by the sample weights), "plain", or
            None: which accuracy to report beside the loss.

    The loss of a step is sum(loss * sample_weight) / count over the whole
    global batch, the count being the unmasked elements (Keras's
    "sum_over_batch_size" with masks), so it equals Keras's loss in one process.
    """

    def __init__(self, model, strategy, accuracy=None):
        self.model, self.strategy, self.accuracy = model, strategy, accuracy
        self.summed_loss, self.count = summing(model.loss)

    def distribute(self, batches):
        return self.strategy.distribute_datasets_from_function(lambda context: split_batches(batches, context))

    def _sums(self, y, y_pred, sample_weight):
        """Per replica: summed weighted loss, its element count, examples, and correct and total accuracy weight."""
        loss_sum = self.summed_loss(y, y_pred, sample_weight)
        count = self.count(y, y_pred)
        examples = tf.cast(tf.shape(y)[0], tf.float32)
        correct = total = tf.constant(0.0)
        if self.accuracy is not None:
            hits = tf.cast(keras.metrics.sparse_categorical_accuracy(y, y_pred), tf.float32)
            weights = tf.ones_like(hits)
            if self.accuracy == "weighted" and sample_weight is not None:
                weights = tf.cast(sample_weight, tf.float32)
            correct, total = tf.reduce_sum(hits * weights), tf.reduce_sum(weights)
            if len(hits.shape) > 1:
                # As Keras's Mean metric: each example's frames are averaged over the padded length first.
                length = tf.cast(tf.shape(hits)[1], tf.float32)
                correct, total = correct / length, total / length
        return loss_sum, count, examples, correct, total

    def train_step(self, batch, stop):
        """One step on this replica's rows; returns the global batch's sums (see `_sums`), then the sum of `stop`.

        `stop` is 1.0 on a worker asked to stop (SIGTERM), else 0.0: its sum,
        with the others, tells every worker after the same step whether any was.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        model, optimizer = self.model, self.model.optimizer
        context = tf.distribute.get_replica_context()
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            sums = self._sums(y, y_pred, sample_weight)
            global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, sums[1])
            loss = tf.math.divide_no_nan(sums[0], global_count)
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        # The global batch's gradient, on every replica. Keras's optimizer
        # clips what each replica passes, then sums the replicas' gradients:
        # passing gradient / replicas with the optimizer clipping at
        # clipnorm / replicas clips the global gradient at clipnorm. An
        # embedding's gradient stays sparse (IndexedSlices, one row per token
        # in the batch), as in model.fit, whose clipping takes the norm of those rows.
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        optimizer.apply([divide(gradient, replicas) for gradient in gradients], model.trainable_variables)
        # all_reduce fails ("destinations can not be empty") on the input itself: reduce a copy made here.
        return context.all_reduce(tf.distribute.ReduceOp.SUM, [*sums, tf.identity(stop)])

    def test_step(self, batch):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        sums = self._sums(y, self.model(x, training=False), sample_weight)
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, list(sums))

    def _run_epoch(self, step, batches, callbacks=None):
        """Keras's epoch metrics: the loss averaged over batches by their size, the accuracy over all weights.

        A `step` that returns a sixth sum, that of the workers' stop flags,
        raises `interruption.Terminated` after the step where it is positive.
        """
        loss_total = examples_total = correct_total = weight_total = 0.0
        logs = {}
        for index, batch in enumerate(batches):
            if callbacks is not None:
                callbacks.on_train_batch_begin(index)
            sums = [float(value) for value in self.strategy.experimental_local_results(step(batch))[0]]
            if sums[5:] and sums[5] > 0:
                raise interruption.Terminated()
            loss_sum, count, examples, correct, weight = sums[:5]
            loss_total += (loss_sum / count if count else 0.0) * examples
            examples_total += examples
            correct_total, weight_total = correct_total + correct, weight_total + weight
            logs = {"loss": loss_total / examples_total}
            if self.accuracy is not None:
                logs["accuracy"] = correct_total / weight_total if weight_total else 0.0
            if callbacks is not None:
                callbacks.on_train_batch_end(index, logs)
        return logs

    def fit(self, train, validation, epochs, callbacks, initial_epoch=0, verbose=1):
        """Trains from `initial_epoch` to `epochs`, driving Keras `callbacks` as `model.fit` does.

        `train` and `validation` yield global batches (x, y[, sample_weight]).
        Returns the `keras.callbacks.History`.
        """
        model = self.model
        train_batches, validation_batches = self.distribute(train), self.distribute(validation)
        strategy = self.strategy

        @tf.function(input_signature=[train_batches.element_spec, tf.TensorSpec([], tf.float32)])
        def train_function(batch, stop):
            return strategy.run(self.train_step, args=(batch, stop))

        def train_or_stop(batch):
            return train_function(batch, tf.constant(float(interruption.requested())))

        @tf.function(input_signature=[validation_batches.element_spec])
        def test_function(batch):
            return strategy.run(self.test_step, args=(batch,))

        history = keras.callbacks.History()
        callbacks = keras.callbacks.CallbackList(
            [*callbacks, history], add_progbar=bool(verbose), model=model, verbose=verbose, epochs=epochs, steps=None
        )
        model.stop_training = False
        # Before restoring a checkpoint: that creates the optimizer's variables, whose
        # initial values the workers broadcast, and inside the scope, as in model.fit.
        self._check_same_epoch(initial_epoch)
        with strategy.scope(), interruption.deferred():
            callbacks.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                callbacks.on_epoch_begin(epoch)
                logs = self._run_epoch(train_or_stop, train_batches, callbacks)
                # As in model.fit, where SwapEMAWeights puts the weights' moving average in for validation.
                callbacks.on_test_begin()
                validation_logs = self._run_epoch(test_function, validation_batches)
                callbacks.on_test_end(validation_logs)
                logs.update({f"val_{key}": value for key, value in validation_logs.items()})
                callbacks.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
            # A SIGTERM after the last step: stop before on_train_end deletes the checkpoint.
            if self._any(interruption.requested()):
                raise interruption.Terminated()
            callbacks.on_train_end()
        return history

    def _check_same_epoch(self, epoch):
        """Stops a resume that would hang: every worker must start from the chief's checkpoint."""
        if self._spread(lambda: tf.constant([float(epoch)])) > 0:
            raise StrategyError(
                "the workers' checkpoints hold different epochs: to resume, every worker must read the "
                "chief's checkpoint (--out on a filesystem all hosts share), or pass --overwrite to train afresh."
            )

    def weight_spread(self):
        """0.0 when every replica holds the same weights, as the all-reduced updates should leave them.

        Else the largest, over the weights' elements, of the root of the
        summed squared differences of the replicas' values from their mean.
        """
        return self._spread(
            lambda: tf.concat([tf.reshape(tf.cast(weight, tf.float32), [-1]) for weight in self.model.weights], 0)
        )

    def barrier(self):
        """Returns once every worker has called it."""
        self._spread(lambda: tf.zeros([1]))

    def _any(self, flag):
        """Whether `flag` is true on any worker; returns once every worker has called it."""
        total = tf.function(
            lambda: self.strategy.run(
                lambda: tf.distribute.get_replica_context().all_reduce(
                    tf.distribute.ReduceOp.SUM, tf.constant(float(flag))
                )
            )
        )()
        return float(self.strategy.experimental_local_results(total)[0]) > 0

    def _spread(self, values):
        """max over elements of sqrt(sum over replicas of (value - mean)^2) of the vector `values()`."""
        replicas = self.strategy.num_replicas_in_sync

        def on_replica():
            local = values()
            context = tf.distribute.get_replica_context()
            mean = context.all_reduce(tf.distribute.ReduceOp.SUM, local) / replicas
            squares = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.square(local - mean))
            return tf.sqrt(tf.reduce_max(squares))

        spread = tf.function(lambda: self.strategy.run(on_replica))()
        return float(self.strategy.experimental_local_results(spread)[0])
