"""CombinedModel: the immutable value the failover code runs on."""

from __future__ import annotations

import pytest

from toolkit.combined_model import CombinedModel, Member, priority_order
from toolkit.errors import UserError


def test_priority_order_is_the_seed_rule():
    assert priority_order(["openrouter", "anthropic", "github-copilot", "amazon-bedrock"], ["github-copilot"]) == [
        "github-copilot",
        "amazon-bedrock",
        "anthropic",
        "openrouter",
    ]


def test_ordered_puts_priority_first_and_keeps_the_rest_in_model_order():
    model = CombinedModel.of(["c", "a", "d", "b"])
    assert model.ordered(["d"]).providers == ["d", "c", "a", "b"]
    assert model.ordered(["b", "c"]).providers == ["b", "c", "a", "d"]
    assert model.ordered().providers == ["c", "a", "d", "b"]


def test_ordered_rejects_a_provider_that_does_not_offer_the_model():
    with pytest.raises(UserError, match=r"provider 'anthropc' does not offer model \(did you mean anthropic\?\)"):
        CombinedModel.of(["anthropic", "openrouter"]).ordered(["anthropc"])


def test_member_cost_and_model_id():
    member = Member("openrouter", "openrouter/anthropic/claude-sonnet-4", cost_input=3.0, cost_output=15.0)
    assert member.model_id == "anthropic/claude-sonnet-4"
    assert member.cost_usd(10_000, 1_000) == pytest.approx(0.045)
    assert Member("x", "x/m").cost_usd(10_000, 1_000) == 0.0


def test_a_provider_appears_once():
    with pytest.raises(ValueError, match="appears twice"):
        CombinedModel("m", CombinedModel.of(["a"]).members * 2)


def test_from_table_unknown_id_suggests_close_ids():
    import pandas as pd

    table = pd.DataFrame({"combined_id": ["claude-sonnet-4"], "rank": [0]})
    with pytest.raises(UserError, match="no combined model 'claude-sonet-4'.*did you mean claude-sonnet-4"):
        CombinedModel.from_table(table, "claude-sonet-4")
