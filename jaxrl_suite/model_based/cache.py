"""An on-disk cache of trained dynamics ensembles: one orbax checkpoint per (dataset, config,
key), so that an ensemble NEUBAY trains for hours (128 members) is trained once and reloaded by
every policy run on the same data.

An entry is ``cache_dir/<hash>/`` with ``arrays/`` (orbax, the ``EnsembleState`` and its
``TrainMetrics``) and ``manifest.json`` (what was trained, on what, how long). It is written in
a temporary sibling directory and renamed into place, so a crash mid-write leaves a
``.tmp-*`` directory that is never read, never a half entry. A complete-looking entry that does
not load (missing manifest, arrays that do not restore, a manifest naming another config or
dataset) raises ``CacheError`` naming the path rather than being retrained over: it can only
come from outside damage or a hash collision, both worth a look, and overwriting it could race
another process writing the same entry; deleting the directory retrains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import time
import uuid
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxrl_suite.data.dataset import Dataset
from jaxrl_suite.errors import SuiteError
from jaxrl_suite.model_based import dynamics

# Bumped when the entry layout changes, so old entries hash elsewhere instead of misloading.
CACHE_FORMAT = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays"


class CacheError(SuiteError):
    """A dynamics-cache entry exists but cannot be used (damaged, or made for other inputs)."""


def _key_data(key: jax.Array) -> tuple[list[int], str]:
    """Returns (the key's uint32 words, its PRNG implementation's name) for one key, typed
    (``jax.random.key``) or raw (``jax.random.PRNGKey``, the default implementation), so that
    both spellings of one key find one entry."""
    key = jax.numpy.asarray(key)
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not typed and (key.dtype != np.uint32 or key.ndim != 1):
        raise ValueError(f"load_or_train_ensemble: expected one PRNG key (a typed key or a "
                         f"uint32 vector), found shape {tuple(key.shape)} dtype {key.dtype}")
    if typed and key.ndim != 0:
        raise ValueError(f"load_or_train_ensemble: expected one PRNG key, found a batch of "
                         f"shape {tuple(key.shape)}")
    typed_key = key if typed else jax.random.wrap_key_data(key)
    words = np.asarray(jax.random.key_data(typed_key)).reshape(-1)
    return [int(w) for w in words], str(jax.random.key_impl(typed_key))


def cache_identity(key: jax.Array, dataset: Dataset,
                   config: dynamics.EnsembleConfig) -> dict[str, Any]:
    """Returns the JSON-ready description an entry is keyed by: every EnsembleConfig field, the
    dataset's content fingerprint, the key's words and the cache format."""
    words, impl = _key_data(key)
    return {"format": CACHE_FORMAT, "config": dataclasses.asdict(config),
            "dataset_fingerprint": dataset.fingerprint(), "key": words, "key_impl": impl}


def cache_path(cache_dir: str | pathlib.Path, identity: dict[str, Any]) -> pathlib.Path:
    """Returns ``cache_dir/<first 24 hex digits of sha256 of the canonical identity JSON>``."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:24]
    return pathlib.Path(cache_dir).absolute() / digest


def _canonical(value: Any) -> Any:
    # A JSON round trip turns tuples into lists, so compare both sides in that form.
    return json.loads(json.dumps(value, sort_keys=True))


def _load(path: pathlib.Path, identity: dict[str, Any], key: jax.Array, dataset: Dataset,
          config: dynamics.EnsembleConfig):
    manifest_file = path / MANIFEST
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"{path}: dynamics-cache entry without a readable {MANIFEST} ({exc}); "
                         f"delete the directory to retrain") from exc
    stored = {name: manifest.get(name) for name in identity}
    if _canonical(stored) != _canonical(identity):
        differ = sorted(n for n in identity if _canonical(stored[n]) != _canonical(identity[n]))
        raise CacheError(f"{path}: dynamics-cache entry made for other inputs (differs in "
                         f"{differ}); not loaded. Delete the directory to retrain")
    # Restoring into the shapes this config and dataset give also checks that the arrays fit.
    state_like, metrics_like = dynamics.output_shapes(key, dataset, config)
    abstract = {"state": state_like, "metrics": metrics_like}
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            restored = checkpointer.restore(path / ARRAYS, abstract)
    except Exception as exc:  # orbax raises several types for missing or mismatched arrays
        raise CacheError(f"{path / ARRAYS}: dynamics-cache arrays do not restore "
                         f"({type(exc).__name__}: {exc}); delete {path} to retrain") from exc
    # The config is static (not an array), so it comes from the request, checked above.
    state = dataclasses.replace(restored["state"], config=config)
    return state, restored["metrics"], manifest


def _save(path: pathlib.Path, identity: dict[str, Any], state: dynamics.EnsembleState,
          metrics: dynamics.TrainMetrics, wall_seconds: float) -> bool:
    """Writes the entry atomically; returns False if another process wrote it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(tmp / ARRAYS, {"state": state, "metrics": metrics})
            checkpointer.wait_until_finished()
        epochs = int(metrics.epochs)
        manifest = {**identity, "epochs": epochs,
                    "holdout_mse": [float(x) for x in np.asarray(state.holdout_mse)],
                    "elites": [int(i) for i in np.asarray(state.elites)],
                    "wall_seconds": round(wall_seconds, 3),
                    "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "jax_version": jax.__version__}
        # The manifest last: an entry with one is complete.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(tmp, path)
        except OSError:
            if (path / MANIFEST).exists():  # a concurrent run saved the same entry first
                return False
            raise
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_or_train_ensemble(key: jax.Array, dataset: Dataset, config: dynamics.EnsembleConfig,
                           cache_dir: str | pathlib.Path | None, log: Callable[[str], Any] = print
                           ) -> tuple[dynamics.EnsembleState, dynamics.TrainMetrics, bool]:
    """Returns (ensemble, its training history, loaded): the ensemble of
    ``dynamics.train_ensemble(key, dataset, config)``, read from ``cache_dir`` when an entry
    for this (dataset fingerprint, config, key) exists, else trained and saved there.

    ``loaded`` is True when read from the cache (the history is the one saved with it).
    ``cache_dir=None`` trains without caching. Raises CacheError, naming the entry, when an
    entry exists but is damaged or was made for other inputs (see the module docstring); the
    dataset errors of ``train_ensemble`` otherwise.
    """
    if cache_dir is None:
        state, metrics = dynamics.train_ensemble(key, dataset, config)
        return state, metrics, False
    identity = cache_identity(key, dataset, config)
    path = cache_path(cache_dir, identity)
    if path.exists():
        state, metrics, manifest = _load(path, identity, key, dataset, config)
        log(f"dynamics cache: loaded {path} ({manifest.get('epochs')} epochs, trained in "
            f"{manifest.get('wall_seconds')} s)")
        return state, metrics, True
    start = time.perf_counter()
    state, metrics = dynamics.train_ensemble(key, dataset, config)
    jax.block_until_ready((state, metrics))
    wall = time.perf_counter() - start
    if _save(path, identity, state, metrics, wall):
        log(f"dynamics cache: trained {config.num_members} members for {int(metrics.epochs)} "
            f"epochs in {wall:.1f} s; saved {path}")
    else:
        log(f"dynamics cache: trained in {wall:.1f} s; {path} was saved meanwhile by another "
            f"run, kept")
    return state, metrics, False
