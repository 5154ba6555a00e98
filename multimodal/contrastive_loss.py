"""The training loss: CLIP's symmetric contrastive loss, with every caption an image carries as a positive.

open_clip's `ClipLoss` pairs image `i` with text `i` and treats every other text in the batch as wrong.
Captioned folders often give an image several captions (COCO has five; the demo's generator writes a full
caption, other word orders, "a red star" and "a star on the left", in two languages). Training on one of
them per step leaves the others unused, and a caption two images share ("a red star") would be taught as
wrong for one of them. Here each image is scored against all the batch's distinct captions with soft
targets spread over its own (as in UniCL, Yang et al. 2022): every caption teaches every step, and a shared
caption is right for each image that carries it. With one distinct caption per image it is `ClipLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_positive_clip_loss(image_features: torch.Tensor, text_features: torch.Tensor,
                             logit_scale: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of the image→text and text→image cross-entropies against `targets` (bool, images × texts;
    each row and column holds at least one true), normalised into distributions."""
    logits = logit_scale * image_features @ text_features.T
    positives = targets.to(logits.dtype)
    image_to_text = _soft_cross_entropy(logits, positives / positives.sum(dim=1, keepdim=True))
    text_to_image = _soft_cross_entropy(logits.T, (positives / positives.sum(dim=0, keepdim=True)).T)
    return (image_to_text + text_to_image) / 2


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


__all__ = ["multi_positive_clip_loss"]
