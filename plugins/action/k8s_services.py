# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_services with live progress: a start or a stop on a cluster runs as one task; a line is
printed as each workload becomes ready (or is removed) and as each step Job is done (or fails)."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.plugin_utils._live import LiveAction


class ActionModule(LiveAction):
    pass
