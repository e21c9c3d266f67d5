"""The raw-model phase (loadtest/model_limit.py) sends agent-shell's own recommend call."""

from agent_shell.agent import INSTRUCTIONS
from agent_shell.tools import parse_request

from loadtest.model_limit import LOAD_ORDERS, RECOMMEND_SYSTEM


def test_the_raw_phase_sends_agent_shells_recommend_system_message():
    assert " ".join(INSTRUCTIONS) == RECOMMEND_SYSTEM


def test_the_raw_phase_asks_for_make_loads_two_orders():
    # loadtest/locustfile.py: SMALL (4 people, $20) and BIG (60 people, $300).
    assert [parse_request(q, 10, 40.0) for q in LOAD_ORDERS] == [(4, 20.0), (60, 300.0)]
