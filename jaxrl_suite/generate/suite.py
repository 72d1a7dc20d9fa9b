"""Named dataset suites built from JAX envs into a local Minari root, cached.

``build_suite("default", root)`` trains one online expert per env, measures the reference
returns (uniform random policy: ``ref_min_score``; the expert: ``ref_max_score``), generates
the five Dataset Perspective recipes and, for one continuous env, Hong et al.'s mixed-quality
datasets, and saves each as a Minari dataset ``jaxrl_suite/<suite>/<env>/<name>-v0``. A
manifest beside them records the build (budgets, reference returns, timings); an env whose
datasets are all present and were built with the same settings is not built again.

The ``mujoco*`` suites build gymnasium's MuJoCo v5 robots with D4RL's recipes. On a CPU their
online SAC runs on the host in C MuJoCo (``generate.host_online``) with a checkpoint after
every evaluation beside the manifest, so a killed build resumes mid-run; on an accelerator it
runs in-jit on the MJX port. A bar per env shows the online run's progress on a terminal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import shutil
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np
import tqdm

from jaxrl_suite.data import io
from jaxrl_suite.data.dataset import Dataset, concatenate
from jaxrl_suite.envs.base import JaxEnv
from jaxrl_suite.envs.host_eval import HostEvaluator
from jaxrl_suite.envs.registry import host_twin, make_env, resolve_eval_backend
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.generate import recipes as recipe_lib
from jaxrl_suite.generate.collect import collect, meta_for
from jaxrl_suite.generate.experts import ExpertConfig, random_return, train_online_expert
from jaxrl_suite.generate.host_online import train_host_sac

NAMESPACE = "jaxrl_suite"


@dataclasses.dataclass(frozen=True)
class EnvBudget:
    """One env of a suite: its online run and the size of each recipe dataset (the online
    run's step count when None, as in the paper)."""

    env: str
    online: ExpertConfig
    num_transitions: int | None = None
    random_episodes: int = 1_000  # episodes averaged for the random reference return
    # brax envs: the episode limit, and the brax agent's ``train`` keywords for the expert
    # (``generate.brax_experts.train_brax_expert``); ``online`` then sizes the replay SAC run.
    episode_length: int | None = None
    brax_expert: tuple[tuple[str, Any], ...] | None = None

    @property
    def size(self) -> int:
        return self.num_transitions or self.online.total_steps


@dataclasses.dataclass(frozen=True)
class SuiteSpec:
    """A named set of datasets: envs x recipes, plus mixed-quality sets for some envs."""

    name: str
    envs: tuple[EnvBudget, ...]
    recipes: tuple[str, ...] = recipe_lib.RECIPES
    mixed_quality_envs: tuple[str, ...] = ()
    sigmas: tuple[float, ...] = recipe_lib.MIXED_SIGMAS
    seed: int = 0
    # Hong et al.'s high-return sources (datasets of this suite) mixed with its random data
    mixed_high_sources: tuple[str, ...] = ("expert",)
    # how the medium/expert recipes act: "deterministic" (Schweighofer et al.: the greedy
    # policy) or "stochastic" (D4RL: actions sampled from the SAC policy)
    expert_sampling: str = "deterministic"

    def __post_init__(self):
        if self.expert_sampling not in ("deterministic", "stochastic"):
            raise SuiteError(f"suite '{self.name}': field 'expert_sampling': expected "
                             f"'deterministic' or 'stochastic', found '{self.expert_sampling}'")
        unknown = sorted(set(self.mixed_high_sources) - {"expert", "medium"})
        if unknown:
            raise SuiteError(f"suite '{self.name}': field 'mixed_high_sources': expected "
                             f"entries of ('expert', 'medium'), found {unknown}")

    def fingerprint(self, budget: EnvBudget) -> str:
        """Returns a short hash of everything that determines one env's datasets."""
        facts = dict(budget=dataclasses.asdict(budget), recipes=self.recipes, seed=self.seed,
                     sigmas=self.sigmas if budget.env in self.mixed_quality_envs else None)
        if self.mixed_high_sources != ("expert",) or self.expert_sampling != "deterministic":
            facts.update(mixed_high_sources=self.mixed_high_sources,
                         expert_sampling=self.expert_sampling)
        if budget.online.update_every != 1:
            facts["budget"]["online"]["update_every"] = budget.online.update_every
        else:
            facts["budget"]["online"].pop("update_every")
        if budget.online.buffer_size is None:  # fields added later: absent at their default,
            facts["budget"]["online"].pop("buffer_size")  # so earlier builds stay cached
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


_MUJOCO_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
_MUJOCO_RECIPES = recipe_lib.D4RL_RECIPES + ("noisy", "replay")
_DQN_NET = (256, 256, 256)  # Schweighofer et al.: three 256-unit SELU layers
_SAC_NET = (256, 256)
# "A Dataset Perspective on Offline RL"'s six envs (ml-jku/OfflineRL (8cc8eec) ex_01.py-ex_06.py),
# with Acrobot (not in the paper) kept as an extra env.
PERSPECTIVE_ENVS = ("CartPole-v1", "MountainCar-v0", "MiniGrid-LavaGapS7-v0",
                    "MiniGrid-Dynamic-Obstacles-8x8-v0", "Breakout-MinAtar",
                    "SpaceInvaders-MinAtar", "Acrobot-v1")
_MINATAR = ("Breakout-MinAtar", "SpaceInvaders-MinAtar")


def _perspective_budget(env: str, steps: int, minatar_steps: int, buffer: int | None,
                        minatar_buffer: int | None) -> EnvBudget:
    minatar = env in _MINATAR
    total = minatar_steps if minatar else steps
    return EnvBudget(env, ExpertConfig(total, max(total // 20, 1_000), _DQN_NET,
                                       buffer_size=minatar_buffer if minatar else buffer),
                     random_episodes=1_000)


SUITES: dict[str, SuiteSpec] = {
    # CPU-sized: the paper's recipes at half its 100k online steps for the discrete envs.
    "default": SuiteSpec(
        name="default",
        envs=(
            EnvBudget("CartPole-v1", ExpertConfig(50_000, 2_500, _DQN_NET)),
            EnvBudget("Acrobot-v1", ExpertConfig(50_000, 2_500, _DQN_NET)),
            EnvBudget("Pendulum-v1", ExpertConfig(20_000, 1_000, _SAC_NET)),
            EnvBudget("MountainCarContinuous-v0", ExpertConfig(20_000, 2_000, _SAC_NET)),
        ),
        mixed_quality_envs=("Pendulum-v1",),
    ),
    # GPU-sized: brax's published agents for the experts (PPO halfcheetah, SAC hopper/walker2d,
    # at brax's budgets), our SAC for 1M steps for the replay stream; 1M-transition datasets.
    "locomotion": SuiteSpec(
        name="locomotion",
        envs=tuple(
            EnvBudget(env, ExpertConfig(1_000_000, 10_000, _SAC_NET, eval_episodes=10),
                      random_episodes=100, episode_length=1000, brax_expert=())
            for env in ("hopper", "halfcheetah", "walker2d")),
        mixed_quality_envs=("halfcheetah",),
    ),
    # The locomotion code path at toy size (brax MJX compiles slowly on a CPU).
    "locomotion-tiny": SuiteSpec(
        name="locomotion-tiny",
        envs=(EnvBudget(
            "hopper", ExpertConfig(300, 100, (16,), eval_episodes=2, final_eval_episodes=2,
                                   learning_starts=100),
            random_episodes=4, episode_length=20,
            brax_expert=(("algorithm", "ppo"), ("num_timesteps", 800), ("num_envs", 8),
                         ("batch_size", 8), ("num_minibatches", 2), ("unroll_length", 5),
                         ("num_updates_per_batch", 1), ("num_evals", 1),
                         ("num_eval_envs", 8))),),
        recipes=("random", "expert", "replay"),
    ),
    # gymnasium's MuJoCo v5 robots with D4RL's recipes (``recipes.D4RL_RECIPES``) plus the
    # Dataset Perspective's noisy and replay, and Hong et al.'s mixed sets from the random data
    # and the expert or medium data. SAC (two 256-unit layers, ``online.sac``) trains the
    # expert: in-jit on MJX on an accelerator, on the host in C MuJoCo on a CPU.
    # D4RL's budgets: 1M-step online run, 1M-transition datasets.
    "mujoco": SuiteSpec(
        name="mujoco",
        envs=tuple(EnvBudget(env, ExpertConfig(1_000_000, 10_000, _SAC_NET, eval_episodes=10),
                             random_episodes=100) for env in _MUJOCO_ENVS),
        recipes=_MUJOCO_RECIPES, mixed_quality_envs=_MUJOCO_ENVS,
        mixed_high_sources=("expert", "medium"), expert_sampling="stochastic",
    ),
    # The same recipes sized for a 2-core CPU (<= 45 minutes in all; BUILD_NOTES "mujoco-small"):
    # SAC with two 128-unit layers (narrower than the paper's 256 so that more env steps fit),
    # online runs of 150k (HalfCheetah) and 200k (Hopper, Walker2d: at 100k Hopper's SAC was
    # still at ~500-900) steps, each batch of 10 updates after 10 host env steps;
    # 100k-transition datasets.
    "mujoco-small": SuiteSpec(
        name="mujoco-small",
        envs=tuple(EnvBudget(env, ExpertConfig(steps, 5_000, (128, 128), eval_episodes=5,
                                               final_eval_episodes=20, update_every=10),
                             num_transitions=100_000, random_episodes=100)
                   for env, steps in zip(_MUJOCO_ENVS, (150_000, 200_000, 200_000))),
        recipes=_MUJOCO_RECIPES, mixed_quality_envs=_MUJOCO_ENVS,
        mixed_high_sources=("expert", "medium"), expert_sampling="stochastic",
    ),
    # The mujoco code path in seconds (for tests): Hopper with 50-step episodes.
    "mujoco-tiny": SuiteSpec(
        name="mujoco-tiny",
        envs=(EnvBudget("Hopper-v5", ExpertConfig(
            600, 200, (16,), eval_episodes=2, final_eval_episodes=2, learning_starts=200,
            update_every=10), random_episodes=4, episode_length=50, num_transitions=300),),
        recipes=_MUJOCO_RECIPES, mixed_quality_envs=("Hopper-v5",), sigmas=(0.1, 0.5),
        mixed_high_sources=("expert", "medium"), expert_sampling="stochastic",
    ),
    # The Dataset Perspective's envs at its budgets (ex_0*.py: online DQN for 100k steps with a
    # 50k buffer; MinAtar 2M steps with a 500k buffer; each recipe as many transitions as the
    # online run): GPU-sized for MinAtar.
    "perspective-paper": SuiteSpec(
        name="perspective-paper",
        envs=tuple(_perspective_budget(e, 100_000, 2_000_000, None, 500_000)
                   for e in PERSPECTIVE_ENVS)),
    # The same recipes sized for a 2-core CPU: 50k online steps (half the paper's, as the
    # default suite) and MinAtar at 200k (a tenth of the paper's 2M, with the paper's 50k buffer
    # of the small envs).
    "perspective": SuiteSpec(
        name="perspective",
        envs=tuple(_perspective_budget(e, 50_000, 200_000, None, None)
                   for e in PERSPECTIVE_ENVS)),
    # The perspective code path at toy size (for tests): CartPole and a MinAtar env. (MiniGrid
    # is left out: in 1,500 steps DQN never reaches a goal, so its expert ties the random
    # policy at 0 and the datasets have no reference range; BUILD_NOTES.)
    "perspective-tiny": SuiteSpec(
        name="perspective-tiny",
        envs=tuple(EnvBudget(e, ExpertConfig(3_000 if e == "CartPole-v1" else 1_500, 500,
                                             (32, 32), eval_episodes=4, final_eval_episodes=8),
                             random_episodes=32)
                   for e in ("CartPole-v1", "Breakout-MinAtar"))),
    # For tests: tiny budgets, the same code path.
    "tiny": SuiteSpec(
        name="tiny",
        envs=(
            EnvBudget("CartPole-v1", ExpertConfig(3_000, 1_000, (32, 32), eval_episodes=4,
                                                  final_eval_episodes=8), random_episodes=32),
            EnvBudget("Pendulum-v1", ExpertConfig(1_500, 500, (32, 32), eval_episodes=2,
                                                  final_eval_episodes=4, learning_starts=500),
                      random_episodes=16),
        ),
        mixed_quality_envs=("Pendulum-v1",),
    ),
}


def env_slug(env_name: str) -> str:
    """Returns the lower-case env name without version, e.g. "CartPole-v1" -> "cartpole"."""
    base = env_name.split("/")[-1].rsplit("-v", 1)[0]
    return base.lower().replace("-", "_")


def dataset_id(suite: str, env_name: str, name: str) -> str:
    """Returns the Minari id of one suite dataset, e.g. jaxrl_suite/default/cartpole/replay-v0."""
    return f"{NAMESPACE}/{suite}/{env_slug(env_name)}/{name}-v0"


def mixed_quality_name(sigma: float, high_source: str = "expert") -> str:
    """Returns the dataset name for a high-return share sigma, e.g. 0.05 -> "mixed-sigma5pct"
    (expert data as the high-return source) or "mixed-medium-sigma5pct" (medium data)."""
    pct = 100 * sigma
    source = "" if high_source == "expert" else f"{high_source}-"
    return f"mixed-{source}sigma{pct:g}pct".replace(".", "p")


def check_suite_envs(spec: SuiteSpec, envs: Sequence[str] | None) -> None:
    """Refuses env names that are not in the suite, listing its envs."""
    names = [b.env for b in spec.envs]
    unknown = sorted(set(envs or ()) - set(names))
    if unknown:
        raise SuiteError(f"suite '{spec.name}': envs {unknown} are not in it; expected some of "
                         f"{names}")


def suite_dataset_ids(spec: SuiteSpec, envs: Sequence[str] | None = None
                      ) -> dict[str, list[str]]:
    """Returns the Minari ids a suite builds, per env (only ``envs``' when given)."""
    check_suite_envs(spec, envs)
    out = {}
    for budget in spec.envs:
        if envs is not None and budget.env not in envs:
            continue
        names = list(spec.recipes)
        if budget.env in spec.mixed_quality_envs:
            names += [mixed_quality_name(s, h) for h in spec.mixed_high_sources
                      for s in spec.sigmas]
        out[budget.env] = [dataset_id(spec.name, budget.env, n) for n in names]
    return out


def get_suite(name: str) -> SuiteSpec:
    if name not in SUITES:
        raise SuiteError(f"generate: flag '--suite': expected one of {sorted(SUITES)}, "
                         f"found '{name}'")
    return SUITES[name]


def _manifest_path(root: pathlib.Path, suite: str) -> pathlib.Path:
    return root / NAMESPACE / suite / "manifest.json"


def read_manifest(root: Any, suite: str) -> dict[str, Any]:
    """Returns the suite's manifest (per-env build facts), or {} if none was written."""
    path = _manifest_path(io.minari_root(root), suite)
    return json.loads(path.read_text()) if path.exists() else {}


def _is_cached(spec: SuiteSpec, budget: EnvBudget, root: pathlib.Path, manifest: dict) -> bool:
    entry = manifest.get(budget.env)
    if not entry or entry.get("fingerprint") != spec.fingerprint(budget):
        return False
    return all((root / i).is_dir() for i in suite_dataset_ids(spec)[budget.env])


def make_generation_env(budget: EnvBudget) -> Any:
    """Returns what a suite env is generated in: its JaxEnv, or for a MuJoCo env on a CPU a
    ``HostEvaluator`` of its gymnasium twin (C MuJoCo; ``envs.registry.resolve_eval_backend``)
    whose spec carries the bare id, so the datasets name the env ``train`` resolves."""
    if resolve_eval_backend(budget.env) == "host":
        kwargs = {} if budget.episode_length is None else dict(
            max_episode_steps=budget.episode_length)
        evaluator = HostEvaluator(host_twin(budget.env), **kwargs)
        evaluator.spec = evaluator.spec.replace(name=budget.env)
        return evaluator
    env_kwargs = {} if budget.episode_length is None else dict(episode_length=budget.episode_length)
    return make_env(budget.env, **env_kwargs)


def _progress_bar(budget: EnvBudget, log: Callable[[str], None]):
    """Returns progress(step, eval_return) that logs each evaluation and moves a bar (on a
    terminal) over the env's online steps, and the bar."""
    bar = tqdm.tqdm(total=budget.online.total_steps, desc=f"{budget.env} online", unit="step",
                    unit_scale=True, disable=None, leave=False)

    def progress(step: int, ret: float) -> None:
        bar.update(step - bar.n)
        bar.set_postfix(eval_return=f"{ret:.1f}")
        log(f"[{budget.env}] step {step:>9,}: eval return {ret:9.2f}")

    return progress, bar


def build_env_datasets(spec: SuiteSpec, budget: EnvBudget, key: jax.Array,
                       log: Callable[[str], None] = print,
                       checkpoint: pathlib.Path | None = None) -> tuple[dict[str, Dataset], dict]:
    """Returns ({name: Dataset}, build facts) for one env of a suite (nothing is saved).
    ``checkpoint``: a file the host-side online run resumes from and saves to."""
    env = make_generation_env(budget)
    ref_key, online_key, data_key = jax.random.split(key, 3)
    start = time.perf_counter()
    ref_min = random_return(env, ref_key, budget.random_episodes)
    log(f"[{budget.env}] random policy mean return {ref_min:.2f} "
        f"({budget.random_episodes} episodes)")
    progress, bar = _progress_bar(budget, log)
    if isinstance(env, JaxEnv):
        run = train_online_expert(env, online_key, budget.online, progress=progress)
    else:
        run = train_host_sac(env, online_key, budget.online, progress=progress,
                             checkpoint=checkpoint)
    bar.close()
    if budget.brax_expert is not None:
        run = _with_brax_expert(env, budget, run, jax.random.fold_in(online_key, 1), progress)
    log(f"[{budget.env}] expert: return {run.expert_return:.2f} on "
        f"{budget.online.final_eval_episodes} fresh episodes (best evaluation "
        f"{run.best_eval_return:.2f}); online training {run.train_seconds:.1f} s")
    n = budget.size
    keys = dict(zip(("random", "expert", "noisy", "mixed"), jax.random.split(data_key, 4)))
    keys["medium"] = jax.random.fold_in(data_key, 4)
    meta = lambda recipe, **info: recipe_lib.with_refs(
        meta_for(env.spec, recipe=recipe, **info), run, ref_min)
    acting = run.stochastic_policy if spec.expert_sampling == "stochastic" else run.expert_policy
    medium = (recipe_lib.medium_snapshot(run)
              if any(r.startswith("medium") for r in spec.recipes) else None)
    if spec.expert_sampling == "stochastic":
        expert_maker = lambda: collect(
            env, acting, run.expert_params, keys["expert"], n,
            meta=meta("expert", sampling="stochastic",
                      policy_step=recipe_lib.expert_snapshot(run).step))
    else:
        expert_maker = lambda: recipe_lib.expert_dataset(env, run, keys["expert"], n,
                                                         ref_min=ref_min)
    makers = {
        "random": lambda: recipe_lib.random_dataset(env, keys["random"], n, run=run,
                                                 ref_min=ref_min),
        "expert": expert_maker,
        "noisy": lambda: recipe_lib.noisy_dataset(env, run, keys["noisy"], n, ref_min=ref_min),
        "mixed": lambda: recipe_lib.mixed_dataset(env, run, keys["mixed"], n, ref_min=ref_min),
        "replay": lambda: recipe_lib.replay_dataset(run, ref_min=ref_min),
        "medium": lambda: collect(
            env, acting, medium.params, keys["medium"], n,
            meta=meta("medium", sampling=spec.expert_sampling, policy_step=medium.step,
                      policy_eval_return=medium.eval_return)),
        "medium-replay": lambda: recipe_lib.first_transitions(
            run.replay, medium.step, meta=meta("medium-replay", online_steps=medium.step)),
        "medium-expert": lambda: concatenate(
            [get("medium"), get("expert")], meta=meta("medium-expert")),
    }
    datasets: dict[str, Dataset] = {}

    def get(name: str) -> Dataset:
        if name not in datasets:
            datasets[name] = makers[name]()
        return datasets[name]

    for name in spec.recipes:
        get(name)
    if budget.env in spec.mixed_quality_envs:
        for source in spec.mixed_high_sources:
            for sigma in spec.sigmas:
                datasets[mixed_quality_name(sigma, source)] = (
                    recipe_lib.mixed_quality_dataset(get(source), get("random"), sigma, n))
    built = {i.rsplit("/", 1)[-1][: -len("-v0")] for i in suite_dataset_ids(spec)[budget.env]}
    datasets = {k: v for k, v in datasets.items() if k in built}
    facts = dict(
        fingerprint=spec.fingerprint(budget),
        ref_min_score=ref_min,
        ref_max_score=run.expert_return,
        best_eval_return=run.best_eval_return,
        eval_curve=run.eval_curve.tolist(),
        online_train_seconds=run.train_seconds,
        build_seconds=time.perf_counter() - start,
    )
    if medium is not None:
        facts["medium_policy"] = dict(step=medium.step, eval_return=medium.eval_return)
    fp = facts["fingerprint"]
    datasets = {k: d.replace(meta=d.meta.with_info(suite=spec.name, suite_fingerprint=fp))
                for k, d in datasets.items()}
    if not isinstance(env, JaxEnv):
        env.close()
    return datasets, facts


def _with_brax_expert(env, budget: EnvBudget, run, key: jax.Array, progress):
    """Returns ``run`` (our SAC: the replay stream) with its expert replaced by the one a brax
    agent trains, whose return is measured with our evaluator on fresh episodes."""
    from jaxrl_suite.envs.evaluate import evaluate
    from jaxrl_suite.generate.brax_experts import train_brax_expert

    kwargs = {k: v for k, v in dict(budget.brax_expert).items() if v is not None}
    expert = train_brax_expert(budget.env, episode_length=env.spec.max_episode_steps,
                               seed=int(jax.random.randint(key, (), 0, 2**30)),
                               progress=progress, **kwargs)
    returns = jax.jit(lambda p, k: evaluate(expert.policy_fn, p, env, k,
                                            budget.online.final_eval_episodes).returns)(
        expert.params, key)
    return run._replace(expert_policy=expert.policy_fn, expert_params=expert.params,
                        expert_return=float(returns.mean()),
                        best_eval_return=float(expert.best_return),
                        train_seconds=run.train_seconds + expert.train_seconds)


def build_suite(name: str, root: Any = None, *, force: bool = False,
                envs: Sequence[str] | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Returns the manifest after building (or finding cached) every dataset of suite ``name``
    in the Minari root (``root``, else $MINARI_DATASETS_PATH, else Minari's default); with
    ``envs``, only those envs' datasets (each env's are the same as in a whole build: its key
    depends on its place in the suite, not on which envs are built)."""
    spec = get_suite(name)
    check_suite_envs(spec, envs)
    root = io.minari_root(root)
    manifest = read_manifest(root, name)
    key = jax.random.PRNGKey(spec.seed)
    for i, budget in enumerate(spec.envs):
        if envs is not None and budget.env not in envs:
            continue
        env_key = jax.random.fold_in(key, i)
        if not force and _is_cached(spec, budget, root, manifest):
            log(f"[{budget.env}] cached in {root / NAMESPACE / name}")
            continue
        checkpoint = (root / NAMESPACE / name /
                      f"{env_slug(budget.env)}-{spec.fingerprint(budget)}.online.pkl")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        if force:
            checkpoint.unlink(missing_ok=True)
        datasets, facts = build_env_datasets(spec, budget, env_key, log, checkpoint)
        save_start = time.perf_counter()
        for ds_name, ds in datasets.items():
            ds_id = dataset_id(name, budget.env, ds_name)
            if (root / ds_id).exists():
                shutil.rmtree(root / ds_id)
            io.save_minari(ds, ds_id, root=root)
        facts["save_seconds"] = time.perf_counter() - save_start
        facts["datasets"] = {k: dict(id=dataset_id(name, budget.env, k),
                                     transitions=d.num_transitions, episodes=d.num_episodes,
                                     return_mean=float(np.mean(d.episode_returns())))
                             for k, d in datasets.items()}
        manifest[budget.env] = facts
        path = _manifest_path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        tmp.replace(path)
        checkpoint.unlink(missing_ok=True)
        log(f"[{budget.env}] {len(datasets)} datasets saved in {facts['save_seconds']:.1f} s")
    return manifest
