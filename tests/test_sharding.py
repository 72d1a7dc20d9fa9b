"""The cell axis shards over devices: 4 fake CPU devices give the results of one device."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, jax, numpy as np
    from jaxrl_suite.agents.bc import BCConfig, BCHParams, make_bc
    from jaxrl_suite.data import DatasetMeta, from_arrays
    from jaxrl_suite.envs.registry import make_env
    from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train
    rng = np.random.default_rng(0)
    n = 400
    timeouts = np.zeros(n, bool); timeouts[199::200] = True
    ds = from_arrays(rng.normal(size=(n, 3)), rng.uniform(-2, 2, (n, 1)), rng.normal(size=n),
                     np.zeros(n, bool), timeouts, rng.normal(size=(n, 3)),
                     meta=DatasetMeta(action_low=(-2.0,), action_high=(2.0,)))
    trainer = make_train(make_bc(BCConfig((16,))), make_env("Pendulum-v1"),
                         TrainConfig(num_updates=40, batch_size=16, eval_every=20,
                                     eval_episodes=1))
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(8))
    hp = stack_hparams([BCHParams(learning_rate=lr) for lr in [1e-3, 3e-4] * 4])
    sharded = train(trainer, ds, keys, hp)
    single = train(trainer, ds, keys, hp, shard=False)
    leaf = jax.tree.leaves(sharded.state.learner.actor_params)[0]
    print(json.dumps(dict(
        devices=len(jax.devices()),
        shard_devices=len(leaf.sharding.device_set),
        max_diff=max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(
            jax.tree.leaves(sharded.state.learner), jax.tree.leaves(single.state.learner))),
        returns_equal=bool(np.allclose(sharded.eval_returns, single.eval_returns, rtol=1e-4,
                                       atol=1e-3)))))
""")


def test_cell_axis_shards_over_four_cpu_devices():
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["devices"] == 4 and facts["shard_devices"] == 4
    assert facts["max_diff"] < 1e-5 and facts["returns_equal"], facts
