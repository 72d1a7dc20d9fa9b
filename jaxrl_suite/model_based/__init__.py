"""Model-based offline RL: probabilistic dynamics ensembles (``dynamics``) and the uncertainty
penalties computed from their outputs (``penalties``). Import the submodules directly."""
