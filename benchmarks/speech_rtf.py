"""Real-time factor of Whisper-family recognisers on this machine: seconds of compute per second of audio.

    PYTHONPATH=. .venv/bin/python benchmarks/speech_rtf.py [--models whisper-base whisper-large-v3-turbo]
        [--tokens 120] [--threads N] [--out DIR]

No download: each architecture is built from its published dimensions (written here by hand from the
model cards' ``config.json``; not fetched) with random weights, which cost exactly what trained ones do.
One 30 s window is encoded, then ``--tokens`` tokens are decoded greedily with the KV cache (about what 30 s
of fluent speech needs with timestamps: ~75 words); RTF = (encode + decode seconds) / 30. Below 1 is faster
than real time. The best of ``--repeats`` runs is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WINDOW_S = 30.0

# Published dimensions (openai/whisper-base, openai/whisper-large-v3-turbo config.json), typed in by hand.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "whisper-base": {
        "vocab_size": 51865,
        "num_mel_bins": 80,
        "d_model": 512,
        "encoder_layers": 6,
        "decoder_layers": 6,
        "encoder_attention_heads": 8,
        "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048,
        "decoder_ffn_dim": 2048,
    },
    "whisper-large-v3-turbo": {
        "vocab_size": 51866,
        "num_mel_bins": 128,
        "d_model": 1280,
        "encoder_layers": 32,
        "decoder_layers": 4,
        "encoder_attention_heads": 20,
        "decoder_attention_heads": 20,
        "encoder_ffn_dim": 5120,
        "decoder_ffn_dim": 5120,
    },
}


def measure(name: str, tokens: int, repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    dims = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(
        WhisperConfig(**dims, max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50258)
    ).eval()
    extractor = WhisperFeatureExtractor(feature_size=dims["num_mel_bins"])
    audio = np.random.default_rng(0).normal(0, 0.1, int(WINDOW_S * 16000)).astype(np.float32)
    best: dict[str, float] | None = None
    for _ in range(repeats):
        started = time.perf_counter()
        features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        with torch.inference_mode():
            encoded = model.model.encoder(features)
            encode_s = time.perf_counter() - started
            ids = torch.tensor([[50258, 50259, 50360]])
            out = model(input_features=None, encoder_outputs=encoded, decoder_input_ids=ids, use_cache=True)
            for _ in range(tokens - 1):
                nxt = out.logits[:, -1:].argmax(-1)
                out = model(encoder_outputs=encoded, decoder_input_ids=nxt, past_key_values=out.past_key_values)
        total = time.perf_counter() - started
        run = {"encode_s": encode_s, "decode_s": total - encode_s, "total_s": total}
        if best is None or total < best["total_s"]:
            best = run
    assert best is not None
    params = sum(p.numel() for p in model.parameters())
    return {
        "model": name,
        "parameters_m": round(params / 1e6, 1),
        "tokens": tokens,
        "encode_s": round(best["encode_s"], 2),
        "decode_s": round(best["decode_s"], 2),
        "rtf": round(best["total_s"] / WINDOW_S, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--tokens", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for name in args.models:
        result = measure(name, args.tokens, args.repeats)
        results.append(result)
        print(
            f"{name}: {result['parameters_m']}M params, encode {result['encode_s']} s + decode {result['tokens']} "
            f"tokens {result['decode_s']} s per 30 s window: RTF {result['rtf']}"
        )
    summary = {
        "runs": results,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech_rtf.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
