"""Shipped cost-model checkpoints (see README: how they were made)."""
