"""SAC-N and EDAC (An et al., "Uncertainty-Based Offline Reinforcement Learning with
Diversified Q-Ensemble", NeurIPS 2021).

SAC with N critics (one ensemble call, a leading member axis) whose TD target takes the minimum
over the N target critics (SAC-N, Eq. 2). EDAC adds the ensemble-gradient diversity term
(Eq. 4): eta / (N - 1) * sum_{i != j} <g_i, g_j>, g_i = grad_a Q_i(s, a) / |grad_a Q_i(s, a)|
at the data's (s, a), which pushes the critics' action gradients apart; eta = 0 is SAC-N.
Defaults: N = 10, eta = 1.0 (the paper's halfcheetah setting; CORL's edac.py defaults), lr
3e-4 for actor, critics and temperature, gamma 0.99, tau 0.005, target entropy -|A|,
entropy in the backup, batch 256 (paper Appendix C / CORL's edac.py). Networks initialised as
the paper's code (``param_init="corl"``, nets/networks.py: hidden biases 0.1, critic outputs
U(+-3e-3), actor heads U(+-1e-3)) with the log-std clipped to [-5, 2] (CORL edac.py:241), so
the initial policy is a unit-std Gaussian around 0 as theirs; MOPO and MOBILE, which use this
SAC as their policy optimiser, keep flax's init and the tanh-squashed log-std
(``EDACConfig(param_init="flax", log_std_bound="tanh")``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak, sac_policy_step
from jaxrl_suite.nets.networks import (CriticEnsemble, TanhGaussianActor, check_init,
                                      sample_tanh_gaussian)


@dataclasses.dataclass(frozen=True)
class EDACConfig:
    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    num_critics: int = 10
    # False: skip the diversity term's per-example Jacobian entirely (SAC-N / plain SAC as a
    # policy optimiser, e.g. for model-based learners), rather than weighting it by eta = 0.
    diversity: bool = True
    param_init: str = "corl"  # nets/networks.py INITS
    log_std_bound: str = "clip"  # nets/networks.py TanhGaussianActor


@struct.dataclass
class EDACHParams:
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    eta: float = 1.0  # 0.0: SAC-N
    init_alpha: float = 1.0
    target_entropy_per_dim: float = -1.0


@struct.dataclass
class EDACState:
    actor_params: dict
    critic_params: dict
    target_critic_params: dict
    log_alpha: jax.Array
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def ensemble_diversity(action_grads):
    """Returns mean_B sum_{i != j} <g_i, g_j> / (N - 1) of unit-normalised action gradients.

    action_grads: [B, N, A], grad_a Q_i(s, a) for every member i (EDAC, Eq. 4).
    """
    # |g| + 1e-10 as CORL's edac.py; the norm's own gradient is taken as 0 at g = 0 (torch's),
    # where jnp.linalg.norm's is NaN: a ReLU critic's action gradient can be exactly 0, and
    # one such sample turned a whole seed's parameters into NaN.
    squared = jnp.sum(jnp.square(action_grads), axis=-1, keepdims=True)
    positive = squared > 0.0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)
    g = action_grads / (norm + 1e-10)
    products = jnp.einsum("bia,bja->bij", g, g)
    n = g.shape[1]
    off_diagonal = jnp.sum(products, axis=(1, 2)) - jnp.trace(products, axis1=1, axis2=2)
    return jnp.mean(off_diagonal) / (n - 1)


def make_edac(config: EDACConfig = EDACConfig()) -> Learner:
    """Returns the EDAC learner (SAC-N with hparams eta = 0)."""
    if config.num_critics < 2:
        raise ValueError(f"num_critics: expected >= 2, found {config.num_critics}")
    check_init(config.param_init)
    critic = CriticEnsemble(config.hidden_sizes, config.num_critics,
                            param_init=config.param_init)

    def actor(spec: DataSpec):
        return TanhGaussianActor(config.hidden_sizes, spec.action_dim,
                                 param_init=config.param_init,
                                 log_std_bound=config.log_std_bound)

    def optimizers(hparams: EDACHParams):
        return (adam_with_lr(hparams.actor_lr), adam_with_lr(hparams.critic_lr),
                adam_with_lr(hparams.alpha_lr))

    def init(key, spec: DataSpec, hparams: EDACHParams) -> EDACState:
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros((1,) + spec.observation_shape)
        actor_params = actor(spec).init(actor_key, obs)
        critic_params = critic.init(critic_key, obs, jnp.zeros((1, spec.action_dim)))
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        actor_opt, critic_opt, alpha_opt = optimizers(hparams)
        return EDACState(actor_params, critic_params, critic_params, log_alpha,
                         actor_opt.init(actor_params), critic_opt.init(critic_params),
                         alpha_opt.init(log_alpha), spec, jnp.int32(0))

    def update(state: EDACState, batch, key, hparams: EDACHParams):
        # batch: Batch [B]; the networks see [-1, 1] actions and raw observations.
        spec, pi = state.spec, actor(state.spec)
        obs, next_obs = batch.observations, batch.next_observations
        action = spec.to_unit(batch.actions)
        actor_opt, critic_opt, alpha_opt = optimizers(hparams)
        target_key, actor_key = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        # SAC-N target: min over all N target critics, with the entropy bonus.
        next_action, next_log_pi = sample_tanh_gaussian(
            *pi.apply(state.actor_params, next_obs), target_key)
        next_q = jnp.min(critic.apply(state.target_critic_params, next_obs, next_action), 0)
        target = jax.lax.stop_gradient(batch.rewards + hparams.gamma * (1.0 - batch.terminals)
                                       * (next_q - alpha * next_log_pi))

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [N, B]
            td = jnp.sum(jnp.mean(jnp.square(q - target[None]), axis=1))
            # Per-example Jacobian of the N members' Q w.r.t. the action: [B, N, A].
            members_q = lambda s, a: critic.apply(params, s[None], a[None])[:, 0]
            if config.diversity:
                grads = jax.vmap(jax.jacfwd(members_q, argnums=1))(obs, action)
                diversity = ensemble_diversity(grads)
            else:
                diversity = jnp.float32(0.0)
            return td + hparams.eta * diversity, (td, diversity, q)

        (critic_loss, (td_loss, diversity, q)), grads = jax.value_and_grad(
            critic_loss_fn, has_aux=True)(state.critic_params)
        updates, critic_opt_state = critic_opt.update(grads, state.critic_opt_state)
        critic_params = optax.apply_updates(state.critic_params, updates)

        # Actor: E[alpha log pi(a|s) - min_i Q_i(s, a)], then the temperature.
        policy = sac_policy_step(state, pi, critic, critic_params, obs, actor_key, alpha,
                                 hparams.target_entropy_per_dim * spec.action_dim, actor_opt, alpha_opt)
        actor_params, actor_opt_state = policy.actor_params, policy.actor_opt_state
        log_alpha, alpha_opt_state = policy.log_alpha, policy.alpha_opt_state
        actor_loss = policy.actor_loss

        state = state.replace(
            actor_params=actor_params, critic_params=critic_params,
            target_critic_params=polyak(state.target_critic_params, critic_params, hparams.tau),
            log_alpha=log_alpha, actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state, alpha_opt_state=alpha_opt_state,
            step=state.step + 1)
        return state, {"critic_loss": critic_loss, "td_loss": td_loss,
                       "diversity": diversity, "actor_loss": actor_loss, "alpha": alpha,
                       "q_mean": jnp.mean(q), "q_std": jnp.mean(jnp.std(q, axis=0))}

    def act(state: EDACState, obs, key, deterministic: bool = True):
        spec = state.spec
        mean, log_std = actor(spec).apply(state.actor_params, obs)
        if deterministic:
            return spec.to_env(jnp.tanh(mean))
        return spec.to_env(sample_tanh_gaussian(mean, log_std, key)[0])

    return Learner("edac", config, EDACHParams(), init, update, act)
