"""The value-learning losses shared by IQL, XQL, f-DVL and ReCOIL (one definition each).

All take x = Q(s, a) - V(s) [B] (elementwise, except where a batch statistic is noted) and
return the per-transition loss [B]; the learners average it.

  expectile (IQL, Eq. 5):        |tau - 1(x < 0)| x^2
  Gumbel / linex (XQL Eq. 8;     exp(z) - z - 1, z = x / beta: the reverse-KL member of Dual
  ReCOIL's implicit maximiser):  RL's implicit maximisers (Sikchi et al., 2024, Table 1)
  chi-square (f-DVL):            alpha max(x + x^2/4, 0) - (1 - alpha) x
  total variation (f-DVL):       alpha max(x, 0) - (1 - alpha) x
and the advantage-weighted regression actor loss of IQL/XQL/f-DVL/ReCOIL/AWAC.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def expectile_loss(diff: jax.Array, expectile: jax.Array) -> jax.Array:
    """Returns |tau - 1(u < 0)| u^2 elementwise, u = Q - V (IQL Eq. 5)."""
    return jnp.where(diff > 0, expectile, 1.0 - expectile) * jnp.square(diff)


def gumbel_loss(diff: jax.Array, beta: jax.Array, max_clip: jax.Array) -> jax.Array:
    """Returns the rescaled Gumbel (linex) loss [B] of diff = Q - V [B].

    z = min(diff / beta, max_clip); the loss exp(z) - z - 1 is scaled by exp(-m),
    m = stop_gradient(max(max_batch z, -1)): exp(z - m) - z exp(-m) - exp(-m), the same
    minimiser (V -> beta log E[exp(Q / beta)]) with bounded gradients. As Div99/XQL
    ``offline/critic.py::gumbel_rescale_loss`` and ReCOIL's ``critic.py::rkl_loss_imitate``
    (whose batch maximum runs over the offline and the expert half together).
    """
    z = jnp.minimum(diff / beta, max_clip)
    max_z = jax.lax.stop_gradient(jnp.maximum(jnp.max(z, axis=0), -1.0))
    return jnp.exp(z - max_z) - z * jnp.exp(-max_z) - jnp.exp(-max_z)


def chi_square_loss(diff: jax.Array, alpha: jax.Array) -> jax.Array:
    """Returns alpha max(x + x^2/4, 0) - (1 - alpha) x elementwise, x = Q - V."""
    return alpha * jnp.maximum(diff + jnp.square(diff) / 4.0, 0.0) - (1.0 - alpha) * diff


def total_variation_loss(diff: jax.Array, alpha: jax.Array) -> jax.Array:
    """Returns alpha max(x, 0) - (1 - alpha) x elementwise, x = Q - V."""
    return alpha * jnp.maximum(diff, 0.0) - (1.0 - alpha) * diff


def awr_weights(advantage: jax.Array, temperature: jax.Array,
                exp_adv_max: jax.Array) -> jax.Array:
    """Returns the constant AWR weights min(exp(temperature * A), exp_adv_max) [B]."""
    return jax.lax.stop_gradient(jnp.minimum(jnp.exp(temperature * advantage), exp_adv_max))


def awr_actor_loss(log_prob: jax.Array, advantage: jax.Array, temperature: jax.Array,
                   exp_adv_max: jax.Array) -> jax.Array:
    """Returns -mean(min(exp(temperature * A), exp_adv_max) * log pi(a|s)); log_prob, A: [B].

    The weights are constants (no gradient reaches the critics). AWAC passes 1 / lambda.
    """
    return -jnp.mean(awr_weights(advantage, temperature, exp_adv_max) * log_prob)
