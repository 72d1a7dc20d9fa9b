"""Code version and dataset fingerprints stored with results."""

import numpy as np
import pytest

from jaxrl_suite import __version__
from jaxrl_suite.data import from_arrays
from jaxrl_suite.provenance import code_version, version_label


def _dataset(seed, n=30):
    rng = np.random.default_rng(seed)
    timeouts = np.zeros(n, bool)
    timeouts[9::10] = True
    return from_arrays(rng.normal(size=(n, 2)), rng.uniform(-1, 1, (n, 1)), rng.normal(size=n),
                       np.zeros(n, bool), timeouts, rng.normal(size=(n, 2)))


def test_code_version_is_this_checkout():
    version = code_version()
    assert version["package"] == __version__
    assert version["commit"] is None or len(version["commit"]) == 40
    assert version["dirty"] in (None, True, False)
    assert version_label(version) != "unknown"
    assert version_label(None) == "unknown"


def test_fingerprint_follows_content_not_name():
    a, b = _dataset(0), _dataset(0)
    b = b.replace(meta=b.meta.replace(source="elsewhere.npz"))
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 32
    assert _dataset(1).fingerprint() != a.fingerprint()
    changed = a.replace(rewards=a.rewards.at[3].add(1.0))
    assert changed.fingerprint() != a.fingerprint()


def test_matmul_precision_is_set_for_later_programs_and_named_back():
    import jax
    import jax.numpy as jnp

    from jaxrl_suite.errors import SuiteError
    from jaxrl_suite.provenance import matmul_precision, set_matmul_precision

    x = jnp.ones((8, 8), jnp.float32)
    try:
        for name, hlo in (("tf32", "[HIGH, HIGH]"), ("highest", "[HIGHEST, HIGHEST]"),
                          ("default", "[DEFAULT, DEFAULT]")):
            set_matmul_precision(name)
            assert matmul_precision() == name
            # A program compiled later carries it in its dots' precision config.
            assert f"precision = {hlo}" in jax.jit(jnp.dot).lower(x, x).as_text(), name
        with pytest.raises(SuiteError, match="--matmul_precision"):
            set_matmul_precision("bf16")
    finally:
        set_matmul_precision("default")
