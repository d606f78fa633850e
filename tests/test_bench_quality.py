"""The quality benchmark's own arithmetic: which questions count, recall@k, and the in-place
splice of its section into docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path

from bench import quality, report

CONVERSATION = {
    "speaker_a": "Ann",
    "speaker_b": "Bo",
    "session_1_date_time": "1:56 pm on 8 May, 2023",
    "session_1": [
        {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a dog."},
        {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice!", "blip_caption": "a photo of a dog"},
    ],
    "session_2_date_time": "2:00 pm on 9 May, 2023",
    "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "The dog is called Rex."}],
    "qa": [
        {"question": "What pet?", "answer": "dog", "evidence": ["D1:1"], "category": 4},
        {"question": "Dog's name?", "answer": "Rex", "evidence": ["D1:1; D2:1"], "category": 1},
        {"question": "Unanswerable?", "evidence": ["D1:2"], "category": 5},
        {"question": "No evidence?", "answer": "x", "evidence": [], "category": 3},
    ],
}


def test_turns_and_questions(tmp_path: Path) -> None:
    path = tmp_path / "7.json"
    path.write_text(json.dumps(CONVERSATION))
    conversation = quality.load_conversation(path)
    assert conversation.id == "7"
    assert [t["content"] for t in conversation.turns] == [
        "Ann: I adopted a dog.",
        "Bo: Nice!",
        "Ann: The dog is called Rex.",
    ]
    assert {t["user_id"] for t in conversation.turns} == {"7"}
    assert conversation.turns[2]["metadata"] == {
        "dia_id": "D2:1",
        "session": 2,
        "date": "2:00 pm on 9 May, 2023",
    }
    # category 5 and questions without evidence are left out; "a; b" is two evidence turns
    assert [(q.category, q.evidence) for q in conversation.questions] == [
        (4, frozenset({"D1:1"})),
        (1, frozenset({"D1:1", "D2:1"})),
    ]


def test_recall_is_the_share_of_evidence_in_the_top_k() -> None:
    one = quality.Question("7", 4, "q", frozenset({"a"}))
    two = quality.Question("7", 1, "q", frozenset({"a", "b"}))
    scores = quality._scores([(one, ["x", "a"]), (two, ["b", "x", "y", "z", "w", "a"])])
    assert scores["single-hop"]["r@1"] == 0 and scores["single-hop"]["r@5"] == 1
    assert scores["multi-hop"]["r@1"] == 0.5 and scores["multi-hop"]["r@5"] == 0.5
    assert scores["multi-hop"]["r@10"] == 1
    assert scores["overall"]["r@1"] == 0.25 and scores["overall"]["questions"] == 2
    assert "temporal" not in scores


def test_splice_replaces_its_section_in_place(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    md.write_text("# B\n\n## 1. A\n\na\n\n## Notes on this run\n\nn\n")
    report.splice(md, [report.QUALITY_HEADING, "", "first", ""])
    assert md.read_text() == (
        f"# B\n\n## 1. A\n\na\n\n{report.QUALITY_HEADING}\n\nfirst\n\n## Notes on this run\n\nn\n"
    )
    report.splice(md, [report.QUALITY_HEADING, "", "second", ""])
    assert md.read_text() == (
        f"# B\n\n## 1. A\n\na\n\n{report.QUALITY_HEADING}\n\nsecond\n\n## Notes on this run\n\nn\n"
    )
