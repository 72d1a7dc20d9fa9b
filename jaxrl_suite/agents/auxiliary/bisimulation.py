"""The bisimulation loss as an auxiliary loss of a history-conditioned learner (Hong, Dragan &
Levine, "Offline RL with Observation Histories: Analyzing and Improving Sample Complexity",
ICLR 2024, Sec. 5), in the DBC form it builds on (Zhang et al., "Learning Invariant
Representations for Reinforcement Learning without Reconstruction", ICLR 2021):

    J(phi) = E_{i, j} [ ( ||z_i - z_j||_1 - sg( |r^(z_i, a_i) - r^(z_j, a_j)|
                                               + c * W_2(P^(.|z_i, a_i), P^(.|z_j, a_j)) ) )^2 ]

z = phi(h), the learner's own history encoder on the history h; pairs (i, j) are a batch and a
random permutation of it (DBC ``agent/bisim_agent.py``:203-242 at 5967b6d); r^ a learned latent
reward model and P^ a learned diagonal-Gaussian latent dynamics model (DBC
``transition_model.py``:35-63: Dense -> LayerNorm -> ReLU, sigma = 1e-4 + (10 - 1e-4) *
sigmoid(.)); W_2 between diagonal Gaussians is sqrt(||mu_i - mu_j||^2 + ||sigma_i -
sigma_j||^2); sg is stop-gradient (DBC computes the target under ``torch.no_grad``).

Each update runs the learner's own update first, with the key it would get alone, then one
Adam step of ``bisim_weight * J`` on the encoder's parameters inside the chosen network and one
step of the models' losses (transition NLL against sg(phi(h')), reward MSE; DBC
``update_transition_reward_model``:244-259), so the learner's loss code is untouched.

Choices where the sources leave room (stated, as they change results):
- The paper's full text (its Eq. in Sec. 5 and appendix) was not readable from this machine;
  the formula above is ``shared/REFERENCES.md``'s transcription with DBC's definitions.
- The latent reward is r^(z, a), the issue's and REFERENCES' form; DBC uses observed rewards.
- c = ``bisim_discount`` (traced, default 0.99 as DBC's discount); distances per pair (norms),
  where DBC's code compares latent dimensions one by one (smooth-L1 per element).
- The models train on sg(z): here the encoder is shaped by ``bisim_weight * J`` alone, so
  ``bisim_weight = 0`` is exactly the learner without the loss (DBC also lets the model
  losses shape its encoder).
- Defaults from DBC's ``BisimAgent``: bisim_coef 0.5, encoder_lr 1e-3, decoder_lr 1e-3
  (``bisim_agent.py``:42-51), model width 200 (its ``transition_model_layer_width``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, map_updates
from jaxrl_suite.nets.history import EncodeHistory, history_encoder

SIGMA_MIN, SIGMA_MAX = 1e-4, 10.0  # DBC transition_model.py:37

# Learner (``Learner.name``, discrete) -> (the state field holding the network whose encoder J
# shapes, whether that network sees normalised observations). One encoder per network:
# ensembles of critics (continuous CQL) hold one per member and are not supported. f-DVL's
# learners are named by their divergence (``agents/fdvl.py``).
SUPPORTED = {
    ("bc", False): ("actor_params", True),
    ("bc", True): ("params", False),
    ("cql", True): ("params", False),
    ("iql", False): ("value_params", True),
    ("xql", False): ("value_params", True),
    ("fdvl_chi_square", False): ("value_params", True),
    ("fdvl_total_variation", False): ("value_params", True),
}


def bisimulation_loss(z: jax.Array, z_perm: jax.Array, r_hat: jax.Array, r_hat_perm: jax.Array,
                      mu: jax.Array, mu_perm: jax.Array, sigma: jax.Array,
                      sigma_perm: jax.Array, discount: jax.Array) -> jax.Array:
    """Returns J: mean over pairs of (||z_i - z_j||_1 - sg(|r_i - r_j| + c W_2))^2.

    z, z_perm, mu, mu_perm, sigma, sigma_perm: [B, Z]; r_hat, r_hat_perm: [B].
    """
    w2 = jnp.sqrt(jnp.sum(jnp.square(mu - mu_perm) + jnp.square(sigma - sigma_perm), -1))
    target = jax.lax.stop_gradient(jnp.abs(r_hat - r_hat_perm) + discount * w2)
    return jnp.mean(jnp.square(jnp.sum(jnp.abs(z - z_perm), -1) - target))


class LatentReward(nn.Module):
    """Returns r^(z, a) [...] (DBC's reward decoder: Dense-LayerNorm-ReLU-Dense)."""

    width: int = 200

    @nn.compact
    def __call__(self, z, action):
        x = nn.relu(nn.LayerNorm()(nn.Dense(self.width)(jnp.concatenate([z, action], -1))))
        return nn.Dense(1)(x)[..., 0]


class LatentTransition(nn.Module):
    """Returns (mu, sigma) [..., Z] of P^(z' | z, a) (DBC's ProbabilisticTransitionModel)."""

    latent_dim: int
    width: int = 200

    @nn.compact
    def __call__(self, z, action):
        x = nn.relu(nn.LayerNorm()(nn.Dense(self.width)(jnp.concatenate([z, action], -1))))
        sigma = jax.nn.sigmoid(nn.Dense(self.latent_dim)(x))
        return nn.Dense(self.latent_dim)(x), SIGMA_MIN + (SIGMA_MAX - SIGMA_MIN) * sigma


@struct.dataclass
class BisimulationState:
    learner: Any  # the wrapped learner's state
    model_params: dict  # {"reward": ..., "transition": ...}
    model_opt_state: optax.OptState
    encoder_opt_state: optax.OptState


def _hparams_class(base: type) -> type:
    """Returns a subclass of the learner's hparams with the loss's traced settings added."""
    fields = {"bisim_weight": 0.5, "bisim_lr": 1e-3, "bisim_model_lr": 1e-3,
              "bisim_discount": 0.99}
    taken = {f.name for f in dataclasses.fields(base)} & set(fields)
    if taken:
        raise ValueError(f"bisimulation: the learner's hparams already have {sorted(taken)}")
    namespace = {"__annotations__": {k: float for k in fields}, **fields}
    return struct.dataclass(type(base.__name__.replace("HParams", "") + "BisimHParams",
                                 (base,), namespace))


def with_bisimulation(learner: Learner, model_width: int = 200) -> Learner:
    """Returns ``learner`` with the bisimulation loss on its history encoder (see module).

    The learner must be one of ``SUPPORTED`` with a learned encoder (``history_encoder="gru"``).
    Its hparams gain ``bisim_weight``, ``bisim_lr``, ``bisim_model_lr``, ``bisim_discount``
    (traced: a grid over the weight is one program); metrics gain ``bisim_loss`` (J before the
    step) and ``bisim_model_loss``.
    """
    key = (learner.name, learner.discrete)
    if key not in SUPPORTED:
        raise ValueError(f"bisimulation: learner '{learner.name}' "
                         f"({'discrete' if learner.discrete else 'continuous'}) is not "
                         f"supported; expected one of {sorted(SUPPORTED)}")
    config = learner.config
    if getattr(config, "history_encoder", "none") != "gru":
        raise ValueError(f"bisimulation: learner '{learner.name}' needs a learned history "
                         f"encoder (history_encoder='gru'), found "
                         f"'{getattr(config, 'history_encoder', 'none')}'")
    field, normalised = SUPPORTED[key]
    encoder_config = history_encoder(config.history_encoder, config.history_hidden)
    encoder = EncodeHistory(encoder_config)
    reward_model = LatentReward(model_width)
    transition = LatentTransition(encoder_config.hidden_size, model_width)
    hparams_cls = _hparams_class(type(learner.default_hparams))

    def actions_of(spec: DataSpec, actions):
        if spec.discrete:
            return jax.nn.one_hot(actions, spec.num_actions)
        return spec.to_unit(actions)

    def encode(encoder_params, spec: DataSpec, obs):
        return encoder.apply({"params": encoder_params}, spec.normalize(obs) if normalised
                             else obs)

    def encoder_params_of(learner_state):
        return getattr(learner_state, field)["params"]["EncodeHistory_0"]

    def init(key, spec: DataSpec, hparams) -> BisimulationState:
        # The learner gets the key it would get alone; the models a key folded from it.
        state = learner.init(key, spec, hparams)
        reward_key, transition_key = jax.random.split(jax.random.fold_in(key, 0x6b15))
        z = jnp.zeros((1, encoder_config.hidden_size))
        a = jnp.zeros((1, spec.num_actions if spec.discrete else spec.action_dim))
        models = {"reward": reward_model.init(reward_key, z, a),
                  "transition": transition.init(transition_key, z, a)}
        return BisimulationState(
            state, models, adam_with_lr(hparams.bisim_model_lr).init(models),
            adam_with_lr(hparams.bisim_lr).init(encoder_params_of(state)))

    def add_step(inner_update):
        """Returns ``inner_update`` (one of the learner's update functions) followed by the
        bisimulation step, on the same batch."""
        return lambda state, batch, key, hparams: update(inner_update, state, batch, key,
                                                         hparams)

    def update(inner_update, state: BisimulationState, batch, key, hparams):
        learner_state, metrics = inner_update(state.learner, batch, key, hparams)
        spec = learner_state.spec
        aux_key = jax.random.fold_in(key, 0x6b15)
        perm = jax.random.permutation(aux_key, batch.rewards.shape[0])
        action = actions_of(spec, batch.actions)
        params = encoder_params_of(learner_state)

        def model_outputs(models, z):
            mu, sigma = transition.apply(models["transition"], z, action)
            return reward_model.apply(models["reward"], z, action), mu, sigma

        def bisim_loss_fn(encoder_params):
            z = encode(encoder_params, spec, batch.observations)
            r_hat, mu, sigma = model_outputs(state.model_params, jax.lax.stop_gradient(z))
            return bisimulation_loss(z, z[perm], r_hat, r_hat[perm], mu, mu[perm], sigma,
                                     sigma[perm], hparams.bisim_discount), z

        (loss, z), grads = jax.value_and_grad(bisim_loss_fn, has_aux=True)(params)
        grads = jax.tree.map(lambda g: hparams.bisim_weight * g, grads)
        updates, encoder_opt_state = adam_with_lr(hparams.bisim_lr).update(
            grads, state.encoder_opt_state)
        new_params = optax.apply_updates(params, updates)

        z = jax.lax.stop_gradient(z)  # the models fit the encoder before its step, as z_next
        z_next = jax.lax.stop_gradient(encode(params, spec, batch.next_observations))

        def model_loss_fn(models):
            r_hat, mu, sigma = model_outputs(models, z)
            nll = jnp.mean(0.5 * jnp.square((mu - z_next) / sigma) + jnp.log(sigma))
            return nll + jnp.mean(jnp.square(r_hat - batch.rewards))

        model_loss, model_grads = jax.value_and_grad(model_loss_fn)(state.model_params)
        updates, model_opt_state = adam_with_lr(hparams.bisim_model_lr).update(
            model_grads, state.model_opt_state)
        models = optax.apply_updates(state.model_params, updates)

        network = getattr(learner_state, field)
        network = {**network, "params": {**network["params"], "EncodeHistory_0": new_params}}
        learner_state = learner_state.replace(**{field: network})
        return state.replace(learner=learner_state, model_params=models,
                             model_opt_state=model_opt_state,
                             encoder_opt_state=encoder_opt_state), {
            **metrics, "bisim_loss": loss, "bisim_model_loss": model_loss}

    def act(state: BisimulationState, obs, key, deterministic: bool = True):
        return learner.act(state.learner, obs, key, deterministic)

    # Every update function gets the auxiliary step, the delayed ones too (Learner.delayed).
    return map_updates(learner, add_step, name=f"{learner.name}+bisim",
                       default_hparams=hparams_cls(**dataclasses.asdict(
                           learner.default_hparams)), init=init, act=act)
