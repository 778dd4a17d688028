"""Write the tiny chat Llama asset of this folder (no weights: model=llama_chat builds it with
init=random): config.json and generation_config.json of a 2-layer LlamaForCausalLM of width
32, and a byte-level BPE tokenizer with ChatML special tokens and a ChatML template like
SmolLM2-Instruct's, eos = pad = `<|im_end|>` (so every test covers the pad == eos case).

The tokenizer is trained here on a few sentences (vocabulary 400: the 256 byte symbols, the
three special tokens and merges), so every string encodes and decodes back exactly, offline.
`chat_tokenizer` is also what the causal-LM tests build their tokenizers with
(tests/helpers/chat.py), in three kinds as real tokenizers come: BOS `<s>` added by the
tokenizer and not written by the template (the asset's); BOS added and also written by the
template (`bos_in_template`, Llama 3's way, where tokenizing the rendered text with the
defaults would give two); SmolLM2's (`smollm2`: bos_token `<|im_start|>`, nothing added).

    python sft/assets/llama_chat/make.py        # rewrites the files beside this script
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
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


def chat_tokenizer(bos_in_template: bool = False, smollm2: bool = False):
    """A fast byte-level BPE tokenizer (transformers PreTrainedTokenizerFast) with a ChatML
    template; eos = pad = `<|im_end|>`, BOS `<s>` added by its post-processor (and written by
    the template when `bos_in_template`). `smollm2`: as SmolLM2-Instruct's tokenizer is
    instead: bos_token `<|im_start|>` (which the template writes at every turn) and no
    post-processor adding anything."""
    # Here, not at the top: the tests import this module's constants without building.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

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


def main(folder: Path = FOLDER) -> None:
    """Write the tokenizer, config.json and generation_config.json into `folder`."""
    from transformers import GenerationConfig, LlamaConfig  # here: as chat_tokenizer's

    tokenizer = chat_tokenizer()
    # The template inside tokenizer_config.json (not chat_template.jinja): the package data
    # of sft's wheel takes the assets' *.json files.
    tokenizer.save_pretrained(folder, save_jinja_files=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (BOS, END)}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=ids[BOS],
        eos_token_id=ids[END],
        pad_token_id=ids[END],
        tie_word_embeddings=False,
    )
    config.save_pretrained(folder)
    GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=ids[END], pad_token_id=ids[END], do_sample=False
    ).save_pretrained(folder)


if __name__ == "__main__":
    main()
