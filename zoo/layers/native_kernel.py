"""The recurrent time loop of BasicRNN, LSTM and GRU as compiled TensorFlow ops (native_kernel.cc), for training on the CPU.

`run_native(cell, projected, ...)` runs the sequential part of a layer: the
caller computes the input side, projected = x W + b for every frame, with one
matmul, and the op runs the recurrence on it, both directions of a
bidirectional layer in one call. Its gradient with respect to `projected` is
the caller's way back to x, W and b through that matmul's own gradient. For
narrow inputs the caller passes x, W and b instead (`input_kernel`), and the
op makes each frame's projection inside its loop. Only training uses it:
inference graphs, which SavedModel export and TF Lite conversion trace, keep
to TensorFlow's own ops, so they load with plain TensorFlow and run on phones.

The op is compiled from source on first use, against the installed
TensorFlow and for this machine's CPU (`-march=native`), with the C++ compiler
in $CXX or `c++`, and cached in $ZOO_CACHE_DIR (default ~/.cache/zoo), keyed
by everything that changes the binary. Set ZOO_NATIVE_KERNEL=0 to use the
TensorFlow-ops loop everywhere.
"""

import functools
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

SOURCE = pathlib.Path(__file__).with_name("native_kernel.cc")
SWITCH = "ZOO_NATIVE_KERNEL"

# Tried in order. Eigen's AVX512-FP16 code does not build with GCC 12, so that
# one extension is left out; the last entry builds for any CPU.
_ARCHITECTURE_FLAGS = (["-march=native", "-mno-avx512fp16"], ["-march=native"], [])


# Replicas of a tf.distribute strategy trace in threads of their own.
_LOCK = threading.Lock()


def cache_directory():
    return pathlib.Path(os.environ.get("ZOO_CACHE_DIR") or pathlib.Path.home() / ".cache" / "zoo")


def _warn_fallback(reason):
    warnings.warn(
        f"zoo: could not build the native recurrent kernel ({reason}), so training uses the slower "
        "TensorFlow-ops loop; set ZOO_NATIVE_KERNEL=0 to silence this.",
        RuntimeWarning,
        stacklevel=3,
    )


def _cpu_description():
    """What -march=native depends on: a library built for one CPU may not run on another."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compile(compiler, architecture_flags, target):
    """Runs the compiler; returns its last line of errors, or None on success."""
    command = [
        compiler, "-shared", "-fPIC", "-O3", *architecture_flags,
        # Keep our Eigen, built for this CPU, apart from the copy inside TensorFlow.
        "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wl,-Bsymbolic",
        "-w", str(SOURCE), "-o", str(target),
        *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags(),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]


def build():
    """Path of the compiled op library, built if not cached; None, with a warning, if it cannot be built."""
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        _warn_fallback("no C++ compiler found: install g++ or set CXX")
        return None
    key = hashlib.sha256(
        "\n".join([SOURCE.read_text(), tf.__version__, compiler, _cpu_description(), sys.platform]).encode()
    ).hexdigest()[:16]
    path = cache_directory() / f"native_kernel-{key}.so"
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Built beside its final name and renamed into place, so processes
        # building at once never load a half-written file.
        scratch = pathlib.Path(tempfile.mkdtemp(dir=path.parent))
    except OSError as error:
        _warn_fallback(f"cannot write to {path.parent}: {error.strerror}; set ZOO_CACHE_DIR to a writable folder")
        return None
    print(f"zoo: building the native recurrent kernel into {path} (once per machine, under a minute)",
          file=sys.stderr, flush=True)
    try:
        for architecture_flags in _ARCHITECTURE_FLAGS:
            error = _compile(compiler, architecture_flags, scratch / path.name)
            if error is None:
                os.replace(scratch / path.name, path)
                return path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _warn_fallback(f"{compiler}: {error}")
    return None


@functools.cache
def _load():
    path = build()
    if path is None:
        return None
    try:
        return tf.load_op_library(str(path))
    except (tf.errors.OpError, OSError) as error:
        _warn_fallback(f"{path} does not load: {error}")
        return None


def library():
    """The loaded op library (see `build`), or None; built and loaded once per process."""
    with _LOCK:
        return _load()


def usable(sequences, training):
    """Whether this call can take the native op: float32 training on a CPU-only machine, outside XLA.

    The activation is not checked here: the basic cell's op takes tanh, sigmoid, relu and linear only.
    """
    if not training or os.environ.get(SWITCH, "1") == "0" or sequences.dtype != tf.float32:
        return False
    # The op has a CPU kernel only: on a GPU or TPU, TensorFlow's own ops stay where the data is.
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return False
    # XLA (jit_compile=True) cannot compile an op it does not know.
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return False
    return library() is not None


# The gate count G and state count S of each cell: projected has D*G*U
# columns, a direction's states are S*U wide.
GATES = {"basic": 1, "lstm": 4, "gru": 3}
STATES = {"basic": 1, "lstm": 2, "gru": 1}


def run_native(cell, projected, initial_state, recurrent_kernel, recurrent_bias=None, mask=None, reverse=False,
               time_major=False, activation="tanh", input_kernel=None, input_bias=None):
    """The recurrence of `cell` ("basic", "lstm" or "gru") over input projections, in one or two directions.

    Args:
        cell: "basic" (h = phi(p + h U)), "lstm" (Keras's gates i, f, c, o) or
            "gru" (Keras's reset_after=True, gates z, r, h).
        projected: (batch, time, D * G * U), or (time, batch, D * G * U) when
            `time_major`: x_t W + b for every frame; direction d's G * U
            columns are [d * G * U, (d + 1) * G * U), gates in Keras's order.
            With `input_kernel`, the frames x themselves, (batch, time, F):
            the op computes x_t W + b per step.
        initial_state: (D, batch, S * U): h, or [h | c] for the LSTM, per direction.
        recurrent_kernel: (D, U, G * U), Keras's recurrent_kernel per direction.
        recurrent_bias: the GRU's (D, G * U) recurrent bias (Keras's bias[1]); None otherwise.
        mask: bool (batch, time) ((time, batch) when `time_major`), False on
            padding frames, which carry every state over; None if all frames are real.
        reverse: direction 0 runs from the last frame to the first. Direction
            1, when D = 2, always runs opposite to direction 0.
        time_major: the layout of `projected`, `mask` and the returned states.
        activation: the basic cell's phi: "tanh", "sigmoid", "relu" or "linear".
        input_kernel: None, or W (F, D * G * U), every direction's Keras
            kernel side by side; then `projected` holds x.
        input_bias: b (D * G * U), with `input_kernel` only.

    Returns:
        (states, final_state): states, a list of D tensors (batch, time, U),
        each direction's h in frame order (a tensor of its own, so merging
        the directions slices nothing), and final_state (D, batch, S * U),
        the states after each direction's last real frame. Differentiable
        with respect to projected (or x), initial_state, recurrent_kernel,
        recurrent_bias, input_kernel and input_bias.
    """
    operations = library()
    # Plain tensors only: a variable read inside the custom gradient would need its own gradient path.
    projected, initial_state, recurrent_kernel = (
        tf.convert_to_tensor(t, tf.float32) for t in (projected, initial_state, recurrent_kernel)
    )
    biases = [] if recurrent_bias is None else [tf.convert_to_tensor(recurrent_bias, tf.float32)]
    project_inputs = input_kernel is not None
    input_weights = ([tf.convert_to_tensor(input_kernel, tf.float32), tf.convert_to_tensor(input_bias, tf.float32)]
                     if project_inputs else [])
    # An empty mask stands for "every frame is real", an empty tensor for "no such weight".
    mask = tf.zeros((0,), tf.bool) if mask is None else tf.cast(mask, tf.bool)
    none = tf.zeros((0,))
    directions = recurrent_kernel.shape[0]
    if directions is None:
        raise ValueError("run_native needs the number of directions, recurrent_kernel's first axis, known when "
                         f"tracing; got shape {recurrent_kernel.shape}.")
    attributes = dict(cell=cell, activation=activation, reverse=reverse, time_major=time_major,
                      project_inputs=project_inputs)

    @tf.custom_gradient
    def recurrence(projected, initial_state, recurrent_kernel, *weights):
        bias = weights[0] if biases else tf.zeros((tf.shape(recurrent_kernel)[0], 0))
        kernel, input_bias = weights[len(biases):] if project_inputs else (none, none)
        states, final_state, workspace = operations.zoo_recurrence(
            projected, initial_state, recurrent_kernel, bias, mask, kernel, input_bias, directions=directions,
            **attributes,
        )

        def gradient(*upstream):
            states_gradient = [tf.zeros_like(state) if state_gradient is None else state_gradient
                               for state, state_gradient in zip(states, upstream[:directions])]
            final_state_gradient = upstream[directions]
            if final_state_gradient is None:
                final_state_gradient = tf.zeros_like(final_state)
            (projected_gradient, initial_gradient, kernel_gradient, bias_gradient, input_kernel_gradient,
             input_bias_gradient) = operations.zoo_recurrence_grad(
                initial_state, recurrent_kernel, bias, mask, states, workspace, states_gradient,
                final_state_gradient, projected if project_inputs else none, kernel, **attributes,
            )
            return (projected_gradient, initial_gradient, kernel_gradient, *([bias_gradient] if biases else []),
                    *([input_kernel_gradient, input_bias_gradient] if project_inputs else []))

        # Flat: custom_gradient would stack a nested list of outputs into one tensor.
        return (*states, final_state), gradient

    *states, final_state = recurrence(projected, initial_state, recurrent_kernel, *biases, *input_weights)
    return states, final_state
