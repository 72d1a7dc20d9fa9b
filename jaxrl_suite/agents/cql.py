"""CQL (Kumar et al., "Conservative Q-Learning for Offline Reinforcement Learning", 2020).

SAC with twin critics, a tanh-Gaussian actor and automatic entropy temperature, whose critic
loss adds the CQL(H) regulariser (Eq. 4), alpha * (log sum_a exp Q(s, a) - Q(s, a_data)). The
log-sum-exp is estimated by importance sampling (Appendix F): K uniform actions (density
0.5^A on [-1, 1]^A) and K actions of the current policy at s and at s', each weighted by its
log-density. The Lagrangian variant (Eq. 5) learns the weight alpha' >= 0 so that the gap
approaches ``target_action_gap``; ``lagrange`` is a traced 0/1 flag, so both variants vmap
in one program.

Defaults: actor lr 1e-4, critic lr 3e-4 (paper, Appendix F; CORL's cql.py uses 3e-5 / 3e-4);
cql_alpha 5.0 (paper for Gym locomotion, young-geng/JaxCQL's cql_min_q_weight; CORL uses
10.0); K = 10 sampled actions, temperature 1.0, target action gap 1.0, no entropy in the
backup (JaxCQL / CORL defaults); gamma 0.99, tau 0.005, target entropy -|A|, batch 256.
Networks start as JaxCQL's (``param_init="jaxcql"``: output layers variance_scaling(1e-2),
young-geng/JaxCQL model.py:46-80 at bac4299) and its policy's log std is JaxCQL's learned
affine map of the head, offset -1 (``log_std_bound="affine"``, model.py:100-134), so the
initial policy is a std-0.37 Gaussian around 0 and the initial Q near 0. ``param_init="flax"``
with ``log_std_bound="tanh"`` is what the suite ran before (session 16). Not included: CORL's
BC warm-start of the actor and max-Q backup.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.agents.base import DataSpec, Learner, adam_with_lr, polyak, sac_policy_step
from jaxrl_suite.nets.history import history_encoder
from jaxrl_suite.nets.networks import (TanhGaussianActor, TwinCritic, check_init,
                                       sample_tanh_gaussian)


@dataclasses.dataclass(frozen=True)
class CQLConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    num_sampled_actions: int = 10  # K per proposal (uniform, pi(.|s), pi(.|s'))
    history_encoder: str = "none"  # over history windows: "stack" | "gru" (nets/history.py)
    history_hidden: int = 128  # GRU units
    param_init: str = "jaxcql"  # nets/networks.py INITS
    log_std_bound: str = "affine"  # nets/networks.py TanhGaussianActor


@struct.dataclass
class CQLHParams:
    actor_lr: float = 1e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 1e-4  # entropy temperature (CORL: the actor's lr)
    cql_alpha_lr: float = 3e-4  # Lagrange multiplier alpha' (CORL: the critic's lr)
    gamma: float = 0.99
    tau: float = 0.005
    cql_alpha: float = 5.0
    temperature: float = 1.0  # of the log-sum-exp
    lagrange: float = 0.0  # 1.0: learn alpha' (Eq. 5)
    target_action_gap: float = 1.0
    backup_entropy: float = 0.0  # 1.0: subtract alpha * log pi in the target (SAC's backup)
    init_alpha: float = 1.0
    target_entropy_per_dim: float = -1.0


@struct.dataclass
class CQLState:
    actor_params: dict
    critic_params: dict
    target_critic_params: dict
    log_alpha: jax.Array
    log_cql_alpha: jax.Array  # log alpha' (Lagrangian variant)
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    cql_alpha_opt_state: optax.OptState
    spec: DataSpec
    step: jax.Array


def cql_gap(q_data, q_rand, q_curr, q_next, log_pi_curr, log_pi_next, temperature):
    """Returns mean_B [T log sum_{3K} exp(q_is / T) - Q(s, a_data)], one critic's CQL(H) gap.

    q_data: [B]; q_rand, q_curr, q_next, log_pi_curr, log_pi_next: [K, B]. q_rand must arrive
    already divided by the uniform density (minus log 0.5^A); the policy samples are divided by
    their own densities here.
    """
    q_is = jnp.concatenate([q_rand, q_curr - log_pi_curr, q_next - log_pi_next], axis=0)
    logsumexp = temperature * jax.scipy.special.logsumexp(q_is / temperature, axis=0)
    return jnp.mean(logsumexp - q_data)


def make_cql(config: CQLConfig = CQLConfig()) -> Learner:
    """Returns the CQL learner."""
    check_init(config.param_init)
    encoder = history_encoder(config.history_encoder, config.history_hidden)
    critic = TwinCritic(config.hidden_sizes, param_init=config.param_init, encoder=encoder)
    k = config.num_sampled_actions

    def actor(spec: DataSpec):
        return TanhGaussianActor(config.hidden_sizes, spec.action_dim,
                                 param_init=config.param_init,
                                 log_std_bound=config.log_std_bound, encoder=encoder)

    def optimizers(hparams: CQLHParams):
        return (adam_with_lr(hparams.actor_lr), adam_with_lr(hparams.critic_lr),
                adam_with_lr(hparams.alpha_lr), adam_with_lr(hparams.cql_alpha_lr))

    def init(key, spec: DataSpec, hparams: CQLHParams) -> CQLState:
        actor_key, critic_key = jax.random.split(key)
        obs = jnp.zeros((1,) + spec.observation_shape)
        actor_params = actor(spec).init(actor_key, obs)
        critic_params = critic.init(critic_key, obs, jnp.zeros((1, spec.action_dim)))
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        log_cql_alpha = jnp.float32(0.0)
        actor_opt, critic_opt, alpha_opt, cql_alpha_opt = optimizers(hparams)
        return CQLState(actor_params, critic_params, critic_params, log_alpha, log_cql_alpha,
                        actor_opt.init(actor_params), critic_opt.init(critic_params),
                        alpha_opt.init(log_alpha), cql_alpha_opt.init(log_cql_alpha), spec,
                        jnp.int32(0))

    def update(state: CQLState, batch, key, hparams: CQLHParams):
        # batch: Batch [B]; the networks see [-1, 1] actions and raw observations.
        spec, pi = state.spec, actor(state.spec)
        obs, next_obs, action = batch.observations, batch.next_observations, \
            spec.to_unit(batch.actions)
        b, a_dim = action.shape
        actor_opt, critic_opt, alpha_opt, cql_alpha_opt = optimizers(hparams)
        target_key, rand_key, curr_key, next_key, actor_key = jax.random.split(key, 5)
        alpha = jnp.exp(state.log_alpha)
        cql_alpha_prime = jnp.clip(jnp.exp(state.log_cql_alpha), 0.0, 1e6)

        # TD target: min of the target critics at a' ~ pi(.|s').
        next_action, next_log_pi = sample_tanh_gaussian(
            *pi.apply(state.actor_params, next_obs), target_key)
        next_q = jnp.min(critic.apply(state.target_critic_params, next_obs, next_action), 0)
        next_q = next_q - hparams.backup_entropy * alpha * next_log_pi
        target = jax.lax.stop_gradient(
            batch.rewards + hparams.gamma * (1.0 - batch.terminals) * next_q)

        # Proposals for the log-sum-exp, K per state: uniform, pi(.|s), pi(.|s'), all at s.
        # The policy's Gaussian at s and s' is computed once per state and drawn from K times
        # (the same draws as evaluating the actor on K copies of each state, at 1/K the cost).
        rand_action = jax.random.uniform(rand_key, (k, b, a_dim), minval=-1.0, maxval=1.0)
        k_copies = lambda x: jnp.broadcast_to(x, (k,) + x.shape)
        curr_action, curr_log_pi = sample_tanh_gaussian(
            *map(k_copies, pi.apply(state.actor_params, obs)), curr_key)
        next_k_action, next_k_log_pi = sample_tanh_gaussian(
            *map(k_copies, pi.apply(state.actor_params, next_obs)), next_key)
        log_uniform_density = -a_dim * jnp.log(2.0)
        proposals = jnp.concatenate([rand_action, curr_action, next_k_action], axis=0)
        obs_3k = jnp.broadcast_to(obs, (3 * k,) + obs.shape)

        def critic_loss_fn(params):
            q = critic.apply(params, obs, action)  # [2, B]
            # The three proposals' 3K actions at s in one critic call: [2, 3K, B].
            q_props = critic.apply(params, obs_3k, proposals)
            q_rand, q_curr, q_next = jnp.split(q_props, 3, axis=1)  # [2, K, B] each
            q_rand = q_rand - log_uniform_density
            gap = jax.vmap(cql_gap, in_axes=(0, 0, 0, 0, None, None, None))(
                q, q_rand, q_curr, q_next, jax.lax.stop_gradient(curr_log_pi),
                jax.lax.stop_gradient(next_k_log_pi), hparams.temperature)  # [2]
            weighted = jnp.where(hparams.lagrange > 0.5,
                                 cql_alpha_prime * hparams.cql_alpha
                                 * (gap - hparams.target_action_gap),
                                 hparams.cql_alpha * gap)
            td = jnp.sum(jnp.mean(jnp.square(q - target[None]), axis=1))
            return td + jnp.sum(weighted), (td, gap, q)

        (critic_loss, (td_loss, gap, q)), grads = jax.value_and_grad(
            critic_loss_fn, has_aux=True)(state.critic_params)
        updates, critic_opt_state = critic_opt.update(grads, state.critic_opt_state)
        critic_params = optax.apply_updates(state.critic_params, updates)

        # alpha' ascends on alpha' * (gap - target gap): the loss is its negative (Eq. 5).
        cql_alpha_grad = -jnp.mean(cql_alpha_prime * hparams.cql_alpha
                                   * (jax.lax.stop_gradient(gap) - hparams.target_action_gap))
        updates, cql_alpha_opt_state = cql_alpha_opt.update(cql_alpha_grad,
                                                            state.cql_alpha_opt_state)
        use_lagrange = hparams.lagrange > 0.5
        log_cql_alpha = jnp.where(use_lagrange, optax.apply_updates(state.log_cql_alpha, updates),
                                  state.log_cql_alpha)

        # Actor: SAC's E[alpha log pi(a|s) - min_i Q_i(s, a)], then the temperature.
        policy = sac_policy_step(state, pi, critic, critic_params, obs, actor_key, alpha,
                                 hparams.target_entropy_per_dim * a_dim, actor_opt, alpha_opt)
        actor_params, actor_opt_state = policy.actor_params, policy.actor_opt_state
        log_alpha, alpha_opt_state = policy.log_alpha, policy.alpha_opt_state
        actor_loss = policy.actor_loss

        state = state.replace(
            actor_params=actor_params, critic_params=critic_params,
            target_critic_params=polyak(state.target_critic_params, critic_params, hparams.tau),
            log_alpha=log_alpha, log_cql_alpha=log_cql_alpha, actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state, alpha_opt_state=alpha_opt_state,
            cql_alpha_opt_state=pick_where(use_lagrange, cql_alpha_opt_state,
                                           state.cql_alpha_opt_state),
            step=state.step + 1)
        return state, {"critic_loss": critic_loss, "td_loss": td_loss,
                       "cql_gap": jnp.mean(gap), "actor_loss": actor_loss, "alpha": alpha,
                       "cql_alpha": jnp.where(use_lagrange, cql_alpha_prime, 1.0)
                       * hparams.cql_alpha, "q_mean": jnp.mean(q)}

    def act(state: CQLState, obs, key, deterministic: bool = True):
        spec = state.spec
        mean, log_std = actor(spec).apply(state.actor_params, obs)
        if deterministic:
            return spec.to_env(jnp.tanh(mean))
        return spec.to_env(sample_tanh_gaussian(mean, log_std, key)[0])

    return Learner("cql", config, CQLHParams(), init, update, act)


def pick_where(condition, new, old):
    """Returns ``new`` where the traced ``condition`` holds, else ``old``, leaf by leaf."""
    return jax.tree.map(lambda n, o: jnp.where(condition, n, o), new, old)
