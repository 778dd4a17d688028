"""Images and audio files -> the arrays a transformers processor turns into model inputs.

One featurizer per modality, used by training (with augmentation on the train split) and by
prediction (`sft.load`, `sft-predict`, the MLflow model), so both see the same inputs. An
input is a file path; errors name the file. No torch here: prediction with onnxruntime and
the MLflow model stay light.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from sft.errors import SFTConfigError, SFTDataError, first_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac")
MODALITIES = ("text", "image", "audio")


def load_image(path: str):
    """The image at `path` as an RGB PIL image (grayscale and RGBA are converted)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise SFTDataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise SFTDataError(f"{path}: not a readable image ({err})") from None


def load_audio(path: str, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples of the WAV or FLAC file at `path`, resampled to `sampling_rate`."""
    if not Path(path).is_file():
        raise SFTDataError(f"{path}: audio file not found")
    if Path(path).suffix.lower() == ".wav":
        samples, rate = _read_wav(path)
    else:
        samples, rate = _read_soundfile(path)
    if samples.ndim == 2:  # (frames, channels): average the channels
        samples = samples.mean(axis=1)
    if samples.size == 0:
        raise SFTDataError(f"{path}: the audio file holds no samples")
    if rate != sampling_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(rate), int(sampling_rate))
        samples = resample_poly(samples, sampling_rate // g, rate // g)
    return samples.astype(np.float32)


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    """PCM WAV (8, 16, 24 or 32 bit) with the standard library: no codec dependency."""
    try:
        with wave.open(path, "rb") as reader:
            rate, width, channels = (reader.getframerate(), reader.getsampwidth(),
                                     reader.getnchannels())
            raw = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError, OSError) as err:
        try:  # float WAV and other variants `wave` does not read: soundfile, when installed
            return _read_soundfile(path)
        except SFTDataError:
            raise SFTDataError(f"{path}: not a readable WAV file ({err})") from None
    if width == 3:  # 24 bit: widen to 32 bit little-endian
        bytes_ = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        raw = np.concatenate([np.zeros((len(bytes_), 1), np.uint8), bytes_], axis=1).tobytes()
        width = 4
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    data = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    data = (data - 128.0) / 128.0 if width == 1 else data / float(np.iinfo(dtype).max)
    return data.reshape(-1, channels) if channels > 1 else data, rate


def _read_soundfile(path: str) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:
        raise SFTDataError(f"{path}: reading this audio format needs the soundfile package "
                           f"(pip install soundfile); PCM WAV files need nothing") from None
    try:
        data, rate = soundfile.read(path, dtype="float32")
    except RuntimeError as err:
        raise SFTDataError(f"{path}: not a readable audio file ({err})") from None
    return data, int(rate)


class ImageFeaturizer:
    """Image paths -> `pixel_values` through the model's image processor (resize, rescale,
    normalize); on the train split, light augmentation first: a random crop covering
    `crop_scale`..1 of the area (then resized by the processor) and a horizontal flip."""

    modality = "image"

    def __init__(self, processor, hflip: bool = False, crop_scale: float = 1.0,
                 normalize: bool = True):
        if not 0.0 < crop_scale <= 1.0:
            raise SFTConfigError(f"data.crop_scale={crop_scale}: must be in (0, 1]")
        self.processor = processor
        self.hflip = bool(hflip)
        self.crop_scale = float(crop_scale)
        self.normalize = bool(normalize)

    def __call__(self, paths: list[str], rng: np.random.Generator | None = None) -> dict:
        """Model inputs for `paths`; `rng` given: augmented (training)."""
        images = [load_image(p) for p in paths]
        if rng is not None:
            images = [self._augment(image, rng) for image in images]
        out = self.processor(images=images, return_tensors="np", do_normalize=self.normalize)
        return {"pixel_values": np.asarray(out["pixel_values"], dtype=np.float32)}

    def _augment(self, image, rng: np.random.Generator):
        from PIL import ImageOps

        if self.crop_scale < 1.0:
            area = rng.uniform(self.crop_scale, 1.0)
            width, height = image.size
            w, h = max(1, round(width * area ** 0.5)), max(1, round(height * area ** 0.5))
            left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            image = image.crop((int(left), int(top), int(left + w), int(top + h)))
        if self.hflip and rng.random() < 0.5:
            image = ImageOps.mirror(image)
        return image

    def spec(self) -> dict:
        """What prediction needs to featurize like training did (sft_model.json)."""
        return {"modality": "image", "normalize": self.normalize}


class AudioFeaturizer:
    """Audio paths -> `input_values` through the model's feature extractor, at its sampling
    rate, each clip cut or zero-padded to `max_seconds` (so every batch has one shape)."""

    modality = "audio"

    def __init__(self, extractor, max_seconds: float = 10.0):
        if not max_seconds > 0:
            raise SFTConfigError(f"data.max_seconds={max_seconds}: must be > 0")
        rate = getattr(extractor, "sampling_rate", None)
        if not rate:
            raise SFTConfigError(f"{type(extractor).__name__} has no sampling_rate: not an "
                                 f"audio feature extractor")
        self.extractor = extractor
        self.sampling_rate = int(rate)
        self.max_seconds = float(max_seconds)
        self.samples = int(round(self.max_seconds * self.sampling_rate))

    def __call__(self, paths: list[str], rng: np.random.Generator | None = None) -> dict:
        """Model inputs for `paths` (no augmentation for audio: `rng` is unused)."""
        clips = []
        for path in paths:
            clip = load_audio(path, self.sampling_rate)[: self.samples]
            clips.append(np.pad(clip, (0, self.samples - len(clip))))
        out = self.extractor(clips, sampling_rate=self.sampling_rate, return_tensors="np")
        return {"input_values": np.asarray(out["input_values"], dtype=np.float32)}

    def spec(self) -> dict:
        return {"modality": "audio", "max_seconds": self.max_seconds}


def load_processor(path: str, modality: str, trust_remote_code: bool = False):
    """The image processor (image) or feature extractor (audio) saved with the model at
    `path`; SFTConfigError naming the key when there is none."""
    from transformers import AutoFeatureExtractor, AutoImageProcessor

    loader = {"image": AutoImageProcessor, "audio": AutoFeatureExtractor}[modality]
    try:
        return loader.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        kind = "an image processor" if modality == "image" else "a feature extractor"
        raise SFTConfigError(f"model.name_or_path: cannot load {kind} from '{path}' "
                             f"({first_line(err)})") from None


def featurizer(modality: str, processor, spec: dict):
    """The featurizer of `modality` with the settings in `spec` (data config or sft_model.json)."""
    if modality == "image":
        return ImageFeaturizer(processor, hflip=spec.get("hflip", False),
                               crop_scale=spec.get("crop_scale", 1.0),
                               normalize=spec.get("normalize", True))
    if modality == "audio":
        return AudioFeaturizer(processor, max_seconds=spec.get("max_seconds", 10.0))
    raise SFTConfigError(f"modality '{modality}' is not one of: {', '.join(MODALITIES[1:])}")
