"""Shared data for the learner tests (model-free and model-based): a Pendulum expert dataset
and a random one, generated once per test session (a SAC expert trained in JAX, ~20 s) and
cached on disk for the other pytest-xdist worker. Also one XLA compilation cache per test run
(``pytest_configure``)."""

import os
import pathlib
import shutil
import tempfile
import time

# The tests compile far more than they run (about two thirds of the fast tier's time is XLA's
# CPU compiler). LLVM at -O1 instead of XLA's default (3) cuts compile time by ~17% with no loss
# of run speed at the tests' sizes (bench/xla_opt_level.py; BUILD_NOTES "Session 10"); float
# semantics are unchanged (no fast-math either way: bitwise-equal results checked there).
# Set in the environment so the CLI subprocesses inherit it; a user's own setting wins.
_OPT_LEVEL = "--xla_backend_optimization_level=1"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_OPT_LEVEL}".strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest

from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
from jaxrl_suite.data import io
from jaxrl_suite.envs.registry import make_env
from jaxrl_suite.generate import recipes
from jaxrl_suite.generate.experts import ExpertConfig, random_return, train_online_expert
from tests.agents.learn_check import normalized_returns

NUM_TRANSITIONS = 10_000
_RUN_CACHE = "JAXRL_SUITE_TEST_XLA_CACHE"


def pytest_configure(config):
    """Points JAX's persistent compilation cache at one fresh folder per test run, shared by
    both pytest-xdist workers and the CLI subprocesses (through the environment): a program
    compiled once in the run (the same learner and shapes in another test, worker or
    subprocess) is loaded instead of compiled again. Nothing outlives the run, so a fresh
    clone's first ``make test`` pays every compile once, as any run does."""
    path = os.environ.get(_RUN_CACHE)
    if not path:  # the xdist controller, or a run without xdist: this run's folder
        path = tempfile.mkdtemp(prefix="jaxrl_suite_xla_")
        os.environ[_RUN_CACHE] = path
        config._jaxrl_suite_cache = path  # removed by pytest_unconfigure
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.1"
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


# Two tiers. `make test` (the fast tier, ~10 min on 2 cores) runs every test not marked `slow`:
# the unit tests, the NumPy references of every loss and target, the error paths, the engine's
# vmap/resume/NaN-isolation tests and the CLI. Marked `slow`, and run by `make test-all` and CI
# (.ci/run): the learns-tests at paper defaults (1-8 min each on the CPU: they train to a
# score), the suite builds (brax PPO, host SAC), the tiny studies, the demo, and the
# MJX-vs-gymnasium agreement runs (each compiles an MJX step, 30-40 s). BUILD_NOTES.md "Test
# tiers" has the measured durations of both.
#
# The longest test files, longest first (seconds per file in a full run; BUILD_NOTES "Test
# suite"). `make test` runs files whole on two workers (--dist loadfile) in collection order
# (--no-loadscope-reorder), so these start first and the short ones fill in around them.
LONGEST_FIRST = (
    "tests/agents/test_imitation_learns.py",
    "tests/model_based/test_neubay.py",
    "tests/agents/test_chunked_learns.py",
    "tests/model_based/test_model_helps.py",
    "tests/generate/test_locomotion_suite.py",
    "tests/agents/test_critic_sensitive_actor_critic.py",
    "tests/model_based/test_mopo.py",
    "tests/experiments/test_trajectory_weighting.py",
    "tests/agents/test_edac_multidim.py",
    "tests/test_train_locomotion.py",
    "tests/experiments/test_locomotion_learners.py",
    "tests/experiments/test_mujoco_benchmark.py",
    "tests/experiments/test_neubay.py",
    "tests/experiments/test_dual_rl.py",
    "tests/experiments/test_dataset_perspective.py",
    "tests/agents/test_cql_edac_rebrac.py",
    "tests/test_train.py",
    "tests/generate/test_brax_experts.py",
    "tests/sweep/test_mbrl_bo.py",
    "tests/sweep/test_runner.py",
    "tests/test_distributed.py",
    "tests/experiments/test_revisiting_mbrl.py",
    "tests/agents/test_critic_sensitive_value.py",
    "tests/envs/test_mujoco_walker2d.py",
    "tests/agents/discrete/test_bc_qrdqn_rem_bve.py",
    "tests/envs/test_mujoco_hopper.py",
    "tests/test_cli.py",
)


# The same for the fast tier (`-m "not slow"`), by its own per-file seconds (BUILD_NOTES
# "Session 10"). The first users of the two shared builds start first (the tiny suite: the
# trajectory-weighting refusal test; the Pendulum expert: MOPO), so that a later file that
# needs one finds it built instead of idling on its lock.
LONGEST_FIRST_FAST = (
    "tests/experiments/test_trajectory_weighting.py",
    "tests/model_based/test_mopo.py",
    "tests/model_based/test_neubay.py",
    "tests/experiments/test_dual_rl.py",
    "tests/model_based/test_neubay_bandit.py",
    "tests/test_cli.py",
    "tests/online/test_sac.py",
    "tests/agents/test_dqc.py",
    "tests/agents/test_qc.py",
    "tests/test_train.py",
    "tests/sweep/test_runner.py",
    "tests/online/test_dqn.py",
    "tests/model_based/test_dynamics.py",
    "tests/nets/test_inits.py",
    "tests/generate/test_recipes.py",
    "tests/agents/test_cql_edac_rebrac.py",
    "tests/envs/test_navix_env.py",
    "tests/agents/discrete/test_bc_qrdqn_rem_bve.py",
    "tests/report/test_selection.py",
    "tests/transforms/test_labels.py",
    "tests/transforms/test_history.py",
    "tests/generate/test_mujoco_suite.py",
    "tests/report/test_summary.py",
    "tests/model_based/test_neubay_ensemble.py",
)


def pytest_collection_modifyitems(config, items):
    """Runs the files of ``LONGEST_FIRST`` (``LONGEST_FIRST_FAST`` in the fast tier) first, in
    its order; the rest keep theirs."""
    fast = "not slow" in (config.getoption("markexpr", "") or "")
    rank = {name: i for i, name in enumerate(LONGEST_FIRST_FAST if fast else LONGEST_FIRST)}
    root = pathlib.Path(str(config.rootpath))

    def key(item):
        path = pathlib.Path(str(item.path)).relative_to(root).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: tests keep their order within a file


def pytest_unconfigure(config):
    path = getattr(config, "_jaxrl_suite_cache", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


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
    io.save_npz(recipes.replay_dataset(run, ref_min=ref_min), directory / "replay.npz")
    io.save_npz(random, directory / "random.npz")  # last: its presence marks the build done


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
def pendulum_replay(tmp_path_factory):
    """Returns every transition of the online SAC run behind ``pendulum_data`` (12k, mostly
    early exploration; same reference returns): data where BC is weak and a critic must help."""
    shared = build_once(tmp_path_factory, "pendulum_data", _build, "random.npz")
    return io.load(shared / "replay.npz")


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


@pytest.fixture(scope="session")
def mujoco_tiny_built(tmp_path_factory):
    """Returns (Minari root, generate's stdout) of the ``mujoco-tiny`` suite, built once per test
    session through the CLI (tests/generate/test_mujoco_suite.py checks the build; the tiny
    locomotion study trains on it)."""
    from tests.test_cli import run_cli

    def build(directory: pathlib.Path) -> None:
        rc, out, err = run_cli("generate", "--suite=mujoco-tiny",
                               f"--minari_root={directory / 'minari'}")
        assert rc == 0, err
        (directory / "generate.out").write_text(out)

    shared = build_once(tmp_path_factory, "mujoco_tiny", build, "generate.out")
    return shared / "minari", (shared / "generate.out").read_text()
