"""What provider calls cost, through the real server and the fake provider
(tests/fake_llm/fake_llm.py): a model missing from the price table raises one
PRICE_UNKNOWN alert per provider and model and has its cost recorded as
unknown, never as a silent 0, on the call, the run, usage.recorded and the
metrics; prompt-cache tokens (Anthropic's cache reads and writes, OpenAI's
cached prompt tokens) are recorded apart and priced at their own rates from
pricing.json; totals of hostile token counts stay exact integers held at the
int64 bound.
"""

import json
import pathlib

from runtime_fixtures import fake_llm, rt, start_runtime  # noqa: F401  (fixtures)

PRICING_JSON = pathlib.Path(__file__).resolve().parents[2] / "pricing.json"

INT64_MAX = 2**63 - 1
UNPRICED = "unpriced-model-x"


def events_of(rt, event_type, key):
    """The payloads of the stored events of a type (proto3 JSON, names kept)."""
    out = rt.cli.json("events", "--replay-last", 1000, "--type", event_type)
    return [e[key] | {"run_id": int(e.get("run_id", 0))} for e in out["events"]]


def usage_day(rt, provider, model):
    """The one UsageDaily row of a provider and model (the tests run within a day)."""
    [day] = rt.cli.json("metrics", "usage-daily", "--provider", provider, "--model", model)["days"]
    return day


def test_a_model_without_a_price_raises_one_alert_and_its_cost_is_unknown_not_zero(rt):
    # One run of two calls (a tool turn, then the answer), five runs of one
    # call: seven calls to an Anthropic model the price table does not know.
    rt.fake.script({"anthropic": [{"tool_calls": [{"name": "list_path", "arguments": {"path": "."}}],
                                   "tokens": {"in": 1000, "out": 100}},
                                  {"text": "done", "tokens": {"in": 1200, "out": 50}}]})
    _, first = rt.task_and_run("two turns", "anthropic", "--model", UNPRICED)
    assert rt.wait_run(first)["run_status"] == "succeeded"
    unpriced = [first] + [rt.task_and_run(f"one turn {i}", "anthropic", "--model", UNPRICED)[1] for i in range(5)]
    # The same model name on the other provider is another model: its own alert.
    unpriced.append(rt.task_and_run("openai turn", "openai", "--model", UNPRICED)[1])
    priced = rt.task_and_run("priced turn", "anthropic")[1]  # claude-sonnet-4-5
    for run_id in unpriced + [priced]:
        assert rt.wait_run(run_id)["run_status"] == "succeeded"

    # One alert per provider and model, raised once; every other call only bumped it.
    alerts = {a["dedup_key"]: a for a in rt.rows("SELECT * FROM alerts WHERE code = 'PRICE_UNKNOWN'")}
    assert set(alerts) == {f"PRICE_UNKNOWN:anthropic:{UNPRICED}", f"PRICE_UNKNOWN:openai:{UNPRICED}"}
    anthropic_alert = alerts[f"PRICE_UNKNOWN:anthropic:{UNPRICED}"]
    assert anthropic_alert["status"] == "open"
    assert anthropic_alert["severity"] == "warning"
    assert anthropic_alert["raise_count"] == 7
    assert alerts[f"PRICE_UNKNOWN:openai:{UNPRICED}"]["raise_count"] == 1
    assert UNPRICED in anthropic_alert["title"] and "pricing.json" in anthropic_alert["message"]
    raised = [a for a in events_of(rt, "alert.raised", "alert") if a.get("code") == "PRICE_UNKNOWN"]
    assert len(raised) == 2

    # The calls: cost unknown, no price recorded as if it were one.
    for run_id in unpriced:
        for at in rt.attempts(run_id):
            assert at["cost_unknown"] == 1 and at["token_in"] > 0
            assert at["price_in_usd_micros_per_mtok"] == at["price_out_usd_micros_per_mtok"] == 0
    # The runs: every call counted, no cost added, and GetRun says the cost is unknown.
    assert rt.run_row(first)["unpriced_calls"] == 2
    assert rt.run_row(first)["token_in"] == 2200
    for run_id in unpriced:
        row = rt.run_row(run_id)
        assert row["unpriced_calls"] == len(rt.attempts(run_id)) and row["cost_usd_micros"] == 0
        got = rt.cli.json("run", "get", run_id)
        assert got["run"]["cost_unknown"] is True
        assert all(a["cost_unknown"] is True for a in got["attempts"])
    got = rt.cli.json("run", "get", priced)
    assert "cost_unknown" not in got["run"] and int(got["run"]["cost_usd_micros"]) > 0

    # usage.recorded: one per call, each saying its cost is unknown.
    usage = events_of(rt, "usage.recorded", "usage_recorded")
    mine = [u for u in usage if u["run_id"] in unpriced]
    assert len(mine) == 8
    assert all(u["cost_unknown"] is True and "cost_usd_micros" not in u for u in mine)
    [known] = [u for u in usage if u["run_id"] == priced]
    assert "cost_unknown" not in known and int(known["cost_usd_micros"]) > 0

    # The metrics never show a total that silently leaves calls out.
    day = usage_day(rt, "anthropic", UNPRICED)
    assert (int(day["request_count"]), int(day["unpriced_calls"]), day["cost_unknown"]) == (7, 7, True)
    assert "cost_usd_micros" not in day
    day = usage_day(rt, "anthropic", "claude-sonnet-4-5")
    assert "unpriced_calls" not in day and "cost_unknown" not in day
    summary = rt.cli.json("metrics", "runs-summary", "--project", rt.project_id)
    assert int(summary["total"]) == 8
    assert int(summary["unpriced_calls"]) == 8
    assert int(summary["cost_unknown_runs"]) == 7
    assert summary["cost_unknown"] is True
    assert int(summary["cost_usd_micros"]) == int(rt.run_row(priced)["cost_usd_micros"])


def test_price_unknown_is_resolved_at_start_once_the_table_prices_the_model(rt, tmp_path):
    first = rt.task_and_run("to be priced", "anthropic", "--model", "late-model")[1]
    other = rt.task_and_run("never priced", "anthropic", "--model", "other-model")[1]
    for run_id in (first, other):
        assert rt.wait_run(run_id)["run_status"] == "succeeded"
    assert rt.value("SELECT count(*) FROM alerts WHERE code = 'PRICE_UNKNOWN' AND status = 'open'") == 2

    # The operator adds the model to a table of their own and restarts the server.
    table = json.loads(PRICING_JSON.read_text())
    table["models"]["late-model"] = {"provider": "anthropic", "input": 1.0, "output": 2.0}
    (tmp_path / "pricing.json").write_text(json.dumps(table))
    assert rt.server.stop() == 0, rt.server.log()
    rt.server.env["BEEBEEBRAIN_PRICING"] = str(tmp_path / "pricing.json")
    rt.server.start()

    alerts = {a["dedup_key"]: a["status"] for a in rt.rows("SELECT * FROM alerts WHERE code = 'PRICE_UNKNOWN'")}
    assert alerts == {"PRICE_UNKNOWN:anthropic:late-model": "resolved", "PRICE_UNKNOWN:anthropic:other-model": "open"}
    resolved = [a for a in events_of(rt, "alert.resolved", "alert") if a.get("code") == "PRICE_UNKNOWN"]
    assert [a["dedup_key"] for a in resolved] == ["PRICE_UNKNOWN:anthropic:late-model"]
    # The earlier call keeps its unknown cost; a new one is priced (the fake's 10 tokens in at $1 per million and
    # 3 out at $2: 10 + 6 micro-dollars) and raises nothing.
    assert rt.run_row(first)["unpriced_calls"] == 1
    again = rt.task_and_run("priced now", "anthropic", "--model", "late-model")[1]
    assert rt.wait_run(again)["run_status"] == "succeeded"
    row = rt.run_row(again)
    assert (row["unpriced_calls"], row["cost_usd_micros"]) == (0, 16)
    assert rt.value("SELECT count(*) FROM alerts WHERE code = 'PRICE_UNKNOWN'") == 2


def test_cache_tokens_are_recorded_apart_and_priced_at_their_own_rates(rt):
    # claude-sonnet-4-5: input $3, output $15, cache read $0.30, cache write $3.75 per million.
    # gpt-4o: input $2.50, output $10, cached input $1.25 (part of prompt_tokens).
    rt.fake.script({"anthropic": [{"tokens": {"in": 1000, "out": 500, "cache_read": 200000, "cache_write": 10000}}],
                    "openai": [{"tokens": {"in": 20000, "out": 1000, "cache_read": 80000}}]})
    _, claude = rt.task_and_run("cached anthropic", "anthropic")
    _, gpt = rt.task_and_run("cached openai", "openai")
    for run_id in (claude, gpt):
        assert rt.wait_run(run_id)["run_status"] == "succeeded"

    # 1,000 x 3 + 200,000 x 0.30 + 10,000 x 3.75 + 500 x 15 = 108,000 micro-dollars
    # (at the full input rate it would be 640,500); 20,000 x 2.50 + 80,000 x 1.25
    # + 1,000 x 10 = 160,000 (at the full input rate: 260,000).
    assert rt.run_row(claude)["cost_usd_micros"] == 108000
    assert rt.run_row(gpt)["cost_usd_micros"] == 160000
    [at] = rt.attempts(claude)
    assert (at["token_in"], at["cache_read_tokens"], at["cache_write_tokens"]) == (211000, 200000, 10000)
    assert (at["price_cache_read_usd_micros_per_mtok"], at["price_cache_write_usd_micros_per_mtok"]) == \
        (300000, 3750000)
    assert at["cost_unknown"] == 0
    run = rt.run_row(claude)
    assert (run["token_in"], run["cache_read_tokens"], run["cache_write_tokens"]) == (211000, 200000, 10000)

    [at] = rt.attempts(gpt)
    assert (at["token_in"], at["cache_read_tokens"], at["cache_write_tokens"]) == (100000, 80000, 0)
    assert at["price_cache_read_usd_micros_per_mtok"] == 1250000

    [u] = [u for u in events_of(rt, "usage.recorded", "usage_recorded") if u["run_id"] == claude]
    assert (int(u["token_in"]), int(u["cache_read_tokens"]), int(u["cache_write_tokens"])) == (211000, 200000, 10000)
    assert int(u["cost_usd_micros"]) == 108000
    got = rt.cli.json("run", "get", claude)
    assert int(got["run"]["cache_read_tokens"]) == 200000
    assert int(got["attempts"][0]["cache_write_tokens"]) == 10000

    day = usage_day(rt, "anthropic", "claude-sonnet-4-5")
    assert (int(day["cache_read_tokens"]), int(day["cache_write_tokens"]), int(day["cost_usd_micros"])) == \
        (200000, 10000, 108000)
    day = usage_day(rt, "openai", "gpt-4o")
    assert (int(day["cache_read_tokens"]), int(day["cost_usd_micros"])) == (80000, 160000)
    summary = rt.cli.json("metrics", "runs-summary", "--project", rt.project_id)
    assert (int(summary["cache_read_tokens"]), int(summary["cache_write_tokens"])) == (280000, 10000)
    assert int(summary["cost_usd_micros"]) == 268000
    assert "cost_unknown" not in summary


def test_huge_token_counts_are_held_at_the_int64_bound_and_the_metrics_still_answer(rt):
    # Whatever answers as the provider may send any integer as a count.
    huge = {"input_tokens": INT64_MAX, "output_tokens": INT64_MAX, "cache_read_input_tokens": 5}
    rt.fake.script({"anthropic": [{"usage": huge}, {"usage": huge}]})
    runs = [rt.task_and_run(f"huge {i}", "anthropic")[1] for i in range(2)]
    for run_id in runs:
        assert rt.wait_run(run_id)["run_status"] == "succeeded"
        row = rt.run_row(run_id)
        assert (row["token_in"], row["token_out"], row["cost_usd_micros"]) == (INT64_MAX, INT64_MAX, INT64_MAX)

    # Both calls on one day: the totals stay integers at the bound instead of turning into REALs.
    [day] = rt.rows("SELECT token_in, cost_usd_micros, request_count FROM api_usage_daily")
    assert (day["token_in"], day["cost_usd_micros"], day["request_count"]) == (INT64_MAX, INT64_MAX, 2)
    assert type(day["token_in"]) is int  # a REAL would read back as a float
    # Summing two runs at the bound holds there (SQLite's sum() would fail the query).
    summary = rt.cli.json("metrics", "runs-summary", "--project", rt.project_id)
    assert int(summary["token_in"]) == INT64_MAX
    assert int(summary["cost_usd_micros"]) == INT64_MAX
    assert int(summary["cache_read_tokens"]) == 10
