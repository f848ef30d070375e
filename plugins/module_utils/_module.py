# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An AnsibleModule that masks its input's secrets in everything it returns."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ananta.platform.plugins.module_utils._mask import secret_values


class MaskingModule(AnsibleModule):
    """Masks every secret of the options named in ``secret_options`` (a catalog, steps: nests of
    mappings whose secret-looking keys and URI passwords are found by ``secret_values``) in
    whatever the module returns, a failure of its own argument validation included: that one
    happens inside the constructor, before the module's code could add them, and its invocation
    (shown at -vvv) would hold the raw input."""

    def __init__(self, *args, secret_options=("services", "steps"), **kwargs):
        self._secret_options = secret_options
        super().__init__(*args, **kwargs)

    def _mask_input(self):
        params = getattr(self, "params", None) or {}
        for key in self._secret_options:
            self.no_log_values.update(secret_values(params.get(key)))

    def fail_json(self, msg, **kwargs):
        self._mask_input()
        super().fail_json(msg, **kwargs)

    def exit_json(self, **kwargs):
        self._mask_input()
        super().exit_json(**kwargs)
