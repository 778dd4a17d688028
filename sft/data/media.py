"""Images and audio files -> the arrays a transformers processor turns into model inputs.

One featurizer per modality, used by training (with augmentation on the train split) and by
prediction (`sft.load`, `sft-predict`, the MLflow model), so both see the same inputs. An
input is a file path; errors name the file. No torch here: prediction with onnxruntime and
the MLflow model stay light.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from sft.errors import SFTConfigError, SFTDataError, first_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
MODALITIES = ("text", "image", "audio")


def load_image(path: str):
    """The image at `path` as an RGB PIL image (grayscale and RGBA are converted)."""
    # lazy: text runs and sft-predict on a CSV skip PIL
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise SFTDataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise SFTDataError(f"{path}: not a readable image ({err})") from None


def load_audio(path: str, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples, shape (samples,), values in [-1, 1], of the audio file at `path`
    (WAV, FLAC, OGG/Vorbis: what libsndfile reads, through soundfile), channels averaged and
    resampled to `sampling_rate` Hz (scipy's polyphase `resample_poly`).

    Raises SFTDataError naming the file when it is missing, not a readable audio file of its
    kind (corrupt, truncated header, another format), or holds no samples.
    """
    if not Path(path).is_file():
        raise SFTDataError(f"{path}: audio file not found")
    samples, rate = _read_audio(path)
    if samples.size == 0:
        raise SFTDataError(f"{path}: the audio file holds no samples")
    return to_mono_at(samples, rate, sampling_rate)


def to_mono_at(samples: np.ndarray, rate: int, sampling_rate: int) -> np.ndarray:
    """(frames,) or (frames, channels) samples at `rate` Hz -> mono float32 (samples,) at
    `sampling_rate` Hz."""
    if samples.ndim == 2:  # (frames, channels): average the channels
        # A product, not samples.mean(axis=1): numpy reduces a 2-wide inner axis slowly
        # (measured: 1.3 ms vs 0.04 ms for a 4 s stereo clip at 16 kHz).
        samples = samples @ np.full(samples.shape[1], 1.0 / samples.shape[1], samples.dtype)
    if rate != sampling_rate:
        from math import gcd  # lazy, with scipy below: only audio resamples

        from scipy.signal import resample_poly  # lazy: only audio resamples

        g = gcd(int(rate), int(sampling_rate))
        samples = resample_poly(samples, sampling_rate // g, rate // g)
    return samples.astype(np.float32, copy=False)


def _read_audio(path: str) -> tuple[np.ndarray, int]:
    """Samples (float32, (frames,) or (frames, channels)) and rate of any libsndfile format.
    soundfile rather than the stdlib `wave` for WAV too: one reader for every format, float
    and 24-bit WAV included. It decodes 16-bit PCM WAV slower, but resampling outweighs
    decoding (benchmarks/audio_decode.py, 400 1-s mono clips at 16 kHz: soundfile takes 2.8x
    the stdlib's time to decode, 1.19x with mixing and resampling to 8 kHz; ~60 us a clip)."""
    import soundfile  # lazy: only audio runs load libsndfile

    try:
        data, rate = soundfile.read(path, dtype="float32")
    except (soundfile.SoundFileError, RuntimeError) as err:
        reason = getattr(err, "error_string", None) or str(err)
        kind = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(
            Path(path).suffix.lower(), "audio"
        )
        raise SFTDataError(f"{path}: not a readable {kind} file ({reason})") from None
    return data, int(rate)


class ImageFeaturizer:
    """Image paths -> `pixel_values` [batch, 3, h, w] float32 through the model's image
    processor, in two steps: `base` (decode, then the processor's resize/crop only: uint8
    [h, w, 3] at the model's size; what sft.data.media_cache caches) and `from_base`
    (on the train split, light augmentation: a random crop covering `crop_scale`..1 of the
    area, resized back, and a horizontal flip; then the processor's rescale and normalize).
    Measured exact: pixel_values equal the processor's on the file (tests/data/test_images.py)."""

    modality = "image"

    def __init__(
        self, processor, hflip: bool = False, crop_scale: float = 1.0, normalize: bool = True
    ):
        if not 0.0 < crop_scale <= 1.0:
            raise SFTConfigError(f"data.crop_scale={crop_scale}: must be in (0, 1]")
        self.processor = processor
        self.hflip = bool(hflip)
        self.crop_scale = float(crop_scale)
        self.normalize = bool(normalize)

    def __call__(self, paths: list[str], rng: np.random.Generator | None = None) -> dict:
        """Model inputs for `paths`; `rng` given: augmented (training)."""
        return self.from_base(self.base(paths), rng)

    def base(self, paths: list[str]) -> list[np.ndarray]:
        """Each image decoded and resized (cropped) by the processor: uint8 [h, w, 3]."""
        out = self.processor(
            images=[load_image(p) for p in paths],
            do_rescale=False,
            do_normalize=False,
            return_tensors="np",
        )["pixel_values"]
        return [np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0) for x in out]

    def from_base(self, bases: list[np.ndarray], rng: np.random.Generator | None = None) -> dict:
        """Model inputs from `base` arrays; `rng` given: augmented (training)."""
        from PIL import Image  # lazy: as load_image

        images = [Image.fromarray(b) for b in bases]
        if rng is not None:
            images = [self._augment(image, rng) for image in images]
        # The base is at the model's size already: resizing (ResNet: resize + center crop)
        # again would change it.
        keep = {k: False for k in ("do_resize", "do_center_crop") if hasattr(self.processor, k)}
        out = self.processor(
            images=images, return_tensors="np", do_normalize=self.normalize, **keep
        )
        return {"pixel_values": np.asarray(out["pixel_values"], dtype=np.float32)}

    def _augment(self, image, rng: np.random.Generator):
        from PIL import Image, ImageOps  # lazy: as PIL above

        if self.crop_scale < 1.0:
            area = rng.uniform(self.crop_scale, 1.0)
            width, height = image.size
            w, h = max(1, round(width * area**0.5)), max(1, round(height * area**0.5))
            left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            image = image.crop((int(left), int(top), int(left + w), int(top + h)))
            image = image.resize((width, height), Image.BILINEAR)
        if self.hflip and rng.random() < 0.5:
            image = ImageOps.mirror(image)
        return image

    def spec(self) -> dict:
        """What prediction needs to featurize like training did (sft_model.json)."""
        return {"modality": "image", "normalize": self.normalize}


class AudioFeaturizer:
    """Audio paths -> `input_values` [batch, samples] float32 through the model's feature
    extractor, at its sampling rate, each clip cut to `max_seconds`.

    An extractor that returns an attention mask (`return_attention_mask`, e.g. wav2vec2 with
    layer-norm convolutions) pads the clips to the longest of the batch and gives
    `attention_mask` [batch, samples] int64 (1: a real sample): the model ignores the padding,
    so a clip's prediction does not depend on what it is batched with. Any other extractor's
    model sees the padding (group-norm wav2vec2, HuBERT base, AST), so every clip is
    zero-padded to `max_seconds`: one shape, the same input in training and prediction."""

    modality = "audio"

    def __init__(self, extractor, max_seconds: float = 10.0):
        if not max_seconds > 0:
            raise SFTConfigError(f"data.max_seconds={max_seconds}: must be > 0")
        rate = getattr(extractor, "sampling_rate", None)
        if not rate:
            raise SFTConfigError(
                f"{type(extractor).__name__} has no sampling_rate: not an audio feature extractor"
            )
        self.extractor = extractor
        self.sampling_rate = int(rate)
        self.max_seconds = float(max_seconds)
        self.samples = round(self.max_seconds * self.sampling_rate)
        self.masked = bool(getattr(extractor, "return_attention_mask", False))

    def __call__(self, paths: list[str], rng: np.random.Generator | None = None) -> dict:
        """Model inputs for `paths` (no augmentation for audio: `rng` is unused)."""
        return self.from_base(self.base(paths), rng)

    def base(self, paths: list[str]) -> list[np.ndarray]:
        """Each clip decoded, mono, resampled and cut to `max_seconds`: float32 [samples]."""
        return [load_audio(path, self.sampling_rate)[: self.samples] for path in paths]

    def from_base(self, clips: list[np.ndarray], rng: np.random.Generator | None = None) -> dict:
        """Model inputs from `base` clips."""
        if self.masked:  # the extractor pads and normalizes each clip over its real samples
            out = self.extractor(
                clips,
                sampling_rate=self.sampling_rate,
                padding="longest",
                return_attention_mask=True,
                return_tensors="np",
            )
            return {
                "input_values": np.asarray(out["input_values"], dtype=np.float32),
                "attention_mask": np.asarray(out["attention_mask"], dtype=np.int64),
            }
        clips = [np.pad(clip, (0, self.samples - len(clip))) for clip in clips]
        out = self.extractor(clips, sampling_rate=self.sampling_rate, return_tensors="np")
        return {"input_values": np.asarray(out["input_values"], dtype=np.float32)}

    def spec(self) -> dict:
        return {"modality": "audio", "max_seconds": self.max_seconds}


def load_processor(path: str, modality: str, trust_remote_code: bool = False):
    """The image processor (image) or feature extractor (audio) saved with the model at
    `path`; for an encoder-decoder audio model (Whisper), its processor: the feature
    extractor with the model's own tokenizer (what its decoder writes). SFTConfigError naming
    the key when there is none."""
    # lazy: transformers only when a media model's processor is loaded
    from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor

    loader = {"image": AutoImageProcessor, "audio": AutoFeatureExtractor}[modality]
    if modality == "audio" and is_encoder_decoder(path, trust_remote_code):
        loader = AutoProcessor
    kind = "an image processor" if modality == "image" else "a feature extractor"
    folder = Path(path).expanduser()
    if folder.is_dir() and not any(
        (folder / name).is_file() for name in ("preprocessor_config.json", "processor_config.json")
    ):
        # e.g. the default text model with image data: transformers' own error is a paragraph
        example = "model=vit" if modality == "image" else "model=wav2vec2"
        raise SFTConfigError(
            f"model.name_or_path: '{path}' has no {kind[kind.index(' ') + 1 :]} "
            f"(no preprocessor_config.json): {modality} data needs an "
            f"{modality} model, e.g. {example}"
        )
    try:
        return loader.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise SFTConfigError(
            f"model.name_or_path: cannot load {kind} from '{path}' ({first_line(err)})"
        ) from None


def is_encoder_decoder(path: str, trust_remote_code: bool = False) -> bool:
    """Whether the model config at `path` is an encoder-decoder's (False when none loads:
    the processor's load then says why)."""
    from transformers import AutoConfig  # lazy: with the processor

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError):
        return False
    return bool(getattr(config, "is_encoder_decoder", False))


def featurizer(modality: str, processor, spec: dict):
    """The featurizer of `modality` with the settings in `spec` (data config or sft_model.json)."""
    if modality == "image":
        return ImageFeaturizer(
            processor,
            hflip=spec.get("hflip", False),
            crop_scale=spec.get("crop_scale", 1.0),
            normalize=spec.get("normalize", True),
        )
    if modality == "audio":
        # an encoder-decoder model's processor holds its feature extractor
        extractor = getattr(processor, "feature_extractor", processor)
        if spec.get("audio_normalize"):
            # a transformers-native folder's extractor leaves normalizing to the model's
            # forward, for transformers' pipeline (sft.model.hf_native.for_pipelines); sft
            # normalizes here, as training did. A copy: the loaded extractor stays as saved.
            extractor = copy.copy(extractor)
            extractor.do_normalize = True
        return AudioFeaturizer(extractor, max_seconds=spec.get("max_seconds", 10.0))
    raise SFTConfigError(f"modality '{modality}' is not one of: {', '.join(MODALITIES[1:])}")
