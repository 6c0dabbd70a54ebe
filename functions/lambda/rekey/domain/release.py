"""rekey's release: its version, which the rollout's waves take one after another
(rekey.domain.rollout.fingerprint). `rekey.__version__` is this."""

VERSION = "0.1.0"
