"""The loss-comparison experiment behind ``jaxseg-losses compare``.

``data`` (built-in seeded datasets, ``.npz`` loader), ``model`` (a small Flax NNX U-Net, 2D/3D),
``registry`` (loss names, the loss-spec parser, the combined loss), ``train`` (training and
evaluation loop, seed rounds for ``--seeds auto``), ``stats`` (summaries and the verdicts:
worse / equivalent / inconclusive against the best), ``report`` (tables and figure). Needs the
``experiment`` extra (Flax, tqdm, matplotlib).
"""
