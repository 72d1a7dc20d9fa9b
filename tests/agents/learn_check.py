"""``normalized_returns``: train a learner (seeds vmapped) and return its normalised scores."""

import jax

from jaxrl_suite.train import TrainConfig, make_train, stack_hparams, train


def normalized_returns(learner, hparams, env, dataset, *, num_updates=2_000, eval_every=None,
                       num_seeds=3, batch_size=256, eval_episodes=10, seed=0):
    """Returns [num_seeds] final normalised returns (100 = the dataset's expert, 0 = random)."""
    config = TrainConfig(num_updates=num_updates, batch_size=batch_size,
                         eval_every=eval_every or num_updates, eval_episodes=eval_episodes)
    result = train(make_train(learner, env, config), dataset,
                   jax.random.split(jax.random.PRNGKey(seed), num_seeds),
                   stack_hparams([hparams] * num_seeds))
    assert not result.diverged.any(), f"{learner.name}: a seed diverged"
    lo, hi = dataset.meta.ref_min_score, dataset.meta.ref_max_score
    return 100.0 * (result.eval_returns[:, -1].mean(axis=-1) - lo) / (hi - lo)
