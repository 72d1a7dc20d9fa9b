"""Online double DQN for discrete JaxEnvs: returns the expert, its metrics and its replay stream.

Every transition the learner sees is the *replay* dataset, and its final greedy policy the
*expert*, of "A Dataset Perspective on Offline RL" (Schweighofer et al., CoLLAs 2022). Settings
follow the authors' code (ml-jku/OfflineRL, ``source/train_online.py``, ``source/agents/dqn.py``,
``source/networks/critic.py``): one env, one update per env step once more than ``batch_size``
transitions are stored, batch 32, Adam lr 1e-4, Huber loss, double-DQN target, epsilon linear
1.0 -> 0.01 over the first 1,000 *updates*, hard target copy every 100 updates, a 50,000-slot
buffer, 100k steps, gamma 0.95 on CartPole and MiniGrid, 0.99 elsewhere, three 256-unit SELU layers.

One deviation from that code: it stores gym's ``done`` (time limit included) and so does not
bootstrap at truncation; here only ``terminated`` stops bootstrapping.

The whole run is two ``lax.scan``s (collection-only warm-up, then collect + update) inside one
traceable function ``train(key, hparams)``; ``jax.jit(jax.vmap(train, in_axes=(0, None)))``
runs many seeds in one program.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import PolicyFn
from jaxrl_suite.nets.networks import QNetwork
from jaxrl_suite.online.loop import check_loop_config, scan_env_steps, warmup_then_learn
from jaxrl_suite.online.replay import ReplayBuffer, replay_add, replay_init, replay_sample
from jaxrl_suite.envs.rollout import (
    EpisodeStats,
    RolloutState,
    Transition,
    init_rollout,
    step_envs,
)


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Static settings (fixed at trace time). Defaults: the Dataset Perspective code."""

    total_steps: int = 100_000
    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    # SELU as in the paper. With ReLU, a (64, 64) net at lr 1e-4 diverged on CartPole (Q ~ 1e3
    # against a maximum of 1 / (1 - 0.95) = 20), even on a fixed random-policy buffer.
    activation: str = "selu"
    batch_size: int = 32
    buffer_size: int = 50_000
    # train_online.py updates when iteration > batch_size, i.e. from the 34th step on.
    learning_starts: int = 33


@struct.dataclass
class DQNHParams:
    """Traced numeric hyperparameters: vmap over them to sweep without recompiling."""

    learning_rate: float = 1e-4
    gamma: float = 0.99
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_updates: float = 1_000.0
    target_update_period: int = 100


def dqn_hparams(env_name: str, **overrides: Any) -> DQNHParams:
    """Returns the paper's hyperparameters for ``env_name`` (gamma: ``paper_discount``, 0.95 on
    CartPole and MiniGrid)."""
    from jaxrl_suite.agents.discrete.common import paper_discount

    return DQNHParams(**{"gamma": paper_discount(env_name), **overrides})


@struct.dataclass
class DQNState:
    """params, target_params: Q-network parameters; opt_state: Adam state (holds the lr);
    buffer: replay buffer; rollout: the env carry (N = 1); num_updates: [] int32."""

    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    rollout: RolloutState
    num_updates: jax.Array


@struct.dataclass
class DQNMetrics:
    """Per env step, leading axis [total_steps]: episode stats (returns of episodes ending at
    each step), the epsilon used, and the TD loss and mean Q(s, a) of that step's update (0 in
    the warm-up, where no update runs)."""

    episode: EpisodeStats
    epsilon: jax.Array
    loss: jax.Array
    q_mean: jax.Array


class DQNOutput(NamedTuple):
    """state: final DQNState; metrics: DQNMetrics [T]; transitions: Transition [T], the replay
    stream, every transition the learner saw in order."""

    state: DQNState
    metrics: DQNMetrics
    transitions: Transition


class DQN(NamedTuple):
    """An online DQN bound to one env and config; built by ``make_dqn``.

    init(key, hparams) -> DQNState
    train(key, hparams=None) -> DQNOutput                 # hparams None: dqn_hparams(env name)
    train_steps(state, key, num_steps, hparams=None, learn=True)
        -> (state, metrics [num_steps], transitions [num_steps])   # chunked training
    q_values(params, obs [B, *obs_shape]) -> [B, num_actions]
    act(params, obs [B, *obs_shape], key, epsilon) -> actions [B] int32 (epsilon-greedy)
    greedy_policy(params, obs, key) -> actions            # the expert, a rollout policy_fn
    epsilon_greedy_policy(epsilon) -> policy_fn           # e.g. 0.2 for the "noisy" dataset
    """

    spec: EnvSpec
    config: DQNConfig
    default_hparams: DQNHParams
    init: Callable[..., DQNState]
    train: Callable[..., DQNOutput]
    train_steps: Callable[..., tuple]
    q_values: Callable[..., jax.Array]
    act: Callable[..., jax.Array]
    greedy_policy: PolicyFn
    epsilon_greedy_policy: Callable[[float], PolicyFn]


def double_q_td_error(q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector):
    """Returns the double-Q-learning TD error for one transition (van Hasselt et al., 2016).

    q_tm1, q_t_value, q_t_selector: [num_actions]; a_tm1: [] int; r_t, discount_t: [].
    """
    target = r_t + discount_t * q_t_value[jnp.argmax(q_t_selector)]
    return jax.lax.stop_gradient(target) - q_tm1[a_tm1]


def linear_epsilon(hparams: DQNHParams, num_updates: jax.Array) -> jax.Array:
    """Returns epsilon after ``num_updates`` updates: linear from start to end, then flat."""
    frac = jnp.minimum(num_updates / hparams.epsilon_decay_updates, 1.0)
    return hparams.epsilon_start + frac * (hparams.epsilon_end - hparams.epsilon_start)


def make_dqn(env: JaxEnv, config: DQNConfig = DQNConfig()) -> DQN:
    """Returns a DQN for the discrete env ``env``; raises ValueError on an unusable config."""
    spec = env.spec
    if not spec.discrete:
        raise ValueError(f"make_dqn: env '{spec.name}' has continuous actions; use make_sac")
    _check_config(config)
    network = QNetwork(config.hidden_sizes, spec.num_actions, config.activation)
    default_hparams = dqn_hparams(spec.name)

    def q_values(params, obs):
        return network.apply(params, obs)

    def act(params, obs, key, epsilon):
        # obs: [B, *obs_shape] -> actions [B]
        greedy = jnp.argmax(q_values(params, obs), axis=-1).astype(jnp.int32)
        explore_key, random_key = jax.random.split(key)
        random = jax.random.randint(random_key, greedy.shape, 0, spec.num_actions, jnp.int32)
        explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
        return jnp.where(explore, random, greedy)

    def greedy_policy(params, obs, key):
        return act(params, obs, key, 0.0)

    def epsilon_greedy_policy(epsilon: float) -> PolicyFn:
        return lambda params, obs, key: act(params, obs, key, epsilon)

    def optimizer(hparams):
        return optax.inject_hyperparams(optax.adam)(learning_rate=hparams.learning_rate)

    def init(key, hparams):
        net_key, env_key = jax.random.split(key)
        obs_example = jnp.zeros((1,) + spec.observation_shape, jnp.float32)
        params = network.init(net_key, obs_example)
        rollout = init_rollout(env, env_key, 1)
        example = Transition(
            obs=rollout.obs[0],
            action=jnp.int32(0),
            reward=jnp.float32(0.0),
            next_obs=rollout.obs[0],
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
        )
        return DQNState(
            params=params,
            target_params=params,
            opt_state=optimizer(hparams).init(params),
            buffer=replay_init(example, config.buffer_size),
            rollout=rollout,
            num_updates=jnp.int32(0),
        )

    def update(state, batch, hparams):
        # batch: Transition [B]
        def loss_fn(params):
            q_tm1 = q_values(params, batch.obs)
            q_t_value = q_values(state.target_params, batch.next_obs)
            q_t_selector = q_values(params, batch.next_obs)
            discount_t = hparams.gamma * (1.0 - batch.terminated.astype(jnp.float32))
            td = jax.vmap(double_q_td_error)(
                q_tm1, batch.action, batch.reward, discount_t, q_t_value, q_t_selector
            )
            q_taken = jnp.take_along_axis(q_tm1, batch.action[:, None], axis=-1)
            return jnp.mean(optax.huber_loss(td, delta=1.0)), jnp.mean(q_taken)

        (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = optimizer(hparams).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        num_updates = state.num_updates + 1
        copy = num_updates % hparams.target_update_period == 0
        target_params = jax.tree.map(
            lambda p, t: jnp.where(copy, p, t), params, state.target_params
        )
        state = state.replace(
            params=params, target_params=target_params, opt_state=opt_state,
            num_updates=num_updates,
        )
        return state, loss, q_mean

    def env_step(state, key, hparams, learn: bool):
        act_key, env_key, sample_key = jax.random.split(key, 3)
        epsilon = linear_epsilon(hparams, state.num_updates)
        actions = act(state.params, state.rollout.obs, act_key, epsilon)
        rollout, transition, stats = step_envs(env, state.rollout, actions, env_key)
        transition, stats = jax.tree.map(lambda x: x[0], (transition, stats))
        state = state.replace(rollout=rollout, buffer=replay_add(state.buffer, transition))
        if learn:
            batch = replay_sample(state.buffer, sample_key, config.batch_size)
            state, loss, q_mean = update(state, batch, hparams)
        else:
            loss = q_mean = jnp.float32(0.0)
        metrics = DQNMetrics(episode=stats, epsilon=epsilon, loss=loss, q_mean=q_mean)
        return state, (metrics, transition)

    def train_steps(state, key, num_steps: int, hparams=None, learn: bool = True):
        """Returns (state, metrics [num_steps], transitions [num_steps]) after num_steps env
        steps, each followed by an update if ``learn``. For chunked training with evaluation
        between chunks; ``train`` is init, a warm-up chunk and one learning chunk."""
        hparams = default_hparams if hparams is None else hparams
        return scan_env_steps(env_step, state, key, num_steps, hparams, learn)

    def train(key, hparams=None):
        hparams = default_hparams if hparams is None else hparams
        state, metrics, transitions = warmup_then_learn(
            init, env_step, key, hparams, config.learning_starts, config.total_steps)
        return DQNOutput(state=state, metrics=metrics, transitions=transitions)

    return DQN(
        spec=spec,
        config=config,
        default_hparams=default_hparams,
        init=init,
        train=train,
        train_steps=train_steps,
        q_values=q_values,
        act=act,
        greedy_policy=greedy_policy,
        epsilon_greedy_policy=epsilon_greedy_policy,
    )


def _check_config(config: DQNConfig) -> None:
    check_loop_config(config, ("batch_size", "buffer_size", "learning_starts"))
