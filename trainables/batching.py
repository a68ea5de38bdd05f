"""Batches from cached token arrays: dynamic padding and length-bucketed batch order.

KLUE-STS pairs average ~35 tokens; padding every pair to 128 spends ~75% of the compute on pad tokens.
Sorting pairs by length inside large shuffled pools and padding each batch to its own longest pair
wastes under 2% while keeping batch composition random from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from trainables.tokens import EncodedSplit

POOL_BATCHES = 100  # batches per sorting pool: large enough to bucket well, small enough to stay random


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar length; a new order each epoch, reproducible from `seed`."""

    def __init__(
        self, lengths: np.ndarray, batch_size: int, *, seed: int, shuffle: bool = True, bucket: bool = True,
        start_epoch: int = 0, limit_batches: int = 0, max_tokens: int = 0, seqs_per_row: int = 1,
        pad_to: int | None = None,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        # inference only (shuffle=False): cap each batch's padded token slots (rows x width x sequences per
        # row) at max_tokens as well as its rows at batch_size; 0 = rows only
        self.max_tokens = max_tokens
        self.seqs_per_row = seqs_per_row
        self.pad_to = pad_to
        self.seed = seed
        self.shuffle = shuffle
        self.bucket = bucket
        self.epoch = start_epoch
        self.limit_batches = limit_batches

    def batches(self, epoch: int) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable") if self.bucket else np.arange(n)
            if self.max_tokens:
                out = token_budget_batches(self.lengths, order, self.batch_size, self.max_tokens,
                                           self.seqs_per_row, self.pad_to)
            else:
                out = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        else:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(n)
            out = []
            if self.bucket:
                pool = self.batch_size * POOL_BATCHES
                for start in range(0, n, pool):
                    chunk = order[start : start + pool]
                    chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                    out.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
                out = [out[i] for i in rng.permutation(len(out))]
            else:
                out = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.limit_batches:
            out = out[: self.limit_batches]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches(self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        if self.max_tokens and not self.shuffle:
            return len(self.batches(self.epoch))
        full = -(-len(self.lengths) // self.batch_size)
        return min(full, self.limit_batches) if self.limit_batches else full


def token_budget_batches(
    widths: np.ndarray, order: np.ndarray, max_rows: int, max_tokens: int, seqs_per_row: int = 1,
    pad_to: int | None = None,
) -> list[list[int]]:
    """Consecutive rows of `order` (length-sorted for inference) grouped so that each batch, padded to its widest
    row (or `pad_to`), holds at most `max_tokens` token slots and `max_rows` rows; a row wider than the budget
    goes alone. Short pairs then share big batches and long pairs small ones, instead of one row count for all."""
    out: list[list[int]] = []
    batch: list[int] = []
    width = 0
    for i in order.tolist():
        w = pad_to or int(widths[i])
        new_width = max(width, w)
        if batch and (len(batch) >= max_rows or (len(batch) + 1) * new_width * seqs_per_row > max_tokens):
            out.append(batch)
            batch, new_width = [], w
        batch.append(i)
        width = new_width
    if batch:
        out.append(batch)
    return out


def pad_fraction(lengths: np.ndarray, batches: list[list[int]], pad_to: int | None = None) -> float:
    """Share of token slots that are padding when these batches are padded (to `pad_to` or batch max).

    `lengths` is (n,) for pair encodings or (n, 2) for separate sentences (both padded to one width).
    """
    real = padded = 0
    for b in batches:
        lens = lengths[b]
        width = pad_to if pad_to else int(lens.max())
        real += int(lens.sum())
        padded += width * lens.size
    return 1.0 - real / padded if padded else 0.0


class PairCollator:
    """Indices -> padded tensors; `pad_to` fixes the width (pad-to-max_length mode).

    Separate-sentence encodings (bi-encoders) give 2B sequence rows for B pairs: the first sentences, then
    the second sentences, padded to one width so one backbone pass encodes both.
    """

    def __init__(self, enc: EncodedSplit, labels: np.ndarray | None, pad_to: int | None = None) -> None:
        self.enc = enc
        self.labels = labels
        self.pad_to = pad_to

    def __call__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        parts = [self.enc] if self.enc.second is None else [self.enc, self.enc.second]
        width = self.pad_to or int(self.enc.widths[rows].max())
        n_seq = len(rows) * len(parts)
        ids = np.full((n_seq, width), self.enc.pad_token_id, dtype=np.int64)
        mask = np.zeros((n_seq, width), dtype=np.int64)
        types = np.zeros((n_seq, width), dtype=np.int64) if self.enc.flat_types is not None else None
        for k, part in enumerate(parts):
            for j, i in enumerate(rows):
                r = k * len(rows) + j
                seq = part.ids(i)
                ids[r, : len(seq)] = seq
                mask[r, : len(seq)] = 1
                if types is not None and part.flat_types is not None:
                    types[r, : len(seq)] = part.types(i)
        batch = {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "sep_index": torch.from_numpy(self.enc.sep_index[rows].astype(np.int64)),
            "index": torch.tensor(rows, dtype=torch.long),
        }
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types)
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[rows].astype(np.float32))
        return batch


def make_loader(
    enc: EncodedSplit, labels: np.ndarray | None, batch_size: int, *, train: bool, seed: int,
    bucket: bool = True, pad_to: int | None = None, start_epoch: int = 0, limit_batches: int = 0,
    max_tokens: int = 0,
) -> DataLoader:
    """`max_tokens` (inference only) also caps each batch's padded token slots; see token_budget_batches."""
    sampler = LengthBucketBatchSampler(
        enc.widths, batch_size, seed=seed, shuffle=train, bucket=bucket,
        start_epoch=start_epoch, limit_batches=limit_batches, max_tokens=0 if train else max_tokens,
        seqs_per_row=1 if enc.second is None else 2, pad_to=pad_to,
    )
    return DataLoader(
        range(len(enc)), batch_sampler=sampler, collate_fn=PairCollator(enc, labels, pad_to), num_workers=0
    )


class ShardedBatchSampler(Sampler[list[int]]):
    """Rank `rank`'s share of another batch sampler's epoch: every `world`-th batch, the same count on every
    rank (DDP ranks must take the same number of optimizer steps)."""

    def __init__(self, inner: Any, rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"shard rank {rank} is outside world size {world}")
        self.inner, self.rank, self.world = inner, rank, world

    def batches(self, epoch: int) -> list[list[int]]:
        every = self.inner.batches(epoch)
        per_rank = len(every) // self.world
        if per_rank == 0:
            raise ValueError(f"{len(every)} train batches per epoch cannot be split over {self.world} workers: "
                             "lower batch_size or raise limit_train_batches")
        return every[self.rank :: self.world][:per_rank]

    def __iter__(self) -> Iterator[list[int]]:
        # the inner sampler owns the epoch counter (it starts at the resumed epoch)
        out = self.batches(self.inner.epoch)
        self.inner.epoch += 1
        return iter(out)

    def __len__(self) -> int:
        return len(self.inner) // self.world


def shard_loader(loader: DataLoader, rank: int, world: int) -> DataLoader:
    return DataLoader(
        loader.dataset, batch_sampler=ShardedBatchSampler(loader.batch_sampler, rank, world),
        collate_fn=loader.collate_fn, num_workers=0,
    )
