"""IQL (Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning",
ICLR 2022), and the in-sample value-learning skeleton that XQL and f-DVL share with it.

Per update (the authors' ``learner.py::_update_jit`` order):
  V:  L_V = E[ L(Q_target(s, a) - V(s)) ]            L = expectile loss L_2^tau (Eq. 5) for IQL
  pi: L_pi = -E[ min(exp(beta (Q_target(s, a) - V(s))), 100) log pi(a|s) ]       (AWR, Eq. 7)
  Q:  L_Q = E[ (r + gamma (1 - d) V(s') - Q_i(s, a))^2 ], i = 1, 2               (Eq. 6)
  Q_target <- polyak(Q_target, Q, tau);   Q_target(s, a) = min of the twin target critics.
Variants pass their own value loss L to ``make_value_learner`` (compose, not copy).

Defaults: ikostrikov/implicit_q_learning ``configs/mujoco_config.py`` (expectile 0.7,
temperature 3.0, lr 3e-4 for actor/critic/value, discount 0.99, tau 0.005, 256x256) and
``actor.py`` (exp-advantage clipped at 100). Policy as theirs (``NormalTanhPolicy`` with
``state_dependent_std=False, tanh_squash_distribution=False``): Gaussian with mean tanh(MLP(s))
and a learned state-independent log-std (init 0, clipped to [-5, 2]); every layer initialised
as their ``common.py`` (orthogonal, scale sqrt(2), zero biases: ``param_init="orthogonal"``).
Their locomotion reward scaling, 1000 / (max return - min return) on HalfCheetah, Hopper and
Walker2d data, is the config's ``reward_transform="iql_locomotion"`` (transforms/rewards.py).
Not reproduced: the actor's cosine learning-rate decay (a constant lr here, so the lr stays a
traced hyperparameter).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak
from jaxrl_suite.agents.losses import awr_actor_loss, expectile_loss  # noqa: F401 (re-export)
from jaxrl_suite.nets.history import EncodeHistory, HistoryEncoder, history_encoder
from jaxrl_suite.nets.networks import MLP, StateValue, TwinCritic, check_init, dense
from jaxrl_suite.transforms.rewards import check_reward_transform


@dataclasses.dataclass(frozen=True)
class IQLConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    value_layer_norm: bool = False  # XQL / DVL put LayerNorm in V (their mujoco configs)
    param_init: str = "orthogonal"  # common.py:15-16 (nets/networks.py INITS)
    reward_transform: str = "iql_locomotion"  # train_offline.py:35-74 (transforms/rewards.py)
    history_encoder: str = "none"  # over history windows: "stack" | "gru" (nets/history.py)
    history_hidden: int = 128  # GRU units


@struct.dataclass
class AWRHParams:
    """Hyperparameters shared by IQL, XQL and f-DVL (IQL's mujoco defaults)."""

    temperature: float = 3.0  # beta of the AWR extraction
    exp_adv_max: float = 100.0
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005


@struct.dataclass
class IQLHParams(AWRHParams):
    expectile: float = 0.7


@struct.dataclass
class ValueLearningState:
    actor_params: dict
    critic_params: dict
    target_critic_params: dict
    value_params: dict
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    value_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


class GaussianPolicy(nn.Module):
    """Returns (mean [..., A], log_std [A]): a Gaussian with a state-independent learned log-std.

    ``tanh_mean`` squashes the mean into (-1, 1) (IQL); log_std is clipped to [min, max].
    """

    hidden_sizes: Sequence[int]
    action_dim: int
    tanh_mean: bool = True
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        obs = EncodeHistory(self.encoder)(obs)
        x = MLP(self.hidden_sizes, param_init=self.param_init)(obs)
        mean = dense(self.action_dim, self.param_init, "policy")(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        mean = jnp.tanh(mean) if self.tanh_mean else mean
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Returns log N(action; mean, exp(log_std)^2 I) summed over the action axis: [B]."""
    return jnp.sum(jax.scipy.stats.norm.logpdf(action, mean, jnp.exp(log_std)), axis=-1)


def gaussian_act(policy: GaussianPolicy, state, obs, key, deterministic: bool) -> jax.Array:
    """Returns env-unit actions of a GaussianPolicy: its mean, or a sample clipped to [-1, 1]."""
    spec = state.spec
    mean, log_std = policy.apply(state.actor_params, spec.normalize(obs))
    if not deterministic:
        mean = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return spec.to_env(jnp.clip(mean, -1.0, 1.0))


class _LayerNormValue(nn.Module):
    """Returns V(s) [...] from Dense -> LayerNorm -> ReLU layers (XQL's ``ValueCritic``)."""

    hidden_sizes: Sequence[int]
    param_init: str = "flax"
    encoder: HistoryEncoder = HistoryEncoder()

    @nn.compact
    def __call__(self, obs):
        x = EncodeHistory(self.encoder)(obs)
        for size in self.hidden_sizes:
            x = nn.relu(nn.LayerNorm()(dense(size, self.param_init)(x)))
        return dense(1, self.param_init, "value")(x)[..., 0]


def init_value_learning(key, spec: DataSpec, hparams, actor, critic, value
                        ) -> ValueLearningState:
    """Returns the initial state of an actor / twin critic / V learner (IQL's structure; also
    ReCOIL's): the target critic starts as the critic, one Adam state per network."""
    actor_key, critic_key, value_key = jax.random.split(key, 3)
    obs = jnp.zeros((1,) + spec.observation_shape)
    actor_params = actor.init(actor_key, obs)
    critic_params = critic.init(critic_key, obs, jnp.zeros((1, spec.action_dim)))
    value_params = value.init(value_key, obs)
    return ValueLearningState(
        actor_params, critic_params, critic_params, value_params,
        adam_with_lr(hparams.actor_lr).init(actor_params),
        adam_with_lr(hparams.critic_lr).init(critic_params),
        adam_with_lr(hparams.value_lr).init(value_params), spec, jnp.int32(0))


def advance(state: ValueLearningState, tau: jax.Array, actor_params, critic_params,
            value_params, actor_opt, critic_opt, value_opt) -> ValueLearningState:
    """Returns ``state`` after one update: the new networks and optimiser states, the target
    critic moved by polyak(tau), the step counted."""
    return state.replace(
        actor_params=actor_params, critic_params=critic_params, value_params=value_params,
        target_critic_params=polyak(state.target_critic_params, critic_params, tau),
        actor_opt_state=actor_opt, critic_opt_state=critic_opt, value_opt_state=value_opt,
        step=state.step + 1)


ValueLoss = Callable[[jax.Array, AWRHParams], jax.Array]  # (Q - V [B], hparams) -> [B]


def make_value_learner(name: str, config: IQLConfig, default_hparams: AWRHParams,
                       value_loss: ValueLoss, batch_size: int = 256) -> Learner:
    """Returns the IQL-structured learner whose V is fitted by ``value_loss`` (Q - V [B])."""
    check_init(config.param_init)
    check_reward_transform(config.reward_transform)
    encoder = history_encoder(config.history_encoder, config.history_hidden)
    critic = TwinCritic(config.hidden_sizes, param_init=config.param_init, encoder=encoder)
    value = (_LayerNormValue(config.hidden_sizes, config.param_init, encoder)
             if config.value_layer_norm else
             StateValue(config.hidden_sizes, param_init=config.param_init, encoder=encoder))

    def actor(spec: DataSpec):
        return GaussianPolicy(config.hidden_sizes, spec.action_dim, tanh_mean=True,
                              param_init=config.param_init, encoder=encoder)

    def init(key, spec: DataSpec, hparams) -> ValueLearningState:
        return init_value_learning(key, spec, hparams, actor(spec), critic, value)

    def step(params, opt_state, loss_fn, lr):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = adam_with_lr(lr).update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss, aux

    def update(state: ValueLearningState, batch, key, hparams):
        del key
        spec = state.spec
        obs, next_obs = spec.normalize(batch.observations), spec.normalize(batch.next_observations)
        action = spec.to_unit(batch.actions)
        q_target = jnp.min(critic.apply(state.target_critic_params, obs, action), axis=0)  # [B]

        def value_loss_fn(params):
            v = value.apply(params, obs)
            return jnp.mean(value_loss(q_target - v, hparams)), v

        value_params, value_opt, v_loss, v = step(
            state.value_params, state.value_opt_state, value_loss_fn, hparams.value_lr)

        advantage = q_target - value.apply(value_params, obs)

        def actor_loss_fn(params):
            mean, log_std = actor(spec).apply(params, obs)
            log_prob = gaussian_log_prob(mean, log_std, action)
            return awr_actor_loss(log_prob, advantage, hparams.temperature,
                                  hparams.exp_adv_max), None

        actor_params, actor_opt, actor_loss, _ = step(
            state.actor_params, state.actor_opt_state, actor_loss_fn, hparams.actor_lr)

        target = batch.rewards + hparams.gamma * (1.0 - batch.terminals) * value.apply(
            value_params, next_obs)

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [2, B]
            return jnp.mean(jnp.sum(jnp.square(q - target[None]), axis=0)), q

        critic_params, critic_opt, critic_loss, q = step(
            state.critic_params, state.critic_opt_state, critic_loss_fn, hparams.critic_lr)

        state = advance(state, hparams.tau, actor_params, critic_params, value_params,
                        actor_opt, critic_opt, value_opt)
        return state, {"value_loss": v_loss, "actor_loss": actor_loss,
                       "critic_loss": critic_loss, "q_mean": jnp.mean(q), "v_mean": jnp.mean(v),
                       "advantage_mean": jnp.mean(advantage)}

    def act(state: ValueLearningState, obs, key, deterministic: bool = True):
        return gaussian_act(actor(state.spec), state, obs, key, deterministic)

    return Learner(name, config, default_hparams, init, update, act, batch_size=batch_size,
                   reward_transform=config.reward_transform)


def make_iql(config: IQLConfig = IQLConfig()) -> Learner:
    """Returns the IQL learner (expectile value loss)."""
    return make_value_learner("iql", config, IQLHParams(),
                              lambda diff, hp: expectile_loss(diff, hp.expectile))
