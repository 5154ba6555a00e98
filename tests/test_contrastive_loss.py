"""The multi-positive training loss: ClipLoss where each image has one caption, and a shared caption
is right for every image that carries it."""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from multimodal.contrastive_loss import multi_positive_clip_loss
from multimodal.training_data import batch_targets


def _features(n: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, 16, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_one_caption_per_image_is_open_clips_clip_loss() -> None:
    images, texts, scale = _features(6, 0), _features(6, 1), torch.tensor(14.3)
    ours = multi_positive_clip_loss(images, texts, scale, torch.eye(6, dtype=torch.bool))
    assert ours.item() == pytest.approx(open_clip.ClipLoss()(images, texts, scale).item(), rel=1e-6)


def test_a_caption_two_images_share_is_not_taught_as_wrong_for_either() -> None:
    texts, targets = batch_targets([["a red star", "a small red star"], ["a red star", "a large red star"]])
    assert texts == ["a red star", "a small red star", "a large red star"]
    assert targets.tolist() == [[True, True, False], [True, False, True]]
    # Two images and their own captions, symmetric; the shared caption midway between the images.
    e = torch.eye(3)
    images = torch.stack([e[0], e[1]])
    shared = F.normalize(e[0] + e[1], dim=0)

    def pull(targets: torch.Tensor) -> float:
        """How hard the loss pulls the shared caption towards the first image rather than the second."""
        text = torch.stack([shared, e[0], e[1]]).requires_grad_()
        multi_positive_clip_loss(images, text, torch.tensor(10.0), targets).backward()
        assert text.grad is not None
        return float(-text.grad[0] @ (e[0] - e[1]))

    assert pull(targets) == pytest.approx(0.0, abs=1e-6)  # right for both: no side is preferred
    one = targets.clone()
    one[1, 0] = False  # a one-positive loss: the shared caption counted for the first image only
    assert pull(one) > 0.05  # ... drags it away from the second image, which it also describes


def test_every_caption_of_a_batch_image_pulls_on_it() -> None:
    images = _features(3, 4).requires_grad_()
    texts, targets = batch_targets([["a", "b"], ["c"], ["d", "e", "f"]])
    loss = multi_positive_clip_loss(images, _features(len(texts), 5), torch.tensor(10.0), targets)
    loss.backward()
    assert images.grad is not None and bool((images.grad.norm(dim=1) > 0).all())
