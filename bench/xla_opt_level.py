"""What LLVM's optimisation level costs and saves in the test suite (tests/conftest.py sets
``--xla_backend_optimization_level=1`` for every test run). In one run, on the same test files
(default: three compile-heavy fast-tier files), alternating the arms:

- per arm, the summed wall and XLA compile seconds of the files' tests (``compile_profile``);
- whether a 2,000-step Adam scan of a tanh/exp MLP gives bitwise-equal parameters and losses
  under XLA's default level and under level 1.

    .venv/bin/python bench/xla_opt_level.py [--repeats 2] [--levels default,1,0] [files...]

Each arm runs in its own pytest process with a fresh compilation cache (the conftest makes one
per run), so nothing compiled by one arm is loaded by the other.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
FILES = ("tests/online/test_sac.py", "tests/model_based/test_mopo.py", "tests/test_train.py")

SCAN = r"""
import sys
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in (64, 64):
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(3)(x)

model, x = MLP(), jax.random.normal(jax.random.PRNGKey(0), (256, 17))
y = jax.random.normal(jax.random.PRNGKey(1), (256, 3))
params = model.init(jax.random.PRNGKey(2), x)
opt = optax.adam(1e-3)

def loss(p):
    out = model.apply(p, x)
    return jnp.mean((jnp.tanh(out) - y) ** 2 + jnp.exp(-out ** 2))

@jax.jit
def run(p):
    def step(carry, _):
        p, s = carry
        value, grad = jax.value_and_grad(loss)(p)
        updates, s = opt.update(grad, s)
        return (optax.apply_updates(p, updates), s), value
    return jax.lax.scan(step, (p, opt.init(p)), None, 2000)

(p, _), losses = run(params)
np.save(sys.argv[1], np.concatenate([np.ravel(a) for a in jax.tree.leaves(p)] + [losses]))
"""


def _env(level: str) -> dict:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_backend_optimization_level")]
    # conftest adds level 1 when no level is set: "default" must say XLA's own default
    # explicitly, read from the flag's documented default (xla/debug_options_flags.cc: 3).
    flags.append(f"--xla_backend_optimization_level={3 if level == 'default' else level}")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def profile(level: str, files: list[str]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "prof.jsonl"
        env = dict(_env(level), COMPILE_PROFILE_OUT=str(out),
                   PYTHONPATH=f"{ROOT / 'bench'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "compile_profile",
                               "-m", "not slow", *files], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    return (sum(r["wall"] for r in rows), sum(r["compile"] for r in rows),
            sum(r["compiles"] for r in rows))


def scan_result(level: str, tmp: pathlib.Path):
    import numpy as np

    path = tmp / f"{level}.npy"
    subprocess.run([sys.executable, "-c", SCAN, str(path)], env=_env(level), check=True)
    return np.load(path)


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*", default=list(FILES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--levels", default="default,1")
    args = parser.parse_args()
    levels = args.levels.split(",")
    print("| level | repeat | test wall s | XLA compile s | compiles |\n|---|---|---|---|---|")
    for repeat in range(args.repeats):
        for level in levels:
            wall, compile_s, count = profile(level, args.files)
            print(f"| {level} | {repeat} | {wall:.1f} | {compile_s:.1f} | {count} |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = {level: scan_result(level, pathlib.Path(tmp)) for level in levels}
    base = results[levels[0]]
    for level in levels[1:]:
        print(f"scan under level {level} vs {levels[0]}: bitwise equal "
              f"{bool(np.array_equal(base, results[level]))}, max abs difference "
              f"{float(np.abs(base - results[level]).max()):.3g}")


if __name__ == "__main__":
    main()
