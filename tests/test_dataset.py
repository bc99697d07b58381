"""The torch Dataset of triplets: shapes, nulls for conditions a pool lacks, collate, latents."""

import pytest
import torch
from torch.utils.data import DataLoader

from humo_lite.data import TripletDataset, collate_triplets, make_pool


@pytest.fixture(scope="module")
def batch():
    ds = TripletDataset("stage2", "humo-nano")
    return next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_triplets)))


def test_batch_shapes(batch):
    assert batch["video"].shape == (3, 3, 9, 16, 16)
    assert batch["reference"].shape == (3, 3, 16, 16)
    assert batch["audio_windows"].shape == (3, 3, 8, 80)  # 9 frames -> 3 latent frames
    assert batch["audio_features"].shape == (3, 9, 80)
    assert batch["text_ids"].shape == batch["text_mask"].shape == (3, 24)
    assert batch["face_mask"].shape == (3, 9, 16, 16) and batch["mouth"].shape == (3, 9)
    assert batch["labels"]["identity"].shape == (3,)
    assert len(batch["caption"]) == 3 and isinstance(batch["caption"][0], str)
    assert batch["video"].min() >= -1 and batch["video"].max() <= 1
    assert batch["has_audio"].all() and batch["has_reference"].all()


def test_conditions_a_pool_lacks_are_null():
    item = TripletDataset("foundation", "humo-nano")[0]
    assert not item["has_reference"] and not item["has_audio"]
    assert torch.all(item["reference"] == 0) and torch.all(item["audio_windows"] == 0)
    assert item["text_mask"].any()  # text is given
    assert item["mouth"].shape == (9,)  # ground truth is always there
    item = TripletDataset("stage1", "humo-nano")[0]
    assert item["has_reference"] and item["reference"].abs().sum() > 0 and not item["has_audio"]


def test_same_index_same_item():
    a, b = TripletDataset("stage1", "humo-nano")[5], TripletDataset("stage1", "humo-nano")[5]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["text_ids"], b["text_ids"])


def test_cached_latents_ride_along_and_pixels_can_be_skipped():
    pool = make_pool("stage2", size=4)
    latents = {"video_latents": torch.randn(4, 8, 3, 4, 4), "ref_latents": torch.randn(4, 8, 1, 4, 4)}
    ds = TripletDataset(pool, "humo-nano", latents=latents, render_video=False)
    item = ds[2]
    assert torch.equal(item["video_latents"], latents["video_latents"][2]) and "video" not in item
    with pytest.raises(ValueError, match="has 3 rows but pool"):
        TripletDataset(pool, "humo-nano", latents={"video_latents": torch.randn(3, 8, 3, 4, 4)})


def test_collate_names_the_mismatched_key():
    a = TripletDataset("stage2", "humo-nano")[0]
    b = TripletDataset("stage2", "humo-micro")[0]
    with pytest.raises(ValueError, match="cannot batch 'video'"):
        collate_triplets([a, b])
    with pytest.raises(IndexError, match="out of range for pool 'stage2' of 400 clips"):
        TripletDataset("stage2", "humo-nano").clip(10_000)
