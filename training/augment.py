"""Random symmetries of P that leave the m-height unchanged (docs/MATH.md, Invariances).

P -> D1 Pi1 P Pi2 D2 on each sample's valid k x (n-k) block, drawn afresh every time a batch
is used, for the whole batch at once on its device: random keys are argsorted into
permutations, with padded positions given keys that keep them in place.
"""

from __future__ import annotations

import torch


def augment_batch(P: torch.Tensor, nkm: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute rows and columns and flip row and column signs of each valid block of P.

    P: (B, R, C) zero-padded matrices; nkm: (B, 3) with columns n, k, m.
    """
    B, R, C = P.shape
    k, c = nkm[:, 1:2], nkm[:, 0:1] - nkm[:, 1:2]
    rows = _block_permutation(k, R, generator)
    cols = _block_permutation(c, C, generator)
    P = P.gather(1, rows[:, :, None].expand(B, R, C)).gather(2, cols[:, None, :].expand(B, R, C))
    row_sign = _random_signs((B, R, 1), P, generator)
    col_sign = _random_signs((B, 1, C), P, generator)
    return P * row_sign * col_sign


def _block_permutation(size: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """(B, length) permutations that shuffle positions < size and fix the rest."""
    positions = torch.arange(length, device=size.device)
    keys = torch.rand(len(size), length, generator=generator, device=size.device)
    keys = torch.where(positions < size, keys, 1.0 + positions)  # padding sorts last, in order
    return keys.argsort(dim=1)


def _random_signs(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator):
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)
