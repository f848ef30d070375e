# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The start's graph, apart from the threads that run it (_docker/starter.py): who waits for whom,
the longest chain of dependants behind each service, and the expected critical path.

Pure functions on names (no I/O, no threads), so that unit tests cover them. A start's graph
has the services of the start as nodes, and an edge from a service to each dependant in the
start, and from each service a step comes after to the services gated on that step (a
datastore -> its migrations -> the services whose gates wait for the tables).
"""

from __future__ import annotations


def behind(names, dependants, steps=()):
    """Service -> the services of the start that wait for it, directly or through a step.
    ``names``: the services of the start; ``dependants``: service -> the services that depend
    on it (any, in the start or not); ``steps``: ``(after, gated)`` pairs, the services a step
    comes after and the services whose gates wait for it."""
    names = list(names)
    found = {name: [d for d in dependants.get(name, []) if d in names] for name in names}
    for after, gated in steps:
        for name in after:
            if name in found:
                found[name] = found[name] + list(gated)
    return found


def chain_lengths(graph, expected):
    """For each service, the longest chain of dependants behind it (``graph`` as ``behind``
    gives it), in seconds: each service counts ``expected(name)``, its expected seconds to
    ready, so that with 1 for each this is the chain's length. The graph has no cycle (the
    catalog was validated, and a step only adds edges into a later level)."""
    memo = {}

    def length(name):
        if name not in memo:
            memo[name] = expected(name) + max([length(d) for d in graph[name]] or [0])
        return memo[name]

    return {name: length(name) for name in graph}


def critical(graph, chains, expected, margin_share=0.1):
    """The services on or near the expected critical path: those whose earliest start plus
    the chain behind them is within ``margin_share`` of the whole (at least 1 s)."""
    before = {name: [] for name in graph}
    for name, waiting in graph.items():
        for dependant in waiting:
            before[dependant].append(name)
    earliest = {}

    def start_at(name):
        if name not in earliest:
            earliest[name] = max([start_at(p) + expected(p) for p in before[name]] or [0.0])
        return earliest[name]

    total = max([start_at(name) + chains[name] for name in graph] or [0.0])
    margin = max(1.0, margin_share * total)
    return {name for name in graph if total - start_at(name) - chains[name] <= margin}
