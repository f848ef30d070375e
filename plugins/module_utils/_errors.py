# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own exceptions.

module_utils raise these; modules turn them into ``fail_json`` at their edge only.
"""

from __future__ import annotations


class AnantaError(Exception):
    """Base class of every error this collection raises on purpose."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class CatalogError(AnantaError):
    """The service catalog is invalid. ``problems`` lists every problem found."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join("  - %s" % p for p in self.problems)
        super().__init__("the service catalog has %d problem(s):\n%s" % (len(self.problems), lines))


class DependencyError(AnantaError):
    """A third-party library the module needs is missing or unusable."""


class ProbeError(AnantaError):
    """A probe could not be run (as opposed to a probe that ran and said no)."""


class RuntimeAdapterError(AnantaError):
    """The Docker engine or the Kubernetes API could not be asked."""


class MigrationError(AnantaError):
    """A migration could not be applied, or the history does not match the files."""


class TopologyError(AnantaError):
    """RabbitMQ objects could not be ensured."""


class TemporalError(AnantaError):
    """A Temporal namespace could not be ensured."""
