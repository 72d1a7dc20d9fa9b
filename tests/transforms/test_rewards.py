"""IQL's locomotion reward scaling (transforms/rewards.py) against a NumPy statement of
ikostrikov/implicit_q_learning train_offline.py:35-74 on random episodes; which envs it touches;
its clear error; and that ``train`` hands the learner the transformed rewards."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.agents.base import Learner
from jaxrl_suite.agents.fdvl import make_fdvl
from jaxrl_suite.agents.iql import make_iql
from jaxrl_suite.agents.xql import make_xql
from jaxrl_suite.data.dataset import DatasetMeta, from_arrays
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.errors import DatasetError
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train
from jaxrl_suite.transforms.rewards import reward_scale, transform_rewards


def _dataset(env_id, lengths=(5, 9, 3, 7), seed=0, obs_dim=3, act_dim=1):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    timeouts = np.zeros(n, bool)
    timeouts[np.cumsum(lengths) - 1] = True
    return from_arrays(
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        rng.normal(size=n).astype(np.float32) * 3.0, np.zeros(n, bool), timeouts,
        rng.normal(size=(n, obs_dim)).astype(np.float32),
        meta=DatasetMeta(env_id=env_id, observation_shape=(obs_dim,), action_dim=act_dim,
                         action_low=(-1.0,) * act_dim, action_high=(1.0,) * act_dim),
        source=f"{env_id}.npz")


def ref_iql_normalize(rewards, lengths):
    """train_offline.py:35-52: sort the trajectories by return, divide by the spread, x1000."""
    returns, start = [], 0
    for length in lengths:
        returns.append(sum(float(r) for r in rewards[start:start + length]))
        start += length
    returns.sort()
    return [float(r) / (returns[-1] - returns[0]) * 1000.0 for r in rewards]


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5",
                                    "hopper-medium-replay-v2"])
def test_locomotion_rewards_match_the_reference(env_id):
    ds = _dataset(env_id)
    got = np.asarray(transform_rewards("iql_locomotion", ds).rewards)
    np.testing.assert_allclose(got, ref_iql_normalize(np.asarray(ds.rewards), (5, 9, 3, 7)),
                               rtol=1e-5)
    np.testing.assert_array_equal(transform_rewards("none", ds).rewards, ds.rewards)


@pytest.mark.parametrize("env_id", ["Ant-v5", "Pendulum-v1", None])
def test_other_envs_keep_their_rewards_as_the_reference_does(env_id):
    ds = _dataset(env_id)
    assert reward_scale("iql_locomotion", ds) == 1.0
    assert transform_rewards("iql_locomotion", ds) is ds


def test_equal_returns_are_a_clear_error_and_unknown_names_are_refused():
    ds = _dataset("Hopper-v5", lengths=(4, 4))
    ds = ds.replace(rewards=jnp.ones_like(ds.rewards))
    with pytest.raises(DatasetError, match=r"Hopper-v5.npz: field 'rewards': expected episodes "
                                           r"whose returns differ"):
        transform_rewards("iql_locomotion", ds)
    with pytest.raises(ValueError, match="reward_transform: expected one of"):
        transform_rewards("scale", ds)


def test_value_learners_name_the_reference_transform():
    for learner in (make_iql(), make_xql(), make_fdvl()):
        assert learner.reward_transform == "iql_locomotion"
        assert learner.config.param_init == "orthogonal"


def test_train_hands_the_learner_the_transformed_rewards():
    """A probe learner reports the mean reward of each minibatch it sees: on a dataset whose
    env id names Hopper it is the scaled one (shapes are Pendulum's, so its env evaluates)."""
    def init(key, spec, hparams):
        return {"w": jnp.zeros(()), "spec": spec}

    def update(state, batch, key, hparams):
        return state, {"reward_sum": jnp.sum(batch.rewards), "reward_count":
                       jnp.float32(batch.rewards.shape[0])}

    def act(state, obs, key, deterministic=True):
        return jnp.zeros(obs.shape[:-1] + (1,))

    ds = _dataset("Hopper-v5", lengths=(40, 60, 25, 35))
    scale = reward_scale("iql_locomotion", ds)
    assert scale != 1.0
    runs = {}
    for transform in ("none", "iql_locomotion"):
        probe = Learner("probe", None, jnp.zeros(()), init, update, act,
                        reward_transform=transform)
        config = TrainConfig(num_updates=20, batch_size=160, eval_every=20, eval_episodes=1)
        trainer = make_train(probe, make_env("Pendulum-v1"), config)
        result = train(trainer, ds, jax.random.PRNGKey(0)[None], stack_hparams([jnp.zeros(())]))
        runs[transform] = np.asarray(result.update_metrics["reward_sum"]).sum()
    np.testing.assert_allclose(runs["iql_locomotion"], scale * runs["none"], rtol=1e-4)
