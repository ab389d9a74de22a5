"""Adapters of tasklens to other training frameworks.

They sit on top of the library and are imported by nothing below them; each one imports
its framework lazily (a missing one raises an ImportError that names the extra to install).

- :mod:`tasklens.integrations.lightning`: any tasklens balancing method inside a PyTorch
  Lightning ``LightningModule`` (manual optimisation), on one device or under Lightning's
  DDP strategy (``pip install 'tasklens[lightning]'``).
"""
