"""Shared data for the discrete learner tests: CartPole-v1 expert, replay and random datasets,
generated once per test session (an online double DQN trained in JAX) and cached on disk for
the other pytest-xdist worker."""

import pathlib

import jax
import pytest

from jaxrl_suite.data import io
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate import recipes
from jaxrl_suite.generate.experts import ExpertConfig, random_return, train_online_expert
from tests.conftest import build_once

NUM_TRANSITIONS = 10_000
ONLINE_STEPS = 20_000


def _build(directory: pathlib.Path) -> None:
    env = make_env("CartPole-v1")
    key = jax.random.PRNGKey(0)
    ref_min = random_return(env, key, 200)
    run = train_online_expert(env, key, ExpertConfig(
        total_steps=ONLINE_STEPS, chunk_steps=2_500, hidden_sizes=(64, 64), eval_episodes=5,
        final_eval_episodes=20))
    expert = recipes.expert_dataset(env, run, jax.random.PRNGKey(1), NUM_TRANSITIONS,
                                    ref_min=ref_min)
    replay = recipes.replay_dataset(run, ref_min=ref_min)
    random = recipes.random_dataset(env, jax.random.PRNGKey(2), NUM_TRANSITIONS, run=run,
                                    ref_min=ref_min)
    for name, ds in (("expert", expert), ("replay", replay), ("random", random)):
        io.save_npz(ds, directory / f"{name}.npz")


@pytest.fixture(scope="session")
def cartpole_data(tmp_path_factory):
    """Returns (env, {"expert", "replay", "random": Dataset}) for CartPole-v1; every dataset
    carries the random (ref_min) and expert (ref_max) returns: normalised 0 and 100."""
    shared = build_once(tmp_path_factory, "cartpole_data", _build, "random.npz")
    return make_env("CartPole-v1"), {name: io.load(shared / f"{name}.npz")
                                     for name in ("expert", "replay", "random")}
