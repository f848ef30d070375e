# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""start_report on the controller: the timeline is built from results the controller holds
and written there, in-process (no module sent, no interpreter started at the end of a run)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.ananta.platform.plugins.action.catalog_plan import mask
from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _timeline
from ansible_collections.ananta.platform.plugins.modules.start_report import ARGUMENT_SPEC


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=dict(ARGUMENT_SPEC))
        secrets = sorted(_catalog.secret_values(args["services"]), key=len, reverse=True)
        result.update(_timeline.write_report(args["services"], args["results"], args["started_at"], args["path"],
                                             args["step_after"], self._task.check_mode))
        return mask(result, secrets)
