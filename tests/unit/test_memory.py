from datetime import timedelta

from agent_shell.memory import (
    Answer,
    MemoryEntry,
    Question,
    Recall,
    SessionDoc,
    extractive_summary,
    fold,
    prune_entries,
    sessions_to_drop,
)
from agent_shell.settings import AgentSettings
from snacktopus_core.catalog import load_catalog, price_basket
from snacktopus_core.models import utcnow

S = AgentSettings(
    _env_file=None,
    memory_keep_recent=2,
    memory_max_entries=3,
    memory_max_sessions=2,
    memory_max_age_days=10,
)


def entry(i: int, days_ago: float = 0) -> MemoryEntry:
    sku = load_catalog()[i].sku
    return MemoryEntry(
        entry_id=f"e{i}",
        user_id="u",
        session_id="s",
        question=Question(text=f"question {i}", asked_at=utcnow() - timedelta(days=days_ago)),
        answer=Answer(text=f"answer {i}", basket=price_basket([(sku, 2)])),
    )


def test_fold_keeps_the_newest_entries_and_counts_the_folded():
    doc = SessionDoc(user_id="u", session_id="s", entries=[entry(i) for i in range(5)])
    folded = fold(doc, S, "summary text")
    assert [e.entry_id for e in folded.entries] == ["e3", "e4"]
    assert folded.summary == "summary text" and folded.summarized_count == 3
    assert fold(folded, S, "again").summarized_count == 3  # nothing more to fold


def test_extractive_summary_names_questions_and_baskets_and_keeps_the_old_summary():
    text = extractive_summary([entry(0), entry(1)], "earlier: cookies")
    lines = text.splitlines()
    assert lines[0] == "earlier: cookies"
    assert "question 0" in lines[1] and "2x" in lines[1] and "$" in lines[1]


def test_prune_bounds_entries_by_count_and_age():
    doc = SessionDoc(
        user_id="u",
        session_id="s",
        entries=[entry(0, days_ago=30), entry(1), entry(2), entry(3), entry(4)],
    )
    pruned = prune_entries(doc, S, utcnow())
    assert [e.entry_id for e in pruned.entries] == ["e2", "e3", "e4"]


def test_sessions_to_drop_removes_old_then_the_oldest_over_the_limit():
    now = utcnow()
    sessions = {
        "ancient": (now - timedelta(days=40)).isoformat(),
        "a": (now - timedelta(days=3)).isoformat(),
        "b": (now - timedelta(days=2)).isoformat(),
        "c": (now - timedelta(days=1)).isoformat(),
    }
    assert sessions_to_drop(sessions, S, now) == ["ancient", "a"]


def test_recall_reports_what_it_used():
    r = Recall(summary="s", entries=[entry(1)])
    assert r.used == ["summary", "entry:e1"]
    assert Recall().used == []
