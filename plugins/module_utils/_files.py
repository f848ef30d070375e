# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the collection writes (the compose file, the Kubernetes phases): written only when
their text changes, readable by their owner only (they hold the catalog's credentials)."""

from __future__ import annotations

import os


def read_text(path):
    """The file's text, or None when there is no file."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def write_if_changed(path, text, check_mode=False, mode=0o600):
    """Write ``text`` to ``path`` unless it holds it already (nothing in check mode). Returns
    (changed, the text before or None)."""
    before = read_text(path)
    if before == text:
        return False, before
    if not check_mode:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        # created with the mode, so that no other user can read it between open and chmod
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, mode)  # an existing file keeps its mode through os.open
    return True, before
