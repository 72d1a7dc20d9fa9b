"""History encoders: the first layer of a learner's networks when its observations are history
windows, a static config choice (``HistoryEncoder``).

Input layout (``transforms/history.py::history_windows``, built step by step at evaluation by
``envs/history.py::with_history``): ``[..., k, obs_dim + 1]``, oldest step first, the current
step last; the last channel is 1.0 on real steps and 0.0 on the padding before an episode's
first step. Padding only ever precedes real steps (a window never crosses an episode start).

Kinds:
- ``"none"``: no encoder; the observation must already be flat ``[..., obs_dim]``.
- ``"stack"``: the frame stack: the window flattened to ``[..., k * (obs_dim + 1)]`` (padding
  zeroed, the flags kept so the torso can tell padding from a zero observation).
- ``"gru"``: a GRU (``flax.linen.GRUCell``, ``hidden_size`` units) run over the window from the
  oldest real step to the current one; padded steps leave the state at its initial zeros, so
  the output equals the GRU run over the episode's last ``min(k, t + 1)`` steps alone. Its
  kernels use the suite's LAPACK-free orthogonal init (``networks.orthogonal``; flax's default
  recurrent init calls ``jnp.linalg.qr``, which hangs vmapped over seeds on this CPU).
Each network (actor, every critic member, value) holds its own encoder, trained end to end by
that network's loss: the learners' losses are unchanged (Ni, Eysenbach & Salakhutdinov,
"Recurrent Model-Free RL Can Be a Strong Baseline for Many POMDPs", ICML 2022, find separate
actor and critic encoders the stable choice). NEUBAY's LRU is the NEUBAY issue's.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

HISTORY_ENCODERS = ("none", "stack", "gru")


@dataclasses.dataclass(frozen=True)
class HistoryEncoder:
    """Static choice of the history encoder (a flax module attribute: hashable)."""

    kind: str = "none"
    hidden_size: int = 128  # GRU units (the recurrent model-free baseline's 128)

    def __post_init__(self):
        if self.kind not in HISTORY_ENCODERS:
            raise ValueError(f"history_encoder: expected one of {list(HISTORY_ENCODERS)}, "
                             f"found '{self.kind}'")
        if int(self.hidden_size) < 1:
            raise ValueError(f"history_hidden: expected a positive int, found {self.hidden_size}")


def history_encoder(kind: str = "none", hidden_size: int = 128) -> HistoryEncoder:
    """Returns the HistoryEncoder of a learner config's ``history_encoder`` /
    ``history_hidden`` fields (raises ValueError for an unknown kind)."""
    return HistoryEncoder(kind, int(hidden_size))


def split_window(window):
    """Returns (observations [..., k, obs_dim] with padding zeroed, flags [..., k, 1])."""
    flags = window[..., -1:]
    return window[..., :-1] * flags, flags


class _MaskedGRU(nn.Module):
    hidden_size: int

    @nn.compact
    def __call__(self, x, flags):  # x: [M, k, obs_dim], flags: [M, k, 1]
        from jaxrl_suite.nets.networks import orthogonal

        cell = nn.GRUCell(self.hidden_size, kernel_init=orthogonal(1.0),
                          recurrent_kernel_init=orthogonal(1.0))

        def step(cell, h, inputs):
            x_t, flag_t = inputs
            h_new, _ = cell(h, x_t)
            return jnp.where(flag_t > 0, h_new, h), None

        scan = nn.scan(step, variable_broadcast="params", split_rngs={"params": False},
                       in_axes=1, out_axes=1)
        h, _ = scan(cell, jnp.zeros((x.shape[0], self.hidden_size), x.dtype), (x, flags))
        return h


class EncodeHistory(nn.Module):
    """Returns the features [..., F] of observations (a window for "stack"/"gru")."""

    config: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        kind = self.config.kind
        if kind == "none":
            return obs
        if obs.ndim < 2:
            raise ValueError(f"history encoder '{kind}': expected windows [..., k, obs_dim + 1], "
                             f"found shape {obs.shape}")
        x, flags = split_window(obs)
        if kind == "stack":
            window = jnp.concatenate([x, flags], axis=-1)
            return window.reshape(obs.shape[:-2] + (-1,))
        lead, (k, dim) = obs.shape[:-2], x.shape[-2:]
        h = _MaskedGRU(self.config.hidden_size)(x.reshape((-1, k, dim)),
                                                flags.reshape((-1, k, 1)))
        return h.reshape(lead + (self.config.hidden_size,))
