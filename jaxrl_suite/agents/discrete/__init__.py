"""Discrete-action offline learners of "A Dataset Perspective on Offline RL" (Schweighofer et
al., CoLLAs 2022; code ml-jku/OfflineRL), one file each, on the contract of ``agents/base.py``.

Actions are integer indices: ``update`` reads ``batch.actions`` [B] int, ``act`` returns [B]
int32. Settings follow the authors' code (``source/agents/*.py``, ``source/networks/*.py``):
three 256-unit SELU layers, Adam lr 1e-4, hard target copies every 100 updates, raw (not
normalised) observations; the offline batch of 128 is ``TrainConfig.batch_size``. gamma is
0.95 on CartPole and MiniGrid and 0.99 elsewhere in that code: ``paper_hparams`` applies it.
"""
