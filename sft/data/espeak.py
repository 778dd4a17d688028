"""Offline speech synthesis through the espeak-ng library that the `espeakng-loader` wheel
ships (its shared library and voice data), called with ctypes: no system package, no network.

espeak-ng is a formant synthesizer: it speaks any text in a language's voice, changed by a
voice variant (the files in espeak-ng-data/voices/!v: formants, pitch range, breath) and by
the rate (words per minute) and base pitch set per call. The library keeps one global state,
so one lock guards initialization and every synthesis.
API: espeak-ng's speak_lib.h (espeak_Initialize, espeak_SetSynthCallback,
espeak_SetVoiceByName, espeak_SetParameter, espeak_Synth, espeak_Synchronize).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from sft.errors import SFTConfigError, SFTDataError

INSTALL = "pip install espeakng-loader"
AUDIO_OUTPUT_RETRIEVAL = 1  # speak_lib.h: samples go to the callback, not a sound card
ESPEAK_RATE, ESPEAK_PITCH = 1, 3  # speak_lib.h espeak_PARAMETER
POS_CHARACTER = 1  # speak_lib.h espeak_POSITION_TYPE
EE_OK = 0  # speak_lib.h espeak_ERROR
RATE_RANGE = (80, 450)  # words per minute espeak-ng accepts
PITCH_RANGE = (0, 99)  # base pitch, espeak-ng's own scale

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.Lock()
_STATE: dict = {}  # "lib", "rate", "callback" (kept referenced: the library calls it), "chunks"


def load_library():
    """The initialized library and its output rate (Hz); loaded once per process.

    Raises SFTConfigError naming the package to install when the wheel or its library is
    missing, or when the library cannot start on the wheel's voice data.
    """
    if "lib" in _STATE:
        return _STATE["lib"], _STATE["rate"]
    try:
        # lazy: only speech synthesis needs the wheel; the rest of sft runs without it
        from espeakng_loader import get_data_path, get_library_path
    except ImportError:
        raise SFTConfigError(
            f"speech synthesis needs the espeakng-loader package (espeak-ng): {INSTALL}"
        ) from None
    try:
        lib = ctypes.CDLL(str(get_library_path()))
    except OSError as err:
        raise SFTConfigError(
            f"the espeak-ng library of espeakng-loader cannot be loaded ({err}); "
            f"reinstall it: {INSTALL}"
        ) from None
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_RETRIEVAL, 0, str(get_data_path()).encode(), 0)
    if rate <= 0:
        raise SFTConfigError(
            f"espeak-ng cannot start on its voice data {get_data_path()} (error {rate}); "
            f"reinstall it: {INSTALL}"
        )
    chunks: list[np.ndarray] = []

    @_SYNTH_CALLBACK
    def collect(wav, n, _events):
        if n > 0 and wav:  # the last call brings no samples (n == 0, wav NULL)
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0: go on synthesizing

    lib.espeak_SetSynthCallback(collect)
    _STATE.update(lib=lib, rate=rate, callback=collect, chunks=chunks)
    return lib, rate


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50, seed: int = 0):
    """Speak `text` in espeak-ng's `voice` ("en", or a language plus a variant: "en+f3").

    `rate`: words per minute (80..450); `pitch`: base pitch (0..99, 50 is the voice's own).
    `seed`: seeds the noise of breathy variants (espeak_ng_SetRandSeed; unseeded, they differ
    from one process to the next).
    Returns (samples, sampling_rate): int16 mono samples, shape (samples,), at the library's
    rate (22,050 Hz). The same arguments give the same samples in a fresh process; later in a
    process they may differ a little (espeak-ng keeps state between utterances).
    Raises SFTConfigError for an unknown voice or a rate/pitch out of range, SFTDataError when
    the text gives no audio, and the library's SFTConfigError when it cannot be loaded.
    """
    for name, value, (low, high) in (("rate", rate, RATE_RANGE), ("pitch", pitch, PITCH_RANGE)):
        if not low <= int(value) <= high:
            raise SFTConfigError(f"espeak-ng {name} {value} is outside {low}..{high}")
    encoded = text.encode("utf-8") + b"\0"
    with _LOCK:
        lib, sampling_rate = load_library()
        if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise SFTConfigError(f"espeak-ng has no voice {voice!r} (e.g. 'en', 'en+f3')")
        lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
        lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        lib.espeak_ng_SetRandSeed(ctypes.c_long(int(seed)))
        chunks = _STATE["chunks"]
        chunks.clear()
        status = lib.espeak_Synth(encoded, len(encoded), 0, POS_CHARACTER, 0, 0, None, None)
        lib.espeak_Synchronize()
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        chunks.clear()
    if status != EE_OK or samples.size == 0:
        raise SFTDataError(f"espeak-ng gave no audio for {text!r} (voice {voice}, error {status})")
    return samples, sampling_rate
