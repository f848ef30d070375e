# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options that select services of the catalog, shared by the modules that take them
    (one text, one rule: the catalog's own planes and levels, none named in the code). A module
    takes the fragments of the options it has: PLANES, LEVELS, NAMES."""

    PLANES = r"""
options:
  planes:
    description:
      - Select the services of these planes. The planes are the catalog's (the platform's definition has
        C(shared_temporal), C(control_plane) and C(app_plane); a catalog of one's own may have others).
      - A plane that no service of the catalog belongs to is refused before anything is done, naming it and the
        catalog's planes.
      - Omitted, every plane.
    type: list
    elements: str
"""

    LEVELS = r"""
options:
  levels:
    description: Select the services of these levels (the catalog's, whole numbers from 0). Omitted, every level.
    type: list
    elements: int
"""

    NAMES = r"""
options:
  names:
    description: Select the services with these names. Omitted, every service.
    type: list
    elements: str
"""
