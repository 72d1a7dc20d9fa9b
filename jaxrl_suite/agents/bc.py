"""Behaviour cloning (continuous): a deterministic tanh policy regressed onto the data's actions.

As the BC baseline of TD3+BC (Fujimoto & Gu, 2021) and CORL's ``any_percent_bc.py``: MSE on
[-1, 1] actions, Adam lr 3e-4, two 256-unit ReLU layers, normalised observations.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr
from jaxrl_suite.nets.history import history_encoder
from jaxrl_suite.nets.networks import DeterministicActor


@dataclasses.dataclass(frozen=True)
class BCConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    history_encoder: str = "none"  # over history windows: "stack" | "gru" (nets/history.py)
    history_hidden: int = 128  # GRU units


@struct.dataclass
class BCHParams:
    learning_rate: float = 3e-4


@struct.dataclass
class BCState:
    actor_params: dict
    opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def make_bc(config: BCConfig = BCConfig()) -> Learner:
    """Returns the BC learner (the action size comes from the DataSpec at init)."""
    encoder = history_encoder(config.history_encoder, config.history_hidden)

    def actor(spec: DataSpec):
        return DeterministicActor(config.hidden_sizes, spec.action_dim, encoder=encoder)

    def init(key, spec: DataSpec, hparams: BCHParams) -> BCState:
        params = actor(spec).init(key, jnp.zeros((1,) + spec.observation_shape))
        return BCState(params, adam_with_lr(hparams.learning_rate).init(params), spec,
                       jnp.int32(0))

    def update(state: BCState, batch, key, hparams: BCHParams):
        del key
        spec = state.spec
        obs = spec.normalize(batch.observations)
        target = spec.to_unit(batch.actions)

        def loss_fn(params):
            return jnp.mean(jnp.square(actor(spec).apply(params, obs) - target))

        loss, grads = jax.value_and_grad(loss_fn)(state.actor_params)
        updates, opt_state = adam_with_lr(hparams.learning_rate).update(grads, state.opt_state)
        params = optax.apply_updates(state.actor_params, updates)
        return state.replace(actor_params=params, opt_state=opt_state, step=state.step + 1), {
            "actor_loss": loss}

    def act(state: BCState, obs, key, deterministic: bool = True):
        del key, deterministic
        spec = state.spec
        return spec.to_env(actor(spec).apply(state.actor_params, spec.normalize(obs)))

    return Learner("bc", config, BCHParams(), init, update, act)
