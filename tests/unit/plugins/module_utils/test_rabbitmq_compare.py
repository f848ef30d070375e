"""RabbitMQ definition normalization and comparison."""

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _rabbitmq_compare as cmp
from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError


@pytest.mark.parametrize("value, seconds", [("7D", 604800), ("604800s", 604800), ("168h", 604800), ("1Y", 31536000),
                                            ("90m", 5400), ("1M", 2592000)])
def test_age_seconds(value, seconds):
    assert cmp.age_seconds(value) == seconds


@pytest.mark.parametrize("value", ["7 days", "7d", "", "D7", 7])
def test_age_seconds_rejects(value):
    with pytest.raises(TopologyError):
        cmp.age_seconds(value)


def test_wanted_queue_turns_shortcuts_into_arguments():
    queue = cmp.wanted_queue({"name": "s", "type": "stream", "max_age": "7D", "max_length_bytes": 10,
                              "stream_max_segment_size_bytes": "5"})
    assert queue["arguments"] == {"x-queue-type": "stream", "x-max-age": "7D", "x-max-length-bytes": 10,
                                  "x-stream-max-segment-size-bytes": "5"}
    assert queue["durable"] is True


def test_stream_must_be_durable():
    with pytest.raises(TopologyError, match="must be durable"):
        cmp.wanted_queue({"name": "s", "type": "stream", "durable": False})


def test_equal_after_normalization_has_no_difference():
    wanted = cmp.wanted_queue({"name": "s", "type": "stream", "max_age": "7D", "max_length_bytes": 1000})
    current = {"durable": True, "auto_delete": False, "exclusive": False, "type": "stream",
               "arguments": {"x-queue-type": "stream", "x-max-age": "604800s", "x-max-length-bytes": "1000"}}
    assert cmp.compare("queue", wanted, current) == []


def test_every_difference_is_listed_with_its_policy_hint():
    wanted = cmp.wanted_queue({"name": "s", "type": "stream", "max_age": "1D", "max_length_bytes": 5})
    current = {"durable": True, "type": "stream", "arguments": {"x-queue-type": "stream", "x-max-age": "7D"}}
    diffs = cmp.compare("queue", wanted, current)
    assert diffs == [
        {"argument": "x-max-age", "wanted": "86400s", "current": "604800s", "policy": "max-age"},
        {"argument": "x-max-length-bytes", "wanted": "5", "current": "(not set)", "policy": "max-length-bytes"},
    ]
    text = cmp.describe_conflict("queue", "s", diffs)
    assert "x-max-age: wanted 86400s, current 604800s (a policy can apply it (key max-age))" in text


def test_exchange_type_difference():
    wanted = cmp.wanted_exchange({"name": "bom.events", "type": "fanout"})
    diffs = cmp.compare("exchange", wanted, {"type": "topic", "durable": True, "auto_delete": False, "internal": False,
                                             "arguments": {}})
    assert diffs == [{"argument": "type", "wanted": "'fanout'", "current": "'topic'", "policy": None}]


def test_classic_queue_without_type_argument_matches():
    wanted = cmp.wanted_queue({"name": "q"})
    assert cmp.compare("queue", wanted, {"durable": True, "type": "classic", "arguments": {}}) == []
