# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_services with live progress: a start on a cluster runs as one task; a line is printed as
each workload becomes ready and as each step Job is done (or fails). The stop runs as any module."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.plugin_utils._live import LiveAction


class ActionModule(LiveAction):
    def wants_live(self, args):
        return args.get("state", "started") == "started"
