"""DemoDICE (Kim, Seo, Lee, Jeong, Chang, Lee & Kim, "DemoDICE: Offline Imitation Learning
with Supplementary Imperfect Demonstrations", ICLR 2022): the DICE-family baseline of Dual RL's
offline imitation table. An imitation learner (``Learner.imitation``): each update gets an
expert batch (the demonstrations), a union batch (the whole offline mixture) and initial
observations of the union's episodes; rewards are never given.

As the authors' code (KAIST-AILab/imitation-dice ``demodice.py``, lines cited), per update, all
three losses at the same parameters, then one Adam step each (lines 47-117):
  cost c(s, a): a discriminator, expert = 1 vs union = 0, logistic loss (tfgan's
      minimax_discriminator_loss, line 72) + 0.1 * mean (||grad_x l(x)|| - 1)^2 at
      x = u e + (1 - u) o and x = u shuffle(o) + (1 - u) o, l = log(1 / (sigmoid(c) + 1e-3)
      - 1 + 1e-3) (lines 57-73)
  cost of a union pair: l(c(s, a)) (line 74); the reward is its negative.
  nu(s):  A = -sg(cost) + gamma nu(s') - nu(s)                              (line 82)
      L_nu = (1 + alpha) logsumexp_B(A / (1 + alpha)) + (1 - gamma) mean nu(s_0)
             + 1e-4 * mean ||grad_s nu||^2 at the union states and at interpolations of
             expert and union (next) states                                 (lines 84-110)
  pi: weighted BC on the union, w = exp((A - max A) / (1 + alpha)) / mean(...) (lines 90-93)
No terminal masking: the code bootstraps nu(s') at every transition (its absorbing-state
option is off by default, ``lfd_mujoco.py:123-137``).

Defaults (``config/lfd_default_config.py``): alpha 0 (so 1 + alpha = 1), gamma 0.99, lr 3e-4
for all three networks, batch 512, two 256-unit ReLU layers with He-normal kernels, the cost and
nu heads without bias, gradient-penalty coefficients (0.1, 1e-4). Policy: their ``TanhActor``
(``utils.py:25-102``): a Gaussian with state-dependent mean (clipped to [-7, 7]) and log std
(clipped to [-5, 2]), squashed by tanh; the data's actions are scored at atanh(clip(a, +-(1 -
eps))) with the log(1 - a^2 + eps) correction; the deterministic action is tanh(mean).
Observations are normalised by the data's mean and std (theirs: the imperfect part's).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr

EPS = float(jnp.finfo(jnp.float32).eps)  # demodice.py:9
EPS2 = 1e-3  # demodice.py:10
_HE = nn.initializers.he_normal()  # Keras 'he_normal': truncated normal, 2 / fan_in


class _MLP(nn.Module):
    hidden_sizes: tuple[int, ...]
    out: int
    out_bias: bool = True

    @nn.compact
    def __call__(self, x):
        for size in self.hidden_sizes:
            x = nn.relu(nn.Dense(size, kernel_init=_HE)(x))
        return nn.Dense(self.out, use_bias=self.out_bias, kernel_init=_HE)(x)


class TanhActor(nn.Module):
    """Returns (mean [..., A], log_std [..., A]) of the pre-tanh Gaussian (DemoDICE's)."""

    hidden_sizes: tuple[int, ...]
    action_dim: int

    @nn.compact
    def __call__(self, obs):
        x = obs
        for size in self.hidden_sizes:
            x = nn.relu(nn.Dense(size, kernel_init=_HE)(x))
        mean = jnp.clip(nn.Dense(self.action_dim, kernel_init=_HE)(x), -7.0, 7.0)
        log_std = jnp.clip(nn.Dense(self.action_dim, kernel_init=_HE)(x), -5.0, 2.0)
        return mean, log_std


def tanh_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Returns log pi(a|s) [B] of actions a in [-1, 1] under tanh(N(mean, std)), as
    DemoDICE's ``TanhActor.get_log_prob`` (utils.py:91-101)."""
    pre_tanh = jnp.arctanh(jnp.clip(action, -1.0 + EPS, 1.0 - EPS))
    log_prob = jnp.sum(jax.scipy.stats.norm.logpdf(pre_tanh, mean, jnp.exp(log_std)), axis=-1)
    return log_prob - jnp.sum(jnp.log(1.0 - jnp.square(action) + EPS), axis=-1)


def cost_of_logit(logit: jax.Array) -> jax.Array:
    """Returns log(1 / (sigmoid(c) + 1e-3) - 1 + 1e-3): the cost (minus the reward) of a pair
    with discriminator logit c (demodice.py:68, 74)."""
    return jnp.log(1.0 / (jax.nn.sigmoid(logit) + EPS2) - 1.0 + EPS2)


def discriminator_loss(expert_logit: jax.Array, union_logit: jax.Array) -> jax.Array:
    """Returns mean softplus(-c_E) + mean softplus(c_U): logistic loss, expert 1, union 0."""
    return jnp.mean(jax.nn.softplus(-expert_logit)) + jnp.mean(jax.nn.softplus(union_logit))


def nu_loss(adv: jax.Array, init_nu: jax.Array, gamma: jax.Array,
            regularization: jax.Array) -> jax.Array:
    """Returns (1 + alpha) logsumexp(A / (1 + alpha)) + (1 - gamma) mean nu(s_0);
    ``regularization`` is 1 + alpha."""
    return (regularization * jax.scipy.special.logsumexp(adv / regularization)
            + (1.0 - gamma) * jnp.mean(init_nu))


def bc_weights(adv: jax.Array, regularization: jax.Array) -> jax.Array:
    """Returns the normalised weights exp((A - max A) / (1 + alpha)) / mean(...) [B]."""
    weight = jnp.exp((adv - jnp.max(adv)) / regularization)
    return jax.lax.stop_gradient(weight / jnp.mean(weight))


@dataclasses.dataclass(frozen=True)
class DemoDICEConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)


@struct.dataclass
class DemoDICEHParams:
    alpha: float = 0.0
    gamma: float = 0.99
    critic_lr: float = 3e-4  # the cost's and nu's
    actor_lr: float = 3e-4
    cost_grad_penalty: float = 0.1  # grad_reg_coeffs[0]
    nu_grad_penalty: float = 1e-4  # grad_reg_coeffs[1]


@struct.dataclass
class DemoDICEState:
    cost_params: dict
    nu_params: dict
    actor_params: dict
    cost_opt_state: optax.OptState
    nu_opt_state: optax.OptState
    actor_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def make_demodice(config: DemoDICEConfig = DemoDICEConfig()) -> Learner:
    """Returns the DemoDICE imitation learner."""
    cost_net = _MLP(config.hidden_sizes, 1, out_bias=False)
    nu_net = _MLP(config.hidden_sizes, 1, out_bias=False)

    def actor(spec: DataSpec):
        return TanhActor(config.hidden_sizes, spec.action_dim)

    def init(key, spec: DataSpec, hp: DemoDICEHParams) -> DemoDICEState:
        if spec.discrete:
            raise ValueError("DemoDICE: expected continuous actions")
        cost_key, nu_key, actor_key = jax.random.split(key, 3)
        obs = jnp.zeros((1,) + spec.observation_shape)
        cost_params = cost_net.init(cost_key, jnp.zeros((1, obs.shape[1] + spec.action_dim)))
        nu_params = nu_net.init(nu_key, obs)
        actor_params = actor(spec).init(actor_key, obs)
        return DemoDICEState(cost_params, nu_params, actor_params,
                             adam_with_lr(hp.critic_lr).init(cost_params),
                             adam_with_lr(hp.critic_lr).init(nu_params),
                             adam_with_lr(hp.actor_lr).init(actor_params), spec, jnp.int32(0))

    def update(state: DemoDICEState, batch, key, hp: DemoDICEHParams):
        spec = state.spec
        mix_key, shuffle_key, nu_mix_key = jax.random.split(key, 3)
        e_obs = spec.normalize(batch.expert.observations)
        e_next = spec.normalize(batch.expert.next_observations)
        u_obs = spec.normalize(batch.offline.observations)
        u_next = spec.normalize(batch.offline.next_observations)
        init_obs = spec.normalize(batch.initial_observations)
        u_act = spec.to_unit(batch.offline.actions)
        e_in = jnp.concatenate([e_obs, spec.to_unit(batch.expert.actions)], axis=-1)
        u_in = jnp.concatenate([u_obs, u_act], axis=-1)
        size = e_in.shape[0]

        def cost_loss_fn(params):
            e_logit = cost_net.apply(params, e_in)[:, 0]
            u_logit = cost_net.apply(params, u_in)[:, 0]
            mix = jax.random.uniform(mix_key, (size, 1))
            shuffled = jax.random.permutation(shuffle_key, u_in)
            mixed = jnp.concatenate([mix * e_in + (1 - mix) * u_in,
                                     mix * shuffled + (1 - mix) * u_in])
            grads = jax.vmap(jax.grad(lambda x: cost_of_logit(cost_net.apply(params, x)[0])))(
                mixed) + EPS
            penalty = jnp.mean(jnp.square(jnp.linalg.norm(grads, axis=-1) - 1.0))
            return discriminator_loss(e_logit, u_logit) + hp.cost_grad_penalty * penalty, u_logit

        (c_loss, u_logit), cost_grads = jax.value_and_grad(cost_loss_fn, has_aux=True)(
            state.cost_params)
        union_cost = jax.lax.stop_gradient(cost_of_logit(u_logit))
        regularization = 1.0 + hp.alpha

        def nu_loss_fn(params):
            nu = lambda x: nu_net.apply(params, x)[:, 0]  # noqa: E731
            adv = -union_cost + hp.gamma * nu(u_next) - nu(u_obs)
            loss = nu_loss(adv, nu(init_obs), hp.gamma, regularization)
            mix = jax.random.uniform(nu_mix_key, (size, 1))
            inter = jnp.concatenate([u_obs, mix * e_obs + (1 - mix) * u_obs,
                                     mix * e_next + (1 - mix) * u_next])
            grads = jax.vmap(jax.grad(lambda x: nu_net.apply(params, x)[0]))(inter) + EPS
            penalty = jnp.mean(jnp.sum(jnp.square(grads), axis=-1))
            return loss + hp.nu_grad_penalty * penalty, adv

        (n_loss, adv), nu_grads = jax.value_and_grad(nu_loss_fn, has_aux=True)(state.nu_params)
        weights = bc_weights(adv, regularization)

        def actor_loss_fn(params):
            mean, log_std = actor(spec).apply(params, u_obs)
            return -jnp.mean(weights * tanh_log_prob(mean, log_std, u_act))

        a_loss, actor_grads = jax.value_and_grad(actor_loss_fn)(state.actor_params)

        def apply(params, grads, opt_state, lr):
            updates, opt_state = adam_with_lr(lr).update(grads, opt_state)
            return optax.apply_updates(params, updates), opt_state

        nu_params, nu_opt = apply(state.nu_params, nu_grads, state.nu_opt_state, hp.critic_lr)
        cost_params, cost_opt = apply(state.cost_params, cost_grads, state.cost_opt_state,
                                      hp.critic_lr)
        actor_params, actor_opt = apply(state.actor_params, actor_grads, state.actor_opt_state,
                                        hp.actor_lr)
        state = state.replace(cost_params=cost_params, nu_params=nu_params,
                              actor_params=actor_params, cost_opt_state=cost_opt,
                              nu_opt_state=nu_opt, actor_opt_state=actor_opt,
                              step=state.step + 1)
        return state, {"cost_loss": c_loss, "nu_loss": n_loss, "actor_loss": a_loss,
                       "union_adv": jnp.mean(adv), "weight_max": jnp.max(weights)}

    def act(state: DemoDICEState, obs, key, deterministic: bool = True):
        spec = state.spec
        mean, log_std = actor(spec).apply(state.actor_params, spec.normalize(obs))
        if not deterministic:
            mean = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
        return spec.to_env(jnp.tanh(mean))

    # Batch 512: config/lfd_default_config.py ``--batch_size``.
    return Learner("demodice", config, DemoDICEHParams(), init, update, act, batch_size=512,
                   imitation=True)
