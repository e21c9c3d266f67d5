import pytest
from agent_shell.tools import check_allergens, parse_request, search_catalog
from snacktopus_core.catalog import by_sku
from snacktopus_core.models import Profile
from workflow_host.settings import WorkflowSettings
from workflow_host.workflow import WorkflowInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Something gluten-free for 12 people under $80", (12, 80.0)),
        ("snacks for 30 under 120 dollars", (30, 120.0)),
        ("we are 7 engineers", (7, 60.0)),
        ("snacks please", (10, 60.0)),
        ("for 9999 people, $999999", (500, 10_000.0)),
        ("$12.50 of fruit for 3 people", (3, 12.5)),
        # found by make eval: the headcount read as the default 10
        ("Snacks for a team of 8, budget $40", (8, 40.0)),
    ],
)
def test_parse_request_reads_headcount_and_budget_within_bounds(text, expected):
    assert parse_request(text, 10, 60.0) == expected


def test_search_and_allergen_check_agree():
    found = search_catalog("chocolate", ["milk"], [])
    assert found and all("milk" not in i.allergens for i in found)
    profile = Profile(user_id="u", allergies=["milk"])
    milk_sku = next(s for s, i in by_sku().items() if "milk" in i.allergens)
    assert check_allergens([milk_sku, found[0].sku], profile) == {
        milk_sku: ["milk"],
        found[0].sku: [],
    }


def test_workflow_input_takes_a_bare_order_with_todays_settings():
    settings = WorkflowSettings(
        _env_file=None,
        approval_threshold_usd=42,
        approval_timeout_s=7,
        compensate_release_quote=False,
    )
    bare = {"order_id": "o1", "user_id": "u1", "request": "x", "budget_usd": 5, "headcount": 2}
    inp = WorkflowInput.parse(bare, settings)
    assert (inp.approval_threshold_usd, inp.approval_timeout_s) == (42, 7)
    assert inp.disabled_undo == ["release_quote"]
    full = WorkflowInput.parse(inp.model_dump(mode="json"), WorkflowSettings(_env_file=None))
    assert full == inp  # a full input keeps what was captured at start
