"""A tiny offline chat tokenizer for the causal-LM tests: byte-level BPE (every string
encodes, and decodes back exactly), trained here on a few sentences, with ChatML special
tokens and a ChatML template like SmolLM2-Instruct's (eos = pad = `<|im_end|>`).

Two kinds, as real tokenizers come: `chat_tokenizer()` adds BOS `<s>` itself and its template
does not write it (so one BOS comes from the tokenizer); `chat_tokenizer(bos_in_template=True)`
adds BOS too but its template starts with `{{ bos_token }}` (Llama 3's way), where tokenizing
the rendered text with the defaults would give two.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

BOS, START, END = "<s>", "<|im_start|>", "<|im_end|>"
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = [
    "You are a helpful assistant.",
    "What is the capital of France? The capital of France is Paris.",
    "Which drug is this review about? The review is about aspirin.",
    "Rate the review from 1 to 10. The rating is 9.",
    "user assistant system hello thanks",
]


def chat_tokenizer(bos_in_template: bool = False, smollm2: bool = False) -> PreTrainedTokenizerFast:
    """A fast byte-level BPE tokenizer with a ChatML template; eos = pad = `<|im_end|>`, BOS
    `<s>` added by its post-processor (and written by the template when `bos_in_template`).

    `smollm2`: as SmolLM2-Instruct's tokenizer is instead: bos_token `<|im_start|>` (which
    the template writes at every turn) and no post-processor adding anything."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[BOS, START, END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    if smollm2:
        return PreTrainedTokenizerFast(
            tokenizer_object=core,
            bos_token=START,
            eos_token=END,
            pad_token=END,
            chat_template=CHATML,
        )
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, core.token_to_id(BOS))]
    )
    template = ("{{ bos_token }}" + CHATML) if bos_in_template else CHATML
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=END,
        pad_token=END,
        additional_special_tokens=[START],
        chat_template=template,
    )
