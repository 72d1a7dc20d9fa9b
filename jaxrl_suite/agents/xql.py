"""XQL (Garg, Hejna, Geist & Ermon, "Extreme Q-Learning: MaxEnt RL without Entropy", ICLR 2023),
offline: IQL's structure (``agents/iql.py``) with V fitted by the Gumbel regression loss.

  L_V = E[ exp(z) - z - 1 ],  z = (Q_target(s, a) - V(s)) / beta                  (Eq. 8)
so V tends to the soft maximum beta log E_mu[exp(Q / beta)]. As the authors' code
(Div99/XQL ``offline/critic.py::gumbel_rescale_loss``), z is clipped above at ``max_clip`` and
the loss is scaled by exp(-m), m = stop_gradient(max(max_batch z, -1)), i.e.
exp(z - m) - z exp(-m) - exp(-m): the same minimiser, with bounded gradients.

Defaults: beta 2.0 (the authors' ``reproduce/mujoco/hopper_expert.sh``, ``--temp=2``; their
locomotion runs use 1-5), max_clip 7.0 (``train_offline.py`` flag default), LayerNorm in V and
the rest of IQL's mujoco config (temperature 3.0, lr 3e-4, gamma 0.99, tau 0.005;
``configs/mujoco_config.py``). Not reproduced: the Huber (delta 20) critic loss (a squared
error here: the same below |error| 20), the optional random/noisy actions in the value batch
(``--sample_random_times``, ``--noise``) and the actor's cosine lr decay.
"""

from __future__ import annotations

import dataclasses

from flax import struct

from jaxrl_suite.agents.base import Learner
from jaxrl_suite.agents.iql import AWRHParams, IQLConfig, make_value_learner
from jaxrl_suite.agents.losses import gumbel_loss  # noqa: F401 (re-exported)


@dataclasses.dataclass(frozen=True)
class XQLConfig(IQLConfig):
    value_layer_norm: bool = True


@struct.dataclass
class XQLHParams(AWRHParams):
    beta: float = 2.0  # the Gumbel loss temperature
    max_clip: float = 7.0  # upper clip of z = (Q - V) / beta; jnp.inf disables it


def make_xql(config: XQLConfig = XQLConfig()) -> Learner:
    """Returns the XQL learner (Gumbel value loss, AWR extraction)."""
    # Batch 1024: Div99/XQL offline/train_offline.py:33 (its reproduce/mujoco/*.sh pass 256).
    return make_value_learner("xql", config, XQLHParams(),
                              lambda diff, hp: gumbel_loss(diff, hp.beta, hp.max_clip),
                              batch_size=1024)
