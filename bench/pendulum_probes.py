"""Probes behind BUILD_NOTES "Session 11": ReCOIL's unread constants (LayerNorm in V, the AWR
temperature) and QC against BC, on the test suite's Pendulum data (``tests/conftest.py::_build``:
a 12k-step SAC run, 10k expert and 10k random transitions, its replay), 3 seeds vmapped,
(64, 64), batch 256.

    .venv/bin/python bench/pendulum_probes.py recoil --updates=40000 --temperature=0.1
    .venv/bin/python bench/pendulum_probes.py recoil --updates=20000 --layer_norm=0 --demo=0
    .venv/bin/python bench/pendulum_probes.py qc --updates=2000 --horizon=5
    .venv/bin/python bench/pendulum_probes.py qc --updates=3000 --algos=qc,qc_fql,fql --bc=0

``recoil``: the mixture of the random data and ``--mixed`` expert episodes, the expert episode
``--demo`` as the demonstration (default 1: the data's second; the first starts upright);
prints the normalised score after each fifth of the run per seed, the final Q and V of the
offline and expert halves, and Q - V on the mixture's random and expert rows. ``qc``: BC and the
QC family (``--algos``) on the replay data, final normalised scores. Builds the data in ``--data`` (default
/tmp/pendulum_probe_data) on first use.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrl_suite.data import io  # noqa: E402
from jaxrl_suite.envs.registry import make_env  # noqa: E402
from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train  # noqa: E402
from tests.agents.learn_check import normalized_returns  # noqa: E402
from tests.conftest import _build  # noqa: E402


def _data(directory: pathlib.Path):
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "random.npz").exists():
        _build(directory)
    return (io.load(directory / "expert.npz"), io.load(directory / "random.npz"),
            io.load(directory / "replay.npz"))


def recoil(args, expert, random) -> None:
    from jaxrl_suite.agents.iql import _LayerNormValue
    from jaxrl_suite.agents.recoil import ReCOILConfig, ReCOILHParams, make_recoil
    from jaxrl_suite.data.imitation import imitation_mixture
    from jaxrl_suite.nets.networks import StateValue, TwinCritic

    order = [args.demo] + [i for i in range(expert.num_episodes) if i != args.demo]
    mix = imitation_mixture(random, expert.select_episodes(order), args.mixed, 1)
    width = (64, 64)
    learner = make_recoil(ReCOILConfig(width, value_layer_norm=bool(args.layer_norm)))
    hp = ReCOILHParams(temperature=args.temperature, actor_decay_steps=float(args.updates))
    config = TrainConfig(num_updates=args.updates, batch_size=256,
                         eval_every=args.updates // 5, eval_episodes=10)
    start = time.perf_counter()
    result = train(make_train(learner, make_env("Pendulum-v1"), config), mix,
                   jax.random.split(jax.random.PRNGKey(0), 3), stack_hparams([hp] * 3))
    lo, hi = mix.meta.ref_min_score, mix.meta.ref_max_score
    print(f"recoil layer_norm={args.layer_norm} temperature={args.temperature} "
          f"{time.perf_counter() - start:.0f} s; score per evaluation (rows: seeds):")
    print(np.round(100 * (result.eval_returns.mean(-1) - lo) / (hi - lo), 1))
    for name in ("q_offline", "q_expert", "v_offline", "v_expert"):
        print(name, np.round(result.update_metrics[name][:, -1], 1))
    state = jax.tree.map(lambda x: x[0], result.state.learner)
    spec = state.spec
    critic = TwinCritic(width, param_init="orthogonal")
    value = (_LayerNormValue(width, "orthogonal") if args.layer_norm
             else StateValue(width, param_init="orthogonal"))
    obs, act = spec.normalize(mix.observations), spec.to_unit(mix.actions)
    adv = np.asarray(jnp.min(critic.apply(state.target_critic_params, obs, act), 0)
                     - value.apply(state.value_params, obs))
    n = random.num_transitions
    print(f"seed 0, Q - V: random rows {adv[:n].mean():.1f} +- {adv[:n].std():.1f}, expert "
          f"rows {adv[n:].mean():.1f} +- {adv[n:].std():.1f}")


def qc(args, replay) -> None:
    import dataclasses

    from jaxrl_suite.agents import learner_parts
    from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc

    env = make_env("Pendulum-v1")
    cases = [("bc", make_bc(BCConfig((64, 64))), BCHParams())] if args.bc else []
    for algo in args.algos.split(","):
        factory, config_cls, hparams_cls = learner_parts(algo)
        config = config_cls(hidden_sizes=(64, 64))
        if config.horizon > 1:  # the chunked and n-step variants take --horizon
            config = dataclasses.replace(config, horizon=args.horizon)
        cases.append((algo, factory(config), hparams_cls(alpha=args.alpha)))
    for name, learner, hp in cases:
        start = time.perf_counter()
        scores = normalized_returns(learner, hp, env, replay, num_updates=args.updates)
        print(f"{name}: {np.round(scores, 1)} ({time.perf_counter() - start:.0f} s)",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["recoil", "qc"])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--layer_norm", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--mixed", type=int, default=10)
    parser.add_argument("--demo", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--algos", default="qc", help="qc: the QC family ids to run")
    parser.add_argument("--alpha", type=float, default=100.0, help="qc: distill-ddpg's alpha")
    parser.add_argument("--bc", type=int, default=1, help="qc: run BC too")
    parser.add_argument("--data", default="/tmp/pendulum_probe_data")
    args = parser.parse_args()
    expert, random, replay = _data(pathlib.Path(args.data))
    recoil(args, expert, random) if args.probe == "recoil" else qc(args, replay)


if __name__ == "__main__":
    main()
