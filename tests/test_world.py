"""The toy world: determinism, the lip law in pixels, cross-paired references, captions."""

import numpy as np
import pytest

from humo_lite.data import ClipSpec, Identity, Scene, SpeechSpec, make_clip, make_pool, render_clip, synth_speech
from humo_lite.data.attributes import SKIN_TONES, heldout_scene_pairs
from humo_lite.data.captions import VOCAB, Tokenizer, caption
from humo_lite.data.render import mouth_darkness
from humo_lite.data.world import closest_frame_distance


def _spec(seed=7, speech_seed=3):
    return ClipSpec(Identity(1, 2, 3, 1, 2), Scene.from_names("blue", "red", "left", "nodding"),
                    SpeechSpec("synth", seed=speech_seed), seed)


def test_same_seed_same_bytes_other_seed_differs():
    a, b = make_clip(_spec()), make_clip(_spec())
    for field in ("video", "face_mask", "reference", "audio", "audio_features", "mouth"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.caption == b.caption
    c = make_clip(_spec(seed=8, speech_seed=4))
    assert not np.array_equal(a.video, c.video)
    assert not np.array_equal(a.audio, c.audio)
    assert not np.array_equal(a.reference, c.reference)


def test_clip_shapes_follow_the_preset(world):
    clip = make_clip(_spec(), world)
    assert clip.video.shape == (9, 16, 16, 3) and clip.video.dtype == np.float32
    assert clip.face_mask.shape == (9, 16, 16) and clip.face_mask.dtype == bool
    assert clip.reference.shape == (16, 16, 3)
    assert clip.audio.shape == (9 * 640,)
    assert clip.audio_features.shape == (9, 80) and clip.mouth.shape == (9,)
    assert 0.0 <= clip.video.min() and clip.video.max() <= 1.0


def _band_envelope(audio, num_frames):
    """RMS per video frame: an audio envelope computed independently of the lip law's code."""
    return np.sqrt((audio[: num_frames * 640].reshape(num_frames, 640) ** 2).mean(axis=1))


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_lip_law_reaches_the_pixels_and_shuffled_audio_does_not():
    pool = make_pool("foundation")
    matched, shuffled = [], []
    for i in range(24):
        clip, other = make_clip(pool[i]), make_clip(pool[i + 24])
        mouth_px = mouth_darkness(clip.video, clip.face_mask)
        matched.append(np.corrcoef(mouth_px, _band_envelope(clip.audio, clip.num_frames))[0, 1])
        shuffled.append(np.corrcoef(mouth_px, _band_envelope(other.audio, other.num_frames))[0, 1])
    matched, shuffled = np.nan_to_num(matched), np.nan_to_num(shuffled)  # a silent clip has r = nan
    assert np.mean(matched) > 0.6, matched
    assert abs(np.mean(shuffled)) < 0.25, shuffled
    assert np.mean(matched) - np.mean(shuffled) > 0.5


def test_mouth_is_closed_in_silence():
    audio = synth_speech(17 * 640, seed=5)
    audio[: 8 * 640] = 0.0  # the first 8 frames are silent
    clip = render_clip(Identity(0, 0, 0, 0, 0), Scene(0, 0, 1, 0), audio)
    assert np.all(clip.mouth[:7] == 0.0)  # the smoothing may reach one frame into the silence
    assert clip.mouth[9:].max() > 0.3
    px = mouth_darkness(clip.video, clip.face_mask)
    assert px[:7].max() < px[9:].max() * 0.6


MIN_REFERENCE_DISTANCE = 0.08  # a cross-paired reference is at least this far from every frame of its clip


def test_reference_is_never_a_frame_and_carries_the_identity():
    pool = make_pool("stage1")
    for i in range(20):
        clip = make_clip(pool[i])
        distance = closest_frame_distance(clip.video, clip.reference)
        assert distance > MIN_REFERENCE_DISTANCE, f"clip {i}: reference is {distance:.3f} from a frame"
        skin = np.asarray(SKIN_TONES[pool[i].identity.names["skin_tone"]])
        face_px = clip.video[clip.face_mask]
        assert (np.abs(face_px - skin).max(axis=1) < 0.01).mean() > 0.1  # frames show the skin tone...
        ref_px = clip.reference.reshape(-1, 3)
        assert np.abs(ref_px - skin).max(axis=1).min() < 0.01  # ...and so does the reference
        assert (ref_px.min(axis=1) > 0.99).mean() > 0.3  # on white: no room, no clothing
        assert clip.labels["identity"] == pool[i].identity.index


def test_a_copied_frame_would_be_caught():
    """The check above can fail: a frame cut from the clip, even re-noised, is caught as a copy."""
    pool = make_pool("stage1")
    rng = np.random.default_rng(0)
    for i in range(10):
        clip = make_clip(pool[i])
        frame = clip.video[int(rng.integers(clip.num_frames))]
        copied = np.clip(frame + rng.normal(0, 0.03, frame.shape), 0, 1)  # a copy with a little noise
        assert closest_frame_distance(clip.video, copied) < MIN_REFERENCE_DISTANCE
        other = make_clip(pool[i + 10])  # another clip's frame is not a copy of this one
        assert closest_frame_distance(clip.video, other.video[0]) > MIN_REFERENCE_DISTANCE


def test_captions_name_the_scene_and_tokenize():
    tok = Tokenizer()
    rng = np.random.default_rng(0)
    for scene in Scene.all()[::17]:
        text = caption(scene, rng)
        names = scene.names
        assert names["background"] in text and names["clothing"] in text
        ids, mask = tok.encode(text)
        assert mask.sum() > 5 and tok.decode(ids).lower().replace(",", "") == text.lower().replace(",", "")
    assert "an orange room" in caption(Scene.from_names("orange", "red", "left", "still"), template=0)
    assert len(set(VOCAB)) == len(VOCAB)


def test_unknown_words_raise_or_map_to_unk():
    with pytest.raises(ValueError, match="outside the vocabulary.*violet"):
        Tokenizer().encode("a person in a violet shirt")
    ids, _ = Tokenizer(on_unknown="unk").encode("a person in a violet shirt")
    assert 1 in ids.tolist()
    empty_ids, empty_mask = Tokenizer().encode("")
    assert not empty_mask.any() and not empty_ids.any()


def test_heldout_scene_pairs_cover_each_colour_once():
    pairs = heldout_scene_pairs(0)
    assert len(pairs) == 6
    assert sorted(b for b, _ in pairs) == list(range(6)) and sorted(c for _, c in pairs) == list(range(6))


def test_bad_identity_or_scene_names_raise():
    with pytest.raises(ValueError, match="unknown background 'violet'"):
        Scene.from_names("violet", "red", "left", "still")
    with pytest.raises(ValueError, match="hair_style must be an index"):
        Identity(0, 0, 9, 0, 0)
