"""f-DVL (Sikchi, Zheng, Zhang & Niekum, "Dual RL: Unification and New Methods for
Reinforcement and Imitation Learning", ICLR 2024), offline: IQL's structure
(``agents/iql.py``) with V fitted by the semi-gradient dual loss of an f-divergence,
  L_V = E[ alpha f*_p(Q_target(s, a) - V(s)) - (1 - alpha) (Q_target(s, a) - V(s)) ],
with, as the authors' code (hari-sikchi/DVL ``offline/critic.py``), for x = Q - V:
  chi-square:       f*_p(x) = max(x + x^2 / 4, 0)
  total variation:  f*_p(x) = max(x, 0)
(the reverse-KL member is XQL's Gumbel loss: ``agents/xql.py``).

Defaults: alpha per divergence, from the authors' README commands: 1.0 for chi-square (its
locomotion command, ``--temp=1``, also the flag default) and 0.8 for total variation (its only
command, AntMaze, ``--temp=0.8``; at alpha 1 the TV loss is a hinge that only pushes V up, and
on Pendulum it failed to learn in 2,000 updates), LayerNorm in V and the rest of IQL's mujoco config (temperature 3.0,
lr 3e-4, gamma 0.99, tau 0.005; DVL ``offline/configs/mujoco_config.py``). Not reproduced:
the Huber (delta 20) critic loss (squared error here), the random actions added to the value
batch (``--sample_random_times``) and the actor's cosine lr decay.
"""

from __future__ import annotations

import dataclasses

from flax import struct

from jaxrl_suite.agents.base import Learner
from jaxrl_suite.agents.iql import AWRHParams, IQLConfig, make_value_learner
from jaxrl_suite.agents.losses import chi_square_loss, total_variation_loss


DIVERGENCES = {"chi_square": chi_square_loss, "total_variation": total_variation_loss}
DEFAULT_ALPHA = {"chi_square": 1.0, "total_variation": 0.8}  # the README's commands


@dataclasses.dataclass(frozen=True)
class FDVLConfig(IQLConfig):
    value_layer_norm: bool = True
    divergence: str = "chi_square"  # static: it picks the loss's form


@dataclasses.dataclass(frozen=True)
class FDVLTVConfig(FDVLConfig):
    """f-DVL with the total-variation divergence: CLI id ``fdvl_tv`` (``fdvl`` is chi-square)."""

    divergence: str = "total_variation"


@struct.dataclass
class FDVLHParams(AWRHParams):
    alpha: float = 1.0  # the loss temperature (``--temp``); make_fdvl sets DEFAULT_ALPHA


def make_fdvl(config: FDVLConfig = FDVLConfig()) -> Learner:
    """Returns the f-DVL learner of ``config.divergence`` (one of DIVERGENCES)."""
    if config.divergence not in DIVERGENCES:
        raise ValueError(f"divergence: expected one of {sorted(DIVERGENCES)}, "
                         f"found '{config.divergence}'")
    loss = DIVERGENCES[config.divergence]
    hparams = FDVLHParams(alpha=DEFAULT_ALPHA[config.divergence])
    # Batch 1024: hari-sikchi/DVL offline/train_offline.py:39.
    return make_value_learner(f"fdvl_{config.divergence}", config, hparams,
                              lambda diff, hp: loss(diff, hp.alpha), batch_size=1024)
