"""SPEC.md's equations in plain NumPy, written independently of zoo/layers.

Batch-major like Keras: x (batch, time, features). A mask entry of False
means the frame is padding: the state is carried over unchanged.
"""

import numpy as np

ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "linear": lambda z: z,
    "softplus": lambda z: np.log1p(np.exp(z)),
}


def rnn(x, kernel, recurrent_kernel, bias, initial_state=None, mask=None, activation="tanh", reverse=False):
    """h_t = phi(x_t W_xh + h_{t-1} W_hh + b), from the first frame or, reversed, from the last.

    Returns (states, final): states (batch, time, units) in frame order, each
    the state after that frame (carried over on padding), and the final state.
    """
    phi = ACTIVATIONS[activation]
    batch, time, _ = x.shape
    units = recurrent_kernel.shape[0]
    bias = np.zeros(units) if bias is None else bias
    states = np.zeros((batch, time, units))
    finals = np.zeros((batch, units))
    for sequence in range(batch):
        h = np.zeros(units) if initial_state is None else initial_state[sequence].astype(np.float64)
        order = range(time - 1, -1, -1) if reverse else range(time)
        for t in order:
            if mask is None or mask[sequence, t]:
                h = phi(x[sequence, t] @ kernel + h @ recurrent_kernel + bias)
            states[sequence, t] = h
        finals[sequence] = h
    return states, finals



def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm(x, kernel, recurrent_kernel, bias, initial_state=None, initial_cell=None, mask=None, reverse=False):
    """Keras's LSTM: gates i, f, c, o in kernel (features, 4U), recurrent_kernel (U, 4U) and bias (4U,).

    z = x_t W + h_{t-1} U + b;  i, f, o = sigmoid;  c_t = f c_{t-1} + i tanh(z_c);  h_t = o tanh(c_t).
    Returns (states, final_h, final_c): states (batch, time, units) in frame
    order; padding frames carry h and c over.
    """
    batch, time, _ = x.shape
    units = recurrent_kernel.shape[0]
    bias = np.zeros(4 * units) if bias is None else bias
    states = np.zeros((batch, time, units))
    final_h, final_c = np.zeros((batch, units)), np.zeros((batch, units))
    for sequence in range(batch):
        h = np.zeros(units) if initial_state is None else initial_state[sequence].astype(np.float64)
        c = np.zeros(units) if initial_cell is None else initial_cell[sequence].astype(np.float64)
        for t in range(time - 1, -1, -1) if reverse else range(time):
            if mask is None or mask[sequence, t]:
                z = x[sequence, t] @ kernel + h @ recurrent_kernel + bias
                i, f, g, o = (z[k * units : (k + 1) * units] for k in range(4))
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            states[sequence, t] = h
        final_h[sequence], final_c[sequence] = h, c
    return states, final_h, final_c


def gru(x, kernel, recurrent_kernel, bias, initial_state=None, mask=None, reverse=False):
    """Keras's GRU with reset_after=True: gates z, r, h; bias (2, 3U) holds the input bias, then the recurrent one.

    z = sigmoid(x W_z + b_z + h U_z + b'_z), r likewise,
    n = tanh(x W_h + b_h + r * (h U_h + b'_h)),  h_t = z h_{t-1} + (1 - z) n.
    Returns (states, final_h); padding frames carry h over.
    """
    batch, time, _ = x.shape
    units = recurrent_kernel.shape[0]
    bias = np.zeros((2, 3 * units)) if bias is None else bias
    states = np.zeros((batch, time, units))
    final_h = np.zeros((batch, units))
    for sequence in range(batch):
        h = np.zeros(units) if initial_state is None else initial_state[sequence].astype(np.float64)
        for t in range(time - 1, -1, -1) if reverse else range(time):
            if mask is None or mask[sequence, t]:
                from_input = x[sequence, t] @ kernel + bias[0]
                from_state = h @ recurrent_kernel + bias[1]
                z = _sigmoid(from_input[:units] + from_state[:units])
                r = _sigmoid(from_input[units : 2 * units] + from_state[units : 2 * units])
                n = np.tanh(from_input[2 * units :] + r * from_state[2 * units :])
                h = z * h + (1 - z) * n
            states[sequence, t] = h
        final_h[sequence] = h
    return states, final_h


def bidirectional(x, forward_weights, backward_weights, merge_mode="sum", initial_states=(None, None), mask=None,
                  activation="tanh"):
    """SPEC §3: forward and backward states per frame, merged; padding frames are zero."""
    forward, forward_final = rnn(x, *forward_weights, initial_state=initial_states[0], mask=mask, activation=activation)
    backward, backward_final = rnn(
        x, *backward_weights, initial_state=initial_states[1], mask=mask, activation=activation, reverse=True
    )
    if mask is not None:
        forward = forward * mask[..., None]
        backward = backward * mask[..., None]
    merged = {
        "sum": lambda: forward + backward,
        "concat": lambda: np.concatenate([forward, backward], axis=-1),
        "ave": lambda: (forward + backward) / 2,
        "mul": lambda: forward * backward,
        None: lambda: [forward, backward],
    }[merge_mode]()
    return merged, forward_final, backward_final


def windows(x, left, right, mask=None):
    """Frame t becomes concat(x_{t-left} .. x_{t+right}), zeros past the edges and past the mask."""
    batch, time, dim = x.shape
    if mask is not None:
        x = x * mask[..., None]
    out = np.zeros((batch, time, (left + 1 + right) * dim))
    for t in range(time):
        for slot, source in enumerate(range(t - left, t + right + 1)):
            if 0 <= source < time:
                out[:, t, slot * dim : (slot + 1) * dim] = x[:, source]
    return out


def lengths_to_mask(lengths, time):
    return np.arange(time)[None, :] < np.asarray(lengths)[:, None]
