"""Metric providers: device functions and small stateful helpers that compute what contracts check.

Each returns a dict keyed by the shared vocabulary's metric names (plus a few
documented extras), with values as device tensors, ready for
``monitor.step_end(**metrics)`` or ``monitor.eval_end(**metrics)``. No provider
reads a tensor back to the host. Importing this package imports torch.
"""

from pvcontracts.runtime.providers.collapse import CollapseProvider, collapse_metrics, gaussian_kl, pairwise_dist_mean
from pvcontracts.runtime.providers.embedding import EmbeddingCollapse, embedding_std
from pvcontracts.runtime.providers.coverage import CoverageProvider, Tag, tag_counts, tag_outputs
from pvcontracts.runtime.providers.optim import global_grad_norm, snapshot, update_ratio

__all__ = ["CollapseProvider", "CoverageProvider", "EmbeddingCollapse", "embedding_std", "Tag", "collapse_metrics", "gaussian_kl", "global_grad_norm",
           "pairwise_dist_mean", "snapshot", "tag_counts", "tag_outputs", "update_ratio"]
