"""The start's graph without its threads (_start_graph): who waits for whom, chain lengths,
the expected critical path."""

from ansible_collections.ananta.platform.plugins.module_utils import _start_graph

# db -> api -> web; db -> (migrations step) -> worker (gated on the tables); cache -> api
DEPENDANTS = {"db": ["api"], "cache": ["api"], "api": ["web"], "elsewhere": ["api"]}
NAMES = ["db", "cache", "api", "web", "worker"]
STEPS = [(["db"], ["worker"])]


def test_behind_follows_dependencies_and_steps_within_the_start():
    graph = _start_graph.behind(NAMES, DEPENDANTS, STEPS)
    assert graph == {"db": ["api", "worker"], "cache": ["api"], "api": ["web"], "web": [], "worker": []}
    # a dependant outside the start is no edge
    assert _start_graph.behind(["db", "api"], {"db": ["api", "outside"]}) == {"db": ["api"], "api": []}


def test_chain_lengths_count_the_expected_seconds_or_one_each():
    graph = _start_graph.behind(NAMES, DEPENDANTS, STEPS)
    assert _start_graph.chain_lengths(graph, lambda name: 1.0) == {"db": 3, "cache": 3, "api": 2, "web": 1, "worker": 1}
    seconds = {"db": 5.0, "cache": 1.0, "api": 2.0, "web": 1.0, "worker": 20.0}
    assert _start_graph.chain_lengths(graph, seconds.get)["db"] == 25.0  # db then the step's gated worker


def test_the_critical_path_is_the_chain_that_decides_the_end():
    graph = _start_graph.behind(NAMES, DEPENDANTS, STEPS)
    seconds = {"db": 5.0, "cache": 1.0, "api": 2.0, "web": 1.0, "worker": 20.0}
    chains = _start_graph.chain_lengths(graph, seconds.get)
    assert _start_graph.critical(graph, chains, seconds.get) == {"db", "worker"}
    # with the worker quick, the path goes db -> api -> web (8 s); cache has 4 s of slack
    seconds["worker"] = 1.0
    chains = _start_graph.chain_lengths(graph, seconds.get)
    assert _start_graph.critical(graph, chains, seconds.get) == {"db", "api", "web"}
