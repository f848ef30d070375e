# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""catalog_plan on the controller: the catalog is data the controller already holds, so the
plan is computed in-process (no module sent to the host, no interpreter started)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.ananta.platform.plugins.module_utils import _mask, _plan
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.modules.catalog_plan import ARGUMENT_SPEC


def mask(value, secrets):
    """The catalog's secret values hidden from what goes to the output, as no_log_values would."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "********")
        return value
    if isinstance(value, list):
        return [mask(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: mask(v, secrets) for k, v in value.items()}
    return value


class ControllerAction(ActionBase):
    """A module of this collection computed in the controller's process: its arguments checked
    against the module's own spec, the catalog's secret values masked in what it returns."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}

    def compute(self, args):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=dict(self.ARGUMENT_SPEC))
        secrets = sorted(_mask.secret_values(args["services"]), key=len, reverse=True)
        result.update(self.compute(args))
        return mask(result, secrets)


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def compute(self, args):
        try:
            return _plan.plan_result(args["services"], args["networks"], args["planes"], args["levels"], args["durations"],
                                     args["sources"])
        except CatalogError as exc:
            return dict(failed=True, msg="Failed to validate the service catalog: %s" % exc.message, problems=exc.problems)
        except AnantaError as exc:  # a selection of a plane the catalog does not have
            return dict(failed=True, msg="Failed to plan: %s" % exc.message)
