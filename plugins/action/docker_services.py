# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_services with live progress: a start runs for half a minute or more as one task; a
line is printed as each service becomes ready and as each step finishes (with -v, what each
service waits for). The stop runs as any module."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.plugin_utils._live import LiveAction


class ActionModule(LiveAction):
    def wants_live(self, args):
        return args.get("state", "started") == "started"
