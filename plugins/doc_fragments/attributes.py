# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The attributes of the collection's modules, one text each: DOCUMENTATION says what each
    attribute means (a module gives its support and, where it has one, its own detail);
    READ_ONLY is the whole of a module that only reads; SNAPSHOT of one that writes a new file
    each run; PROGRESS of one whose action plugin prints the live progress lines."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and report what would change, without changing anything.
  diff_mode:
    description: Reports what changed, or would change, in diff mode (C(--diff)).
  idempotent:
    description: A second run with the same input changes nothing and reports no change.
"""

    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: It only reads, and runs in check mode as it does otherwise.
  diff_mode:
    support: none
    details: It changes nothing, so there is no diff.
  idempotent:
    support: full
    details: It only reads; running it again changes nothing.
"""

    SNAPSHOT = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: It writes a new file; there is nothing to compare.
  idempotent:
    support: none
    details: It writes a new snapshot each run (its name carries the time), reported as changed.
"""

    PROGRESS = r"""
options: {}
attributes:
  action:
    description: Runs with an action plugin on the controller.
    support: full
    details:
      - The action plugin runs the module in the background on the target (as C(async) does) and prints a line as each
        service becomes ready, each step is done, or either fails (seconds since the run began, plane, level, name,
        seconds it took). C(ananta_live_progress=false) turns the lines off.
  async:
    description: Can run with C(async).
    support: full
    details: Supported; the live progress lines are then not printed.
"""
