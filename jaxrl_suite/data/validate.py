"""Host-side validation of dataset arrays: every failure names the source, the field and what
was expected, before anything reaches JAX."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from jaxrl_suite.errors import DatasetError

if TYPE_CHECKING:
    from jaxrl_suite.data.dataset import DatasetMeta

REQUIRED = ("observations", "actions", "rewards", "terminals", "timeouts")


def fail(source: str | None, field: str, expected: str, found: str) -> NoReturn:
    raise DatasetError(source, field, expected, found)


def _describe(x: np.ndarray) -> str:
    return f"shape {tuple(x.shape)} dtype {x.dtype}"


def _as_array(source: str | None, field: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists, objects that are not arrays
        fail(source, field, "an array", f"a value NumPy cannot read as one ({exc})")
    if arr.dtype == object:
        fail(source, field, "a numeric array", "dtype object (ragged or mixed values)")
    return arr


def flags(source: str | None, field: str, x: np.ndarray, n: int) -> np.ndarray:
    if x.ndim != 1 or x.shape[0] != n:
        fail(source, field, f"shape ({n},) (one flag per transition)", _describe(x))
    if x.dtype == np.bool_:
        return x
    if np.issubdtype(x.dtype, np.number):
        if not np.all(np.isfinite(x)) or not np.all((x == 0) | (x == 1)):
            bad = x[~((x == 0) | (x == 1))][:3]
            fail(source, field, "boolean flags (bool, or numbers 0/1)", f"values {bad.tolist()}")
        return x.astype(bool)
    fail(source, field, "boolean flags (bool, or numbers 0/1)", _describe(x))


def _finite_float(source: str | None, field: str, x: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
            or x.dtype == np.bool_):
        fail(source, field, "a real-valued numeric array", _describe(x))
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        fail(source, field, "finite values (after float32 cast)",
             f"a non-finite value at index {tuple(int(i) for i in bad)}")
    return x


def validate_arrays(arrays: dict[str, Any], meta: "DatasetMeta") -> dict[str, np.ndarray]:
    """Returns the arrays cast to the suite's dtypes, or raises DatasetError on the first fault.

    Checks: required fields present; non-empty; ranks; one length for all fields; dtypes;
    finite values; actions inside the declared bounds (or action set); episodes end with a
    terminal or a timeout.
    """
    src = meta.source
    for key in REQUIRED:
        if arrays.get(key) is None:
            fail(src, key, "a required field", "it missing")
    out: dict[str, Any] = {k: _as_array(src, k, v) for k, v in arrays.items() if v is not None}

    obs = out["observations"]
    if obs.ndim < 2:
        fail(src, "observations", "rank >= 2: [N, *obs_shape]", _describe(obs))
    n = obs.shape[0]
    if n == 0:
        fail(src, "observations", "at least one transition", "an empty dataset (N = 0)")
    for key in ("rewards", "actions", "terminals", "timeouts", "next_observations"):
        if key in out and (out[key].ndim == 0 or out[key].shape[0] != n):
            fail(src, key, f"leading length {n} (as 'observations')", _describe(out[key]))

    out["observations"] = _finite_float(src, "observations", obs)
    if "next_observations" in out:
        nxt = out["next_observations"]
        if nxt.shape != obs.shape:
            fail(src, "next_observations", f"shape {tuple(obs.shape)} (as 'observations')",
                 _describe(nxt))
        out["next_observations"] = _finite_float(src, "next_observations", nxt)

    rewards = out["rewards"]
    if rewards.ndim == 2 and rewards.shape[1] == 1:
        rewards = rewards[:, 0]
    if rewards.ndim != 1:
        fail(src, "rewards", f"shape ({n},)", _describe(rewards))
    out["rewards"] = _finite_float(src, "rewards", rewards)

    out["actions"] = _validate_actions(src, out["actions"], meta)
    out["terminals"] = flags(src, "terminals", out["terminals"], n)
    out["timeouts"] = flags(src, "timeouts", out["timeouts"], n)

    if not (out["terminals"][-1] or out["timeouts"][-1]):
        fail(src, "terminals/timeouts",
             "every episode to end with a terminal or a timeout flag",
             f"the last episode (transitions from {_last_start(out)} to {n - 1}) has neither")
    out.setdefault("next_observations", None)
    return out


def _last_start(out: dict[str, np.ndarray]) -> int:
    ends = np.flatnonzero(out["terminals"] | out["timeouts"])
    return int(ends[-1] + 1) if ends.size else 0


def _validate_actions(src: str | None, act: np.ndarray, meta: "DatasetMeta") -> np.ndarray:
    discrete = meta.discrete or np.issubdtype(act.dtype, np.integer)
    if discrete:
        if act.ndim == 2 and act.shape[1] == 1:
            act = act[:, 0]
        if act.ndim != 1:
            fail(src, "actions", "shape (N,) of integer actions (discrete space)", _describe(act))
        if np.issubdtype(act.dtype, np.floating):
            if not np.all(np.isfinite(act)) or not np.all(act == np.round(act)):
                fail(src, "actions", "integer actions (discrete space)", "non-integer values")
        elif not np.issubdtype(act.dtype, np.integer):
            fail(src, "actions", "integer actions (discrete space)", _describe(act))
        act = act.astype(np.int32)
        hi = meta.num_actions
        if act.min() < 0 or (hi is not None and act.max() >= hi):
            bad = act[(act < 0) | ((act >= hi) if hi is not None else False)][:3]
            fail(src, "actions", f"values in [0, {hi if hi is not None else 'num_actions'})",
                 f"values {bad.tolist()}")
        return act
    if act.ndim == 1:
        act = act[:, None]
    if act.ndim != 2:
        fail(src, "actions", "shape (N, action_dim) (continuous space)", _describe(act))
    act = _finite_float(src, "actions", act)
    if meta.action_dim is not None and act.shape[1] != meta.action_dim:
        fail(src, "actions", f"action_dim {meta.action_dim} (from metadata)", _describe(act))
    if meta.action_low is not None and meta.action_high is not None:
        low = np.asarray(meta.action_low, np.float32)
        high = np.asarray(meta.action_high, np.float32)
        if low.shape != (act.shape[1],) or high.shape != (act.shape[1],):
            fail(src, "action_low/action_high", f"bounds of shape ({act.shape[1]},)",
                 f"shapes {low.shape} / {high.shape}")
        outside = (act < low) | (act > high)
        if outside.any():
            i, j = np.argwhere(outside)[0]
            fail(src, "actions", f"values within the declared bounds [{low[j]}, {high[j]}] "
                 f"(dimension {j})", f"{act[i, j]} at transition {i}")
    return act
