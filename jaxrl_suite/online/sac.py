"""Online SAC for continuous JaxEnvs: returns the expert, its metrics and its replay stream.

Soft Actor-Critic with twin critics, a tanh-Gaussian actor and automatic entropy temperature
(Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", 2018), with that paper's
defaults: Adam lr 3e-4 for actor, critics and temperature, batch 256, tau 0.005, gamma 0.99,
two 256-unit ReLU layers, target entropy -|A|, one update per env step after a warm-up of
uniform random actions (5,000 steps, as in CleanRL's sac_continuous_action.py).

The actor and critics work in [-1, 1] action units; the env, the replay stream and ``act`` use
the env's bounds. The whole run is two ``lax.scan``s (random warm-up, then collect + update)
inside one traceable ``train(key, hparams)``; ``jax.jit(jax.vmap(train, in_axes=(0, None)))``
runs many seeds in one program.

``make_sac(spec)`` (an EnvSpec, no JaxEnv) builds the same learner for a host-side env loop
(``generate.host_online``): ``init`` then holds no env carry, and ``learn_from(state,
transitions [K], key, hparams)`` adds K host transitions and runs K updates in one scan.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.envs.base import EnvSpec, JaxEnv
from jaxrl_suite.envs.evaluate import PolicyFn, random_policy
from jaxrl_suite.nets.networks import (
    TanhGaussianActor,
    TwinCritic,
    sample_tanh_gaussian,
)
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
class SACConfig:
    """Static settings (fixed at trace time). buffer_size None: keep every transition."""

    total_steps: int = 100_000
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    batch_size: int = 256
    buffer_size: int | None = None
    learning_starts: int = 5_000  # uniform random actions before the first update


@struct.dataclass
class SACHParams:
    """Traced numeric hyperparameters: vmap over them to sweep without recompiling."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    target_entropy_per_dim: float = -1.0  # target entropy = this * action_dim


@struct.dataclass
class SACState:
    """Network parameters, their Adam states, log temperature [], replay buffer, env carry
    (N = 1) and num_updates [] int32."""

    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt_state: Any
    critic_opt_state: Any
    alpha_opt_state: Any
    buffer: ReplayBuffer
    rollout: RolloutState
    num_updates: jax.Array


@struct.dataclass
class SACMetrics:
    """Per env step, leading axis [total_steps]: episode stats, and the losses, temperature and
    policy entropy estimate of that step's update (0 in the warm-up, where no update runs)."""

    episode: EpisodeStats
    critic_loss: jax.Array
    actor_loss: jax.Array
    alpha: jax.Array
    entropy: jax.Array


class SACOutput(NamedTuple):
    """state: final SACState; metrics: SACMetrics [T]; transitions: Transition [T], the replay
    stream, every transition the learner saw in order (actions in env units)."""

    state: SACState
    metrics: SACMetrics
    transitions: Transition


class SAC(NamedTuple):
    """An online SAC bound to one env and config; built by ``make_sac``.

    init(key, hparams) -> SACState
    train(key, hparams=None) -> SACOutput                 # hparams None: SACHParams()
    train_steps(state, key, num_steps, hparams=None, learn=True)
        -> (state, metrics [num_steps], transitions [num_steps])   # chunked training
    act(actor_params, obs [B, *obs_shape], key, deterministic) -> actions [B, A] in env units
    learn_from(state, transitions [K], key, hparams=None) -> (state, (critic_loss, actor_loss,
        alpha, entropy) [K]): K transitions added, then K updates (host-side env loops)
    deterministic_policy(actor_params, obs, key): tanh(mean), the expert (a rollout policy_fn)
    stochastic_policy(actor_params, obs, key): a sample of the tanh-Gaussian
    noisy_policy(noise_std) -> policy_fn: deterministic action plus Gaussian noise of std
        noise_std * (high - low) / 2, clipped to the bounds
    """

    spec: EnvSpec
    config: SACConfig
    default_hparams: SACHParams
    init: Callable[..., SACState]
    train: Callable[..., SACOutput]
    train_steps: Callable[..., tuple]
    learn_from: Callable[..., tuple]
    act: Callable[..., jax.Array]
    deterministic_policy: PolicyFn
    stochastic_policy: PolicyFn
    noisy_policy: Callable[[float], PolicyFn]


def make_sac(env: JaxEnv | EnvSpec, config: SACConfig = SACConfig()) -> SAC:
    """Returns a SAC for the continuous env ``env``; raises ValueError on an unusable config.

    Given an EnvSpec instead of a JaxEnv, the SAC is for a host-side env loop: ``init`` holds
    no env carry, ``learn_from`` trains on the host's transitions, and ``train`` /
    ``train_steps`` (which step a JaxEnv inside jit) raise ValueError."""
    host = isinstance(env, EnvSpec)
    spec = env if host else env.spec
    if spec.discrete:
        raise ValueError(f"make_sac: env '{spec.name}' has discrete actions; use make_dqn")
    _check_config(config)
    action_dim = spec.action_dim
    low = jnp.asarray(spec.action_low, jnp.float32)
    high = jnp.asarray(spec.action_high, jnp.float32)
    half_range = (high - low) / 2.0
    buffer_size = config.buffer_size or config.total_steps
    actor = TanhGaussianActor(config.hidden_sizes, action_dim, config.activation)
    critic = TwinCritic(config.hidden_sizes, config.activation)
    uniform_policy = random_policy(spec)

    def to_env_units(unit_action):
        return low + (unit_action + 1.0) * half_range

    def to_unit(env_action):
        return (env_action - low) / half_range - 1.0

    def act(actor_params, obs, key, deterministic: bool):
        # obs: [B, *obs_shape] -> actions [B, action_dim] in env units
        mean, log_std = actor.apply(actor_params, obs)
        if deterministic:
            return to_env_units(jnp.tanh(mean))
        unit_action, _ = sample_tanh_gaussian(mean, log_std, key)
        return to_env_units(unit_action)

    def deterministic_policy(actor_params, obs, key):
        return act(actor_params, obs, key, True)

    def stochastic_policy(actor_params, obs, key):
        return act(actor_params, obs, key, False)

    def noisy_policy(noise_std: float) -> PolicyFn:
        def policy_fn(actor_params, obs, key):
            action = act(actor_params, obs, key, True)
            noise = noise_std * half_range * jax.random.normal(key, action.shape, action.dtype)
            return jnp.clip(action + noise, low, high)

        return policy_fn

    def optimizers(hparams):
        adam = optax.inject_hyperparams(optax.adam)
        return (
            adam(learning_rate=hparams.actor_lr),
            adam(learning_rate=hparams.critic_lr),
            adam(learning_rate=hparams.alpha_lr),
        )

    def init(key, hparams):
        actor_key, critic_key, env_key = jax.random.split(key, 3)
        obs = jnp.zeros((1,) + spec.observation_shape, jnp.float32)
        action = jnp.zeros((1, action_dim), jnp.float32)
        actor_params = actor.init(actor_key, obs)
        critic_params = critic.init(critic_key, obs, action)
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        actor_opt, critic_opt, alpha_opt = optimizers(hparams)
        rollout = None if host else init_rollout(env, env_key, 1)
        example_obs = obs[0] if host else rollout.obs[0]
        example = Transition(
            obs=example_obs,
            action=jnp.zeros((action_dim,), jnp.float32),
            reward=jnp.float32(0.0),
            next_obs=example_obs,
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
        )
        return SACState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt_state=actor_opt.init(actor_params),
            critic_opt_state=critic_opt.init(critic_params),
            alpha_opt_state=alpha_opt.init(log_alpha),
            buffer=replay_init(example, buffer_size),
            rollout=rollout,
            num_updates=jnp.int32(0),
        )

    def critic_loss_fn(critic_params, state, batch, key, hparams):
        alpha = jnp.exp(state.log_alpha)
        mean, log_std = actor.apply(state.actor_params, batch.next_obs)
        next_action, next_log_prob = sample_tanh_gaussian(mean, log_std, key)
        q_next = jnp.min(critic.apply(state.target_critic_params, batch.next_obs, next_action), 0)
        discount = hparams.gamma * (1.0 - batch.terminated.astype(jnp.float32))
        target = batch.reward + discount * (q_next - alpha * next_log_prob)
        q = critic.apply(critic_params, batch.obs, to_unit(batch.action))  # [2, B]
        return 0.5 * jnp.mean(jnp.sum((q - jax.lax.stop_gradient(target)) ** 2, axis=0))

    def actor_loss_fn(actor_params, critic_params, log_alpha, batch, key):
        mean, log_std = actor.apply(actor_params, batch.obs)
        action, log_prob = sample_tanh_gaussian(mean, log_std, key)
        q = jnp.min(critic.apply(critic_params, batch.obs, action), 0)
        return jnp.mean(jnp.exp(log_alpha) * log_prob - q), log_prob

    def update(state, batch, key, hparams):
        # batch: Transition [B]
        critic_key, actor_key = jax.random.split(key)
        actor_opt, critic_opt, alpha_opt = optimizers(hparams)

        critic_loss, grads = jax.value_and_grad(critic_loss_fn)(
            state.critic_params, state, batch, critic_key, hparams
        )
        updates, critic_opt_state = critic_opt.update(
            grads, state.critic_opt_state, state.critic_params
        )
        critic_params = optax.apply_updates(state.critic_params, updates)

        (actor_loss, log_prob), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
            state.actor_params, critic_params, state.log_alpha, batch, actor_key
        )
        updates, actor_opt_state = actor_opt.update(
            grads, state.actor_opt_state, state.actor_params
        )
        actor_params = optax.apply_updates(state.actor_params, updates)

        target_entropy = hparams.target_entropy_per_dim * action_dim
        entropy_gap = jax.lax.stop_gradient(-jnp.mean(log_prob) - target_entropy)
        alpha_grad = entropy_gap  # d/d log_alpha of  log_alpha * (entropy - target)
        updates, alpha_opt_state = alpha_opt.update(
            alpha_grad, state.alpha_opt_state, state.log_alpha
        )
        log_alpha = optax.apply_updates(state.log_alpha, updates)

        target_critic_params = optax.incremental_update(
            critic_params, state.target_critic_params, hparams.tau
        )
        state = state.replace(
            actor_params=actor_params,
            critic_params=critic_params,
            target_critic_params=target_critic_params,
            log_alpha=log_alpha,
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
            alpha_opt_state=alpha_opt_state,
            num_updates=state.num_updates + 1,
        )
        metrics = (critic_loss, actor_loss, jnp.exp(state.log_alpha), -jnp.mean(log_prob))
        return state, metrics

    def sample_and_update(state, sample_key, update_key, hparams):
        batch = replay_sample(state.buffer, sample_key, config.batch_size)
        return update(state, batch, update_key, hparams)

    def env_step(state, key, hparams, learn: bool):
        act_key, env_key, sample_key, update_key = jax.random.split(key, 4)
        if learn:
            actions = stochastic_policy(state.actor_params, state.rollout.obs, act_key)
        else:
            actions = uniform_policy(None, state.rollout.obs, act_key)
        rollout, transition, stats = step_envs(env, state.rollout, actions, env_key)
        transition, stats = jax.tree.map(lambda x: x[0], (transition, stats))
        state = state.replace(rollout=rollout, buffer=replay_add(state.buffer, transition))
        if learn:
            state, (critic_loss, actor_loss, alpha, entropy) = sample_and_update(
                state, sample_key, update_key, hparams)
        else:
            critic_loss = actor_loss = entropy = jnp.float32(0.0)
            alpha = jnp.exp(state.log_alpha)
        metrics = SACMetrics(
            episode=stats, critic_loss=critic_loss, actor_loss=actor_loss, alpha=alpha,
            entropy=entropy,
        )
        return state, (metrics, transition)

    def learn_from(state, transitions, key, hparams=None, learn: bool = True):
        """Returns (state, metrics [K]) after adding ``transitions`` [K] (env units, from a
        host env loop) to the buffer and running K updates on it: one update per env step,
        run after the K steps that a policy fixed for the chunk collected. ``learn=False``
        only adds them (the warm-up); metrics are then None."""
        hparams = SACHParams() if hparams is None else hparams
        buffer = jax.lax.fori_loop(
            0, transitions.reward.shape[0],
            lambda i, b: replay_add(b, jax.tree.map(lambda x: x[i], transitions)),
            state.buffer)
        if not learn:
            return state.replace(buffer=buffer), None
        return jax.lax.scan(lambda s, k: sample_and_update(s, *jax.random.split(k), hparams),
                            state.replace(buffer=buffer),
                            jax.random.split(key, transitions.reward.shape[0]))

    def require_env(what: str):
        if host:
            raise ValueError(f"make_sac: {what} steps a JaxEnv; this SAC was built from the "
                             f"EnvSpec of '{spec.name}' for a host loop (use learn_from)")

    def train_steps(state, key, num_steps: int, hparams=None, learn: bool = True):
        """Returns (state, metrics [num_steps], transitions [num_steps]) after num_steps env
        steps, each followed by an update if ``learn``. For chunked training with evaluation
        between chunks; ``train`` is init, a warm-up chunk and one learning chunk."""
        require_env("train_steps")
        hparams = SACHParams() if hparams is None else hparams
        return scan_env_steps(env_step, state, key, num_steps, hparams, learn)

    def train(key, hparams=None):
        require_env("train")
        hparams = SACHParams() if hparams is None else hparams
        state, metrics, transitions = warmup_then_learn(
            init, env_step, key, hparams, config.learning_starts, config.total_steps)
        return SACOutput(state=state, metrics=metrics, transitions=transitions)

    return SAC(
        spec=spec,
        config=config,
        default_hparams=SACHParams(),
        init=init,
        train=train,
        train_steps=train_steps,
        learn_from=learn_from,
        act=act,
        deterministic_policy=deterministic_policy,
        stochastic_policy=stochastic_policy,
        noisy_policy=noisy_policy,
    )


def _check_config(config: SACConfig) -> None:
    check_loop_config(config, ("batch_size", "learning_starts"))
    if config.buffer_size is not None and config.buffer_size < 1:
        raise ValueError(f"buffer_size: expected >= 1 or None, found {config.buffer_size}")
