"""`train` on a Minari dataset recorded in gymnasium's HalfCheetah-v5 runs with no env flag, with
both evaluation backends (MJX in-jit, C MuJoCo on the host), and both score the same policy."""

import csv
import os

import gymnasium
import minari
import numpy as np
import pytest

from tests.test_cli import run_cli

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.slow]  # slow: the full tier (`make test-all`, CI)
SEEDS, EPISODES = 2, 6


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Returns (minari root, dataset id): 3 episodes of a random policy, recorded by
    minari.DataCollector in gymnasium's HalfCheetah-v5."""
    root = tmp_path_factory.mktemp("minari")
    env = minari.DataCollector(gymnasium.make("HalfCheetah-v5"))
    env.action_space.seed(0)
    for episode in range(3):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)  # where create_dataset writes
    try:
        env.create_dataset(dataset_id="test/halfcheetah-random-v0", algorithm_name="random")
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
    return root, "test/halfcheetah-random-v0"


def _final_returns(out):
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    last = max(int(r["step"]) for r in rows)
    return sorted(((int(r["seed"]), float(r["return_mean"]), float(r["return_std"]),
                    float(r["normalized_return"])) for r in rows if int(r["step"]) == last))


def test_both_eval_backends_train_and_score_the_same_policy_alike(recorded, tmp_path):
    root, dataset_id = recorded
    finals = {}
    for backend in ("host", "jax"):
        out = tmp_path / backend
        rc, stdout, err = run_cli(
            "train", "--algo=td3bc", f"--dataset={dataset_id}", f"--minari_root={root}",
            f"--out={out}", "--steps=200", "--eval_every=100", f"--num_seeds={SEEDS}",
            f"--eval_episodes={EPISODES}", f"--eval_backend={backend}", "--ref_min=-280",
            "--ref_max=12135", "--final_eval_episodes=0")
        assert rc == 0, err
        finals[backend] = _final_returns(out)
    for (seed, m_host, s_host, n_host), (_, m_jax, s_jax, n_jax) in zip(finals["host"],
                                                                       finals["jax"]):
        assert np.isfinite([m_host, m_jax, n_host, n_jax]).all()
        # Same updates in both runs (evaluation draws its own key), so the same policy; the
        # reset noise differs, so the returns agree within Monte-Carlo error.
        se = np.sqrt((s_host ** 2 + s_jax ** 2) / EPISODES)
        assert abs(m_host - m_jax) <= 4 * se + 0.02 * abs(m_host) + 1.0, (seed, m_host, m_jax)
