"""Auxiliary losses any learner of the contract can add (wrappers returning a Learner)."""
