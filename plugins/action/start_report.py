# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""start_report on the controller: the timeline is built from results the controller holds
and written there, in-process (no module sent, no interpreter started at the end of a run)."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.action.catalog_plan import ControllerAction
from ansible_collections.ananta.platform.plugins.module_utils import _timeline
from ansible_collections.ananta.platform.plugins.modules.start_report import ARGUMENT_SPEC


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def compute(self, args):
        return _timeline.write_report(args["services"], args["start"], args["started_at"], args["path"],
                                      args["step_after"], self._task.check_mode)
