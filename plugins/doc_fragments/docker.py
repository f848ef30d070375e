# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The Docker engine option shared by the modules that talk to it."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description: The Docker engine, as community.docker names it.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
"""
