"""Shared data for the learner tests (model-free and model-based): a Pendulum expert dataset
and a random one, generated once per test session (a SAC expert trained in JAX, ~20 s) and
cached on disk for the other pytest-xdist worker."""

import os
import pathlib
import time

import jax
import pytest

from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
from jaxrl_suite.data import io
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate import recipes
from jaxrl_suite.generate.experts import ExpertConfig, random_return, train_online_expert
from tests.agents.learn_check import normalized_returns

NUM_TRANSITIONS = 10_000


def _build(directory: pathlib.Path) -> None:
    env = make_env("Pendulum-v1")
    key = jax.random.PRNGKey(0)
    ref_min = random_return(env, key, 200)
    run = train_online_expert(env, key, ExpertConfig(
        total_steps=12_000, chunk_steps=2_000, hidden_sizes=(64, 64), eval_episodes=5,
        final_eval_episodes=20, learning_starts=1_000))
    expert = recipes.expert_dataset(env, run, jax.random.PRNGKey(1), NUM_TRANSITIONS,
                                    ref_min=ref_min)
    random = recipes.random_dataset(env, jax.random.PRNGKey(2), NUM_TRANSITIONS, run=run,
                                    ref_min=ref_min)
    io.save_npz(expert, directory / "expert.npz")
    io.save_npz(random, directory / "random.npz")


def build_once(tmp_path_factory, name: str, build, done_file: str) -> pathlib.Path:
    """Returns the folder where ``build(folder)`` has written ``done_file`` (last), building it
    once per test session even under pytest-xdist: each worker's basetemp sits in one
    per-session folder, so the workers share it and wait on a lock file; without xdist, this
    session's own basetemp (never a stale cache)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(exist_ok=True)
    lock, done = shared / "lock", shared / done_file
    while not done.exists():
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            time.sleep(1.0)  # the other worker is building it
            continue
        os.close(fd)
        try:
            if not done.exists():
                build(shared)
        finally:
            lock.unlink()
    return shared


@pytest.fixture(scope="session")
def pendulum_data(tmp_path_factory):
    """Returns (env, expert Dataset, random Dataset) for Pendulum-v1; both datasets carry the
    random (ref_min) and expert (ref_max) returns, so normalised scores are 0 and 100 there."""
    shared = build_once(tmp_path_factory, "pendulum_data", _build, "random.npz")
    return make_env("Pendulum-v1"), io.load(shared / "expert.npz"), io.load(shared / "random.npz")


@pytest.fixture(scope="session")
def bc_on_random(pendulum_data):
    """Returns [3] normalised scores of BC trained on the random Pendulum data: the floor every
    continuous learner must clear by a margin."""
    env, _, random = pendulum_data
    return normalized_returns(make_bc(BCConfig((64, 64))), BCHParams(), env, random)


@pytest.fixture(scope="session")
def tiny_suite_root(tmp_path_factory):
    """Returns a Minari root holding the built "tiny" suite, built once per test session (the
    experiment and sweep tests share it)."""
    from jaxrl_suite.generate.suite import build_suite

    def build(directory: pathlib.Path) -> None:
        build_suite("tiny", directory / "minari", log=lambda _: None)
        (directory / "built").touch()

    return build_once(tmp_path_factory, "tiny_suite", build, "built") / "minari"
