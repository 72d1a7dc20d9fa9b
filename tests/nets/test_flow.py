"""The flow-matching policy pieces: the BC flow loss against a NumPy transcription of QC's
(acfql.py:63-81, valid-step weighting included), a flow trained on a toy 2-D mixture whose
Euler samples match the target's moments and mode weights, and best-of-N picking the critic's
argmax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl_suite.nets.flow import VectorField, best_of_n, euler_sample, flow_matching_loss


def test_flow_loss_matches_the_reference_with_valid_steps():
    rng = np.random.default_rng(0)
    b, h, a = 6, 3, 2
    obs, actions = rng.normal(size=(b, 4)), rng.uniform(-1, 1, size=(b, h * a))
    valid = (rng.uniform(size=(b, h)) > 0.3).astype(np.float32)
    w = rng.normal(size=(4 + h * a + 1, h * a))
    velocity = lambda o, x, t: jnp.concatenate([o, x, t], -1) @ w  # noqa: E731
    key = jax.random.PRNGKey(3)
    got = flow_matching_loss(velocity, *map(jnp.float32, (obs, actions)), key,
                             jnp.float32(valid), horizon=h)
    noise_key, time_key = jax.random.split(key)
    x0 = np.asarray(jax.random.normal(noise_key, actions.shape, jnp.float32))
    t = np.asarray(jax.random.uniform(time_key, (b, 1), jnp.float32))
    xt = (1 - t) * x0 + t * actions
    pred = np.concatenate([obs, xt, t], -1) @ w
    expected = np.mean(((pred - (actions - x0)) ** 2).reshape(b, h, a) * valid[..., None])
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_a_trained_flow_samples_the_target_mixture():
    rng = np.random.default_rng(1)
    means = np.array([[0.5, 0.3], [-0.4, -0.5]])
    weights = np.array([0.7, 0.3])

    def draw(n):
        comp = rng.choice(2, size=n, p=weights)
        return (means[comp] + 0.08 * rng.normal(size=(n, 2))).astype(np.float32)

    net = VectorField((64, 64), 2)
    obs = jnp.zeros((256, 1))
    params = net.init(jax.random.PRNGKey(0), obs, jnp.zeros((256, 2)), jnp.zeros((256, 1)))
    opt = optax.adam(optax.cosine_decay_schedule(3e-3, 5000))
    data = jnp.asarray(draw(256 * 5000).reshape(5000, 256, 2))

    def step(carry, batch):
        params, state, key = carry
        key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(lambda p: flow_matching_loss(
            lambda o, x, t: net.apply(p, o, x, t), obs, batch, sub))(params)
        updates, state = opt.update(grads, state)
        return (optax.apply_updates(params, updates), state, key), loss

    (params, _, _), losses = jax.jit(lambda c, d: jax.lax.scan(step, c, d))(
        (params, opt.init(params), jax.random.PRNGKey(1)), data)
    assert losses[-100:].mean() < losses[:100].mean()
    n = 4000
    samples = np.asarray(jax.jit(lambda p, z: euler_sample(
        lambda o, x, t: net.apply(p, o, x, t), jnp.zeros((n, 1)), z, 10))(
        params, jax.random.normal(jax.random.PRNGKey(2), (n, 2))))
    target = draw(n)
    np.testing.assert_allclose(samples.mean(0), target.mean(0), atol=0.05)
    np.testing.assert_allclose(np.cov(samples.T), np.cov(target.T), atol=0.03)
    near_first = np.linalg.norm(samples - means[0], axis=1) < np.linalg.norm(
        samples - means[1], axis=1)
    assert abs(near_first.mean() - 0.7) < 0.05  # the mode weights
    for mode, members in ((0, near_first), (1, ~near_first)):  # each mode's spread (0.08)
        np.testing.assert_allclose(samples[members].mean(0), means[mode], atol=0.05)
        assert (samples[members].std(0) < 0.13).all()


def test_best_of_n_keeps_the_critics_argmax():
    velocity = lambda o, x, t: jnp.zeros_like(x)  # noqa: E731  (samples = clipped noise)
    score = lambda o, a: -jnp.sum(jnp.square(a - 0.2), -1)  # noqa: E731
    obs = jnp.zeros((5, 3))
    key = jax.random.PRNGKey(0)
    got = best_of_n(velocity, score, obs, key, action_size=2, num_samples=64, flow_steps=4)
    noise = np.clip(np.asarray(jax.random.normal(key, (5, 64, 2))), -1, 1)
    expected = noise[np.arange(5), np.argmin(((noise - 0.2) ** 2).sum(-1), axis=1)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
