# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wait_healthy with live progress: a line as each service becomes ready (on a cluster, each
workload of the phase waited for), or fails."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.plugin_utils._live import LiveAction


class ActionModule(LiveAction):
    pass
